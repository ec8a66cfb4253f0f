"""Lambda's event source mappings for SQS queues: the queue polled on the emulator's clock, its
messages delivered in batches to the deployed function, as Lambda's pollers do.

moto delivers a message to a mapped function inside SendMessage itself, synchronously, with
no regard for `DelaySeconds` or visibility, through its own Docker-based invoke. Here the
mapping is taken off the queue (so moto's path never runs) and polled instead:

- a message is delivered once its delay has passed, in a batch of up to `BatchSize` (the
  receive makes it invisible for the queue's visibility timeout and counts the receive, so a
  redrive policy moves it to the dead-letter queue after `maxReceiveCount` receives);
- a successful invocation deletes the batch; with `FunctionResponseTypes: [ReportBatchItemFailures]`
  only the messages not named in `batchItemFailures` are deleted (an answer that is not such a
  document fails the whole batch, as Lambda treats it); a function error deletes none;
- messages left undeleted come back after the visibility timeout.

As AWS does, a mapping is refused when the queue's visibility timeout is below the function's
timeout. SQS's time (delays, visibility timeouts, retention) follows the emulator's clock, so a test that
advances the clock sees a delayed message become due, as it would after that long on AWS.
Lambda's pollers deliver within about a second of a message becoming visible; the emulator
looks every tick (0.25 s when it runs in real time).
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any

import moto.sqs.models as sqs_models
from moto.awslambda.exceptions import InvalidParameterValueException
from moto.awslambda.models import LambdaBackend, lambda_backends
from moto.sqs.models import sqs_backends

from .lambdas import LambdaHost

if TYPE_CHECKING:
    from .clock import Clock


def follow_clock(clock: Clock) -> None:
    """SQS's notion of now is the emulator's."""
    sqs_models.unix_time = clock.now  # type: ignore[attr-defined]
    sqs_models.unix_time_millis = lambda: clock.now() * 1000  # type: ignore[attr-defined]


def _take_off_the_queue(original: Any) -> Any:
    def create(self: LambdaBackend, spec: dict[str, Any]) -> Any:
        source = str(spec.get("EventSourceArn", ""))
        queue = next(
            (q for q in sqs_backends[self.account_id][self.region_name].queues.values() if q.queue_arn == source), None
        )
        fn = self._lambdas.get_function_by_name_or_arn_with_qualifier(spec.get("FunctionName", ""))
        if queue is not None and int(queue.visibility_timeout) < int(fn.timeout):
            raise InvalidParameterValueException(
                f"Queue visibility timeout: {int(queue.visibility_timeout)} seconds is less than Function timeout: {int(fn.timeout)} seconds"
            )
        esm = original(self, spec)
        if queue is not None:
            queue.lambda_event_source_mappings.pop(esm.function_arn, None)
        return esm

    return create


def install() -> None:
    LambdaBackend.create_event_source_mapping = _take_off_the_queue(LambdaBackend.create_event_source_mapping)  # type: ignore[method-assign]


def sqs_event(messages: list[Any], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda sends for a batch of SQS messages (Lambda developer guide, "Using Lambda
    with Amazon SQS")."""
    return {
        "Records": [
            {
                "messageId": m.id,
                "receiptHandle": m.receipt_handle,
                "body": m.body,
                "attributes": {
                    "ApproximateReceiveCount": str(m.approximate_receive_count),
                    "SentTimestamp": str(int(m.sent_timestamp)),
                    "SenderId": "AIDAEMULATOR",
                    "ApproximateFirstReceiveTimestamp": str(int(m.approximate_first_receive_timestamp or 0)),
                },
                "messageAttributes": {},
                "md5OfBody": m.body_md5,
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


def failed_items(response: bytes, message_ids: list[str]) -> set[str]:
    """The messages a ReportBatchItemFailures answer names as failed: all of them when the answer
    is not such a document or names a message not in the batch."""
    try:
        answer = json.loads(response or b"null")
    except ValueError:
        return set(message_ids)
    if answer is None or answer == {}:
        return set()
    failures = answer.get("batchItemFailures") if isinstance(answer, dict) else None
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return set(message_ids)
    named = {f.get("itemIdentifier") for f in failures if isinstance(f, dict)}
    if len(named) != len(failures) or not named <= set(message_ids):
        return set(message_ids)
    return {str(n) for n in named}


class EventSources:
    def __init__(self, lambdas: LambdaHost) -> None:
        self.lambdas = lambdas
        self._busy: set[str] = set()
        self._lock = threading.Lock()
        # What each delivery did, for tests: mapping, message ids, failed ids, function error.
        self.deliveries: list[dict[str, Any]] = []

    def reset(self) -> None:
        with self._lock:
            self._busy.clear()
            self.deliveries.clear()

    def tick(self) -> None:
        for account, regions in lambda_backends.items():
            for region, backend in regions.items():
                for esm in list(backend._event_source_mappings.values()):
                    if esm.enabled and esm.event_source_arn.split(":")[2] == "sqs":
                        self._poll(account, region, esm)

    def _poll(self, account: str, region: str, esm: Any) -> None:
        """One batch at a time per mapping: a batch in flight is invisible anyway."""
        with self._lock:
            if esm.uuid in self._busy:
                return
        fn = self.lambdas.find(account, region, esm.function_arn)
        if not self.lambdas.serves(fn):
            return
        backend = sqs_backends[account][region]
        queue = next((q for q in backend.queues.values() if q.queue_arn == esm.event_source_arn), None)
        if queue is None:
            return
        messages = backend.receive_message(queue.name, esm.batch_size, 0, int(queue.visibility_timeout))
        if not messages:
            return
        with self._lock:
            self._busy.add(esm.uuid)
        threading.Thread(target=self._deliver, args=(esm, fn, queue, messages, region), daemon=True).start()

    def _deliver(self, esm: Any, fn: Any, queue: Any, messages: list[Any], region: str) -> None:
        try:
            payload = json.dumps(sqs_event(messages, queue.queue_arn, region)).encode()
            outcome = self.lambdas.run(fn, payload)
            ids = [m.id for m in messages]
            if outcome.function_error:
                failed = set(ids)
            elif "ReportBatchItemFailures" in (esm.function_response_types or []):
                failed = failed_items(outcome.payload, ids)
            else:
                failed = set()
            backend = sqs_backends[esm.account_id][esm.region]
            for message in messages:
                if message.id not in failed:
                    backend.delete_message(queue.name, message.receipt_handle)
            self.deliveries.append(
                {
                    "mapping": esm.uuid,
                    "function": fn.function_name,
                    "messages": ids,
                    "failed": sorted(failed),
                    "functionError": outcome.function_error,
                }
            )
        finally:
            with self._lock:
                self._busy.discard(esm.uuid)
