"""Events the emulator emits (EventBridge shape), kept in order and delivered by rules."""

from __future__ import annotations

import json
import threading
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any

from .protocol import iso


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
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self.events.clear()
            self.rules.clear()

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
        return event

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
