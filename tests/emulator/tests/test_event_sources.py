"""SQS event source mappings: delayed messages delivered once due on the emulator's clock, in
batches, with partial batch failures, visibility timeouts and the dead-letter queue.

Sources: Lambda developer guide, "Using Lambda with Amazon SQS" (the event, batch item failures,
"Lambda deletes the messages ... after the function returns successfully"); SQS API reference,
SendMessage (DelaySeconds 0 to 900) and RedrivePolicy (maxReceiveCount).
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from dataclasses import dataclass, field
from typing import Any

import pytest
from emulator.event_sources import failed_items
from emulator.lambdas import Outcome


@dataclass
class Function:
    """Stands in for the cargo lambda watch that runs a deployed function: answers each batch with
    `answer(event)` and remembers the bodies it was given."""

    answer: Any = None
    batches: list[list[str]] = field(default_factory=list)

    def find(self, account: str, region: str, arn: str) -> Any:
        return self

    def serves(self, fn: Any) -> bool:
        return True

    def run(self, fn: Any, payload: bytes) -> Outcome:
        event = json.loads(payload)
        self.batches.append([r["body"] for r in event["Records"]])
        self.last_event = event
        return self.answer(event) if self.answer else Outcome(200, b"null")

    function_name = "checker"


def zipped() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("bootstrap", "#!/bin/sh\n")
    return buffer.getvalue()


@pytest.fixture
def mapped(aws, emulator):
    """A queue (visibility 30 s, to a dead-letter queue after 2 receives) mapped to a function
    the test plays, with ReportBatchItemFailures."""
    sqs, lam, iam = aws("sqs"), aws("lambda"), aws("iam")
    dlq = sqs.create_queue(QueueName="rechecks-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(
        QueueName="rechecks",
        Attributes={
            "VisibilityTimeout": "30",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}),
        },
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    role = iam.create_role(RoleName="checker", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lam.create_function(
        FunctionName="checker", Runtime="provided.al2023", Role=role, Handler="bootstrap", Code={"ZipFile": zipped()}
    )
    lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName="checker", BatchSize=10, FunctionResponseTypes=["ReportBatchItemFailures"]
    )
    function = Function()
    sources = emulator.world.event_sources
    real, sources.lambdas = sources.lambdas, function
    try:
        yield sqs, url, dlq, function
    finally:
        sources.lambdas = real


def wait_for_deliveries(control, count: int) -> list[dict[str, Any]]:
    deadline = time.time() + 10
    while time.time() < deadline:
        done = control.get("/lambda/event-source-deliveries")
        if len(done) >= count:
            return done
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} deliveries")


def left(sqs, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_a_delayed_message_is_delivered_once_its_delay_has_passed_on_the_emulators_clock(mapped, control):
    sqs, url, _, function = mapped
    sqs.send_message(QueueUrl=url, MessageBody="look again", DelaySeconds=120)
    control.advance(119)
    time.sleep(0.3)
    assert function.batches == [], "not before its delay"
    control.advance(1.5)
    [delivery] = wait_for_deliveries(control, 1)
    assert function.batches == [["look again"]]
    assert delivery["failed"] == [] and delivery["functionError"] is None
    record = function.last_event["Records"][0]
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"].endswith(":rechecks")
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert left(sqs, url) == 0, "a successful batch is deleted"


def test_moto_does_not_deliver_inside_send_message(mapped, control):
    sqs, url, _, function = mapped
    sqs.send_message(QueueUrl=url, MessageBody="now")
    assert function.batches == [], "delivered by the poller on the next tick, not by SendMessage"
    control.advance(0.5)
    wait_for_deliveries(control, 1)
    assert function.batches == [["now"]]


def test_only_the_messages_a_batch_reports_failed_come_back_after_the_visibility_timeout(mapped, control):
    sqs, url, dlq, function = mapped

    def fail_the_second(event: dict[str, Any]) -> Outcome:
        failed = [{"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] == "b"]
        return Outcome(200, json.dumps({"batchItemFailures": failed}).encode())

    function.answer = fail_the_second
    # One request: the emulator polls on every request, as Lambda's pollers would meanwhile.
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": body, "MessageBody": body} for body in ("a", "b", "c")])
    control.advance(0.5)
    wait_for_deliveries(control, 1)
    assert sorted(function.batches[0]) == ["a", "b", "c"]
    assert left(sqs, url) == 1
    control.advance(29)
    time.sleep(0.3)
    assert len(function.batches) == 1, "invisible until the visibility timeout ends"
    control.advance(1.5)
    wait_for_deliveries(control, 2)
    assert function.batches[1] == ["b"]
    assert function.last_event["Records"][0]["attributes"]["ApproximateReceiveCount"] == "2"
    # The second receive was the last (maxReceiveCount 2): the next goes to the dead-letter queue.
    control.advance(31)
    time.sleep(0.3)
    assert len(function.batches) == 2
    moved = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", [])
    assert [m["Body"] for m in moved] == ["b"]


def test_a_function_error_keeps_the_whole_batch(mapped, control):
    sqs, url, _, function = mapped
    function.answer = lambda event: Outcome(200, b'{"errorType":"Unhandled"}', "Unhandled")
    sqs.send_message(QueueUrl=url, MessageBody="x")
    control.advance(0.5)
    [delivery] = wait_for_deliveries(control, 1)
    assert delivery["failed"] == [delivery["messages"][0]] and delivery["functionError"] == "Unhandled"
    assert left(sqs, url) == 1


def test_a_queue_whose_visibility_timeout_is_below_the_functions_timeout_is_refused(aws):
    sqs, lam = aws("sqs"), aws("lambda")
    url = sqs.create_queue(QueueName="short", Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    role = aws("iam").create_role(RoleName="slow", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lam.create_function(
        FunctionName="slow",
        Runtime="provided.al2023",
        Role=role,
        Handler="bootstrap",
        Code={"ZipFile": zipped()},
        Timeout=60,
    )
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as refused:
        lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="slow")
    assert "Queue visibility timeout: 30 seconds is less than Function timeout: 60 seconds" in str(refused.value)


@pytest.mark.parametrize(
    ("answer", "failed"),
    [
        (b"null", set()),
        (b"{}", set()),
        (b'{"batchItemFailures": []}', set()),
        (b'{"batchItemFailures": [{"itemIdentifier": "m2"}]}', {"m2"}),
        (b'{"batchItemFailures": [{"itemIdentifier": "unknown"}]}', {"m1", "m2"}),
        (b'{"batchItemFailures": "m2"}', {"m1", "m2"}),
        (b"not json", {"m1", "m2"}),
    ],
)
def test_a_batch_answer_is_read_as_lambda_reads_it(answer, failed):
    assert failed_items(answer, ["m1", "m2"]) == failed
