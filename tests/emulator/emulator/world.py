"""Everything the emulator adds to moto, behind one lock, moved by one clock."""

from __future__ import annotations

import re
import threading
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from moto.moto_api import _internal as moto_api

from . import cloudformation, ec2_patches, event_sources, health
from .autoscaling import ACTIVE, AutoScaling
from .boot import Boot
from .clock import Clock
from .cloudwatch_cbor import CloudWatch
from .codepipeline import CodePipeline
from .event_sources import EventSources
from .events import DeliveryError, EventBus, allows_rule
from .faults import Faults
from .lambdas import LambdaHost
from .pipelines import Pipelines
from .sns import Sns


class World:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.clock = Clock()
        health.now = self.clock.now
        self.events = EventBus()
        self.faults = Faults()
        self.autoscaling = AutoScaling(self)
        self.codepipeline = CodePipeline(self)
        self.pipelines = Pipelines(self)
        self.sns = Sns(self)
        self.cloudwatch = CloudWatch(self)
        self.lambdas = LambdaHost()
        self.event_sources = EventSources(self.lambdas)
        event_sources.follow_clock(self.clock)
        self.boot = Boot(self)
        self.events.invoke_lambda = self.invoke_for_rule
        self.events.world_lock = self.lock
        self.abandoned: dict[str, str] = {}
        # AWS calls answered, by caller (the access key id) and "service:Operation" (the local run's summary).
        self.calls: defaultdict[str, Counter[str]] = defaultdict(Counter)
        # AWS requests being answered now (a latency fault holds one): a test waits for none
        # before it resets, so a late request never lands in the next test's world.
        self.in_flight = 0
        self._in_flight_lock = threading.Lock()

    def reset(self) -> None:
        with self.lock:
            moto_api.moto_api_backend.reset()
            self.clock.reset()
            self.events.reset()
            self.faults.reset()
            self.autoscaling.reset()
            self.codepipeline.reset()
            self.pipelines.reset()
            self.boot.reset()
            self.sns.reset()
            self.cloudwatch.reset()
            self.abandoned.clear()
            self.calls.clear()
            ec2_patches.reset()
            cloudformation.reset()
            self.lambdas.stop()
            self.lambdas.invocations.clear()
            self.event_sources.reset()
            health.reset()

    def tick(self) -> None:
        with self.lock:
            self.autoscaling.tick()
            self.codepipeline.tick()
            self.pipelines.tick()
            self.event_sources.tick()

    def advance(self, seconds: float) -> None:
        """Moves the clock in steps of at most 1 s so every timer fires in order."""
        with self.lock:
            remaining = seconds
            while remaining > 0:
                step = min(1.0, remaining)
                self.clock.advance(step)
                remaining -= step
                self.tick()

    def settle(self, max_seconds: float) -> dict[str, Any]:
        """Advances until no refresh can move without outside help (a lifecycle action to
        complete), every refresh is finished, or max_seconds have passed."""
        with self.lock:
            waited = 0.0
            while waited < max_seconds:
                active = [r for r in self.autoscaling.refreshes if r.status in ACTIVE]
                if not active:
                    break
                waiting_on_hooks = [a for a in self.autoscaling.actions if a.result is None]
                if waiting_on_hooks and all(self._blocked(r) for r in active):
                    break
                self.advance(1.0)
                waited += 1.0
            return {"waitedSeconds": waited}

    def _blocked(self, refresh: Any) -> bool:
        current = refresh.rollback or refresh.forward
        pending = {a.instance_id for a in self.autoscaling.actions if a.result is None}
        return bool(current and set(current.batch_new) & pending and refresh.checkpoint_until is None)

    def invoke_for_rule(self, account: str, region: str, function_arn: str, rule_arn: str, payload: bytes) -> None:
        """EventBridge's asynchronous invocation of a rule's Lambda target."""
        with self.lock:
            fn = self.lambdas.find(account, region, function_arn)
            if fn is None:
                raise DeliveryError("RESOURCE_NOT_FOUND", f"Function not found: {function_arn}")
            if not allows_rule(fn.policy.statements, rule_arn):
                raise DeliveryError(
                    "NO_PERMISSIONS",
                    f"EventBridge is not allowed to invoke {function_arn} for {rule_arn}: no resource policy statement lets events.amazonaws.com in",
                )
        if not self.lambdas.serves(fn):
            raise DeliveryError(
                "SDK_CLIENT_ERROR",
                f"the emulator cannot run {function_arn}: no binary declared, or no --functions workspace",
            )
        self.lambdas.invoke_async(fn, payload)

    @contextmanager
    def serving(self) -> Iterator[None]:
        with self._in_flight_lock:
            self.in_flight += 1
        try:
            yield
        finally:
            with self._in_flight_lock:
                self.in_flight -= 1

    def count_call(self, headers: dict[str, str], operation: str) -> None:
        found = re.search(r"Credential=([^/]+)/", headers.get("authorization", ""))
        self.calls[found.group(1) if found else "unsigned"][operation] += 1

    def note_abandoned(self, instance_id: str, hook: str) -> None:
        self.abandoned[instance_id] = hook

    def abandon_reason(self, instance_id: str) -> str:
        hook = self.abandoned.get(instance_id)
        if hook:
            # Inferred text: AWS reports the launch failure in the refresh's status reason.
            return f"Instance {instance_id} failed to launch: lifecycle hook {hook} completed with ABANDON."
        return f"Instance {instance_id} was terminated before it became InService."
