"""Events the emulator emits (EventBridge shape), kept in order and delivered: to the control
API's URL rules (`POST /_emulator/rules`), and to the targets of the EventBridge rules on the
default bus (deployed by a stack or made with PutRule / PutTargets), matched with EventBridge's
pattern semantics (moto's EventPattern: exact values, prefix, suffix, anything-but, exists,
numeric, equals-ignore-case) and delivered with the target's RetryPolicy and dead-letter queue."""

from __future__ import annotations

import fnmatch
import json
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from moto.events.models import events_backends
from moto.sqs.models import sqs_backends

from .protocol import iso

# EventBridge retries with exponential back-off and jitter over up to 24 hours; the emulator
# retries every RETRY_DELAY_SECONDS, so a dead-lettered event is seen in seconds.
RETRY_DELAY_SECONDS = 0.2


class DeliveryError(Exception):
    """Why a target did not take an event: EventBridge's dead-letter ERROR_CODE and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Rule:
    """Deliver events matching ``detail_type`` (and ``source`` when set) to ``url`` with a POST."""

    url: str
    detail_type: str | None = None
    source: str | None = None
    deliveries: list[dict[str, Any]] = field(default_factory=list)

    def matches(self, event: dict[str, Any]) -> bool:
        return (self.detail_type in (None, event["detail-type"])) and (self.source in (None, event["source"]))


class EventBus:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.rules: list[Rule] = []
        self.deliveries: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        # (account, region, function ARN, rule ARN, event JSON) → None once Lambda accepted the
        # asynchronous invocation; raises DeliveryError otherwise. Set by the World.
        self.invoke_lambda: Callable[[str, str, str, str, bytes], None] | None = None
        self.world_lock: Any = threading.RLock()

    def reset(self) -> None:
        with self._lock:
            self.events.clear()
            self.rules.clear()
            self.deliveries.clear()

    def emit(
        self,
        detail_type: str,
        source: str,
        detail: dict[str, Any],
        *,
        account: str,
        region: str,
        now: float,
        resources: list[str] | None = None,
    ) -> dict[str, Any]:
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": detail_type,
            "source": source,
            "account": account,
            "time": iso(now)[:-5] + "Z",
            "region": region,
            "resources": resources or [],
            "detail": detail,
        }
        with self._lock:
            self.events.append(event)
            rules = [r for r in self.rules if r.matches(event)]
        for rule in rules:
            # Off the request thread: the target usually calls back into the emulator.
            threading.Thread(target=self._deliver, args=(rule, event), daemon=True).start()
        for rule_arn, target in self.matching_targets(event):
            threading.Thread(target=self._deliver_to_target, args=(rule_arn, target, event), daemon=True).start()
        return event

    @staticmethod
    def matching_targets(event: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        bus = events_backends[event["account"]][event["region"]].event_buses.get("default")
        found = []
        for rule in list(bus.rules.values()) if bus else []:
            if rule.state != "ENABLED" or not rule.event_pattern.get_pattern():
                continue
            if rule.event_pattern.matches_event(event):
                found.extend((rule.arn, dict(target)) for target in rule.targets)
        return found

    def _deliver_to_target(self, rule_arn: str, target: dict[str, Any], event: dict[str, Any]) -> None:
        policy = target.get("RetryPolicy") or {}
        max_attempts = int(policy.get("MaximumRetryAttempts", 185)) + 1
        max_age = float(policy.get("MaximumEventAgeInSeconds", 86400))
        payload = json.dumps(json.loads(target["Input"]) if "Input" in target else event).encode()
        record: dict[str, Any] = {"eventId": event["id"], "rule": rule_arn, "target": target["Arn"], "attempts": 0}
        started = time.time()
        error = DeliveryError("", "")
        exhausted = "MaximumRetryAttempts"
        while record["attempts"] < max_attempts:
            if time.time() - started > max_age:
                exhausted = "MaximumEventAgeInSeconds"
                break
            record["attempts"] += 1
            try:
                self._send(event, rule_arn, target["Arn"], payload)
                record["status"] = "delivered"
                self.deliveries.append(record)
                return
            except DeliveryError as err:
                error = err
            time.sleep(RETRY_DELAY_SECONDS)
        record.update(status="failed", errorCode=error.code, errorMessage=str(error))
        dead_letter = (target.get("DeadLetterConfig") or {}).get("Arn")
        if dead_letter:
            attributes = {
                "RULE_ARN": rule_arn,
                "TARGET_ARN": target["Arn"],
                "ERROR_CODE": error.code,
                "ERROR_MESSAGE": str(error),
                "EXHAUSTED_RETRY_CONDITION": exhausted,
                "RETRY_ATTEMPTS": str(record["attempts"] - 1),
            }
            parts = dead_letter.split(":")
            with self.world_lock:
                sqs_backends[parts[4]][parts[3]].send_message(
                    parts[5],
                    json.dumps(event),
                    message_attributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
                )
            record["status"] = "dead-lettered"
        self.deliveries.append(record)

    def _send(self, event: dict[str, Any], rule_arn: str, target_arn: str, payload: bytes) -> None:
        service = target_arn.split(":")[2]
        if service == "lambda":
            if self.invoke_lambda is None:
                raise DeliveryError("SDK_CLIENT_ERROR", "the emulator runs no functions")
            self.invoke_lambda(event["account"], event["region"], target_arn, rule_arn, payload)
            return
        if service == "sqs":
            parts = target_arn.split(":")
            with self.world_lock:
                queues = sqs_backends[parts[4]][parts[3]]
                if parts[5] not in queues.queues:
                    raise DeliveryError("RESOURCE_NOT_FOUND", f"Queue {target_arn} does not exist")
                queues.send_message(parts[5], payload.decode())
            return
        raise DeliveryError("SDK_CLIENT_ERROR", f"the emulator does not deliver to {service} targets")

    def add_rule(self, rule: Rule) -> None:
        with self._lock:
            self.rules.append(rule)

    @staticmethod
    def _deliver(rule: Rule, event: dict[str, Any]) -> None:
        record: dict[str, Any] = {"eventId": event["id"]}
        try:
            request = urllib.request.Request(
                rule.url,
                data=json.dumps(event).encode(),
                method="POST",
                headers={"Content-Type": "application/json", "X-Amz-Invocation-Type": "Event"},
            )
            with urllib.request.urlopen(request, timeout=900) as response:
                record.update(status=response.status, body=response.read().decode("utf-8", "replace")[:2000])
        except Exception as exc:  # delivery is best effort, as in EventBridge; the record says why
            record.update(status=None, error=str(exc))
        rule.deliveries.append(record)


def allows_rule(policy_statements: list[dict[str, Any]], rule_arn: str) -> bool:
    """Whether a function's resource policy lets EventBridge invoke it for this rule (the
    AWS::Lambda::Permission SAM writes for every EventBridgeRule event)."""
    for statement in policy_statements:
        principal = json.dumps(statement.get("Principal", ""))
        if statement.get("Effect", "Allow") != "Allow" or "events.amazonaws.com" not in principal:
            continue
        source = [
            v for c in (statement.get("Condition") or {}).values() for k, v in c.items() if k.lower() == "aws:sourcearn"
        ]
        if not source or any(fnmatch.fnmatchcase(rule_arn, v) for v in source):
            return True
    return False
