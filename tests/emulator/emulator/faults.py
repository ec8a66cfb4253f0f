"""Fault injection per service and operation: throttling, 5xx, latency; N times or by chance."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Any

from .protocol import AwsError

THROTTLING_CODE = {"codepipeline": "ThrottlingException", "ec2": "RequestLimitExceeded"}


@dataclass
class Fault:
    service: str
    operation: str | None  # None: every operation of the service
    kind: str  # throttle | error | latency
    count: int | None = None  # None: unlimited
    probability: float = 1.0
    status: int = 500
    latency_ms: int = 0
    hits: int = 0

    def applies(self, service: str | None, operation: str | None) -> bool:
        if self.service != service or (self.operation not in (None, operation)):
            return False
        if self.count is not None and self.hits >= self.count:
            return False
        return random.random() < self.probability

    def describe(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Faults:
    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self.faults.clear()

    def add(self, spec: dict[str, Any]) -> Fault:
        kind = spec.get("kind")
        if kind not in ("throttle", "error", "latency"):
            raise ValueError("kind must be throttle, error or latency")
        if not spec.get("service"):
            raise ValueError("service is required (the SigV4 signing name, e.g. autoscaling)")
        fault = Fault(
            service=spec["service"],
            operation=spec.get("operation"),
            kind=kind,
            count=spec.get("count"),
            probability=float(spec.get("probability", 1.0)),
            status=int(spec.get("status", 500)),
            latency_ms=int(spec.get("latencyMs", 0)),
        )
        with self._lock:
            self.faults.append(fault)
        return fault

    def check(self, service: str | None, operation: str | None) -> tuple[float, AwsError | None]:
        """Returns (seconds to delay, error to answer instead) for this request."""
        delay, error = 0.0, None
        with self._lock:
            for fault in self.faults:
                if not fault.applies(service, operation):
                    continue
                fault.hits += 1
                if fault.kind == "latency":
                    delay += fault.latency_ms / 1000
                elif error is None and fault.kind == "throttle":
                    error = AwsError(THROTTLING_CODE.get(service or "", "Throttling"), "Rate exceeded", 400)
                elif error is None:
                    code = "ServiceUnavailable" if fault.status == 503 else "InternalFailure"
                    error = AwsError(code, "injected server error", fault.status, sender=False)
        return delay, error
