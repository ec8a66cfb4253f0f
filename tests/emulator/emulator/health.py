"""Health inputs a test can set, read by moto's own EC2 and ELBv2 responses.

moto answers "ok" / "healthy" for everything; that stays the default. Overrides are patched
onto moto's Instance (DescribeInstanceStatus) and target group (DescribeTargetHealth).

EC2 is eventually consistent: right after RunInstances, DescribeInstanceStatus may answer
`InvalidInstanceID.NotFound` for the new id. Tests can ask for that window
(`visibility_delay`); it applies to instances the emulator launches (refreshes).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from moto.ec2.exceptions import InvalidInstanceIdError
from moto.ec2.models.instances import Instance, InstanceBackend
from moto.elbv2.models import FakeHealthStatus, FakeTargetGroup

INSTANCE_STATUSES = {
    "ok": "passed",
    "impaired": "failed",
    "initializing": "initializing",
    "insufficient-data": "insufficient-data",
}
TARGET_STATES = {
    "initial": ("Elb.InitialHealthChecking", "Initial health checks in progress"),
    "healthy": (None, None),
    "unhealthy": ("Target.FailedHealthChecks", "Health checks failed"),
    "draining": ("Target.DeregistrationInProgress", "Target deregistration is in progress"),
    "unused": ("Target.NotRegistered", "Target is not registered to the target group"),
    "unavailable": ("Target.HealthCheckDisabled", "Health checks are disabled"),
}

instance_status: dict[str, str] = {}
system_status: dict[str, str] = {}
# Until when (emulator clock) an instance's status override holds; absent: for good.
status_until: dict[str, float] = {}
target_health: dict[tuple[str, str], tuple[str, str | None, str | None]] = {}
launched_at: dict[str, float] = {}
visibility: dict[str, float] = {"delay": 0.0}
# The emulator's clock; the world installs its own.
now: Callable[[], float] = time.time

_original_instance_status = Instance.instance_status
_original_system_status = Instance.system_status
_original_health_for = FakeTargetGroup.health_for
_original_describe_instance_status = InstanceBackend.describe_instance_status


def reset() -> None:
    instance_status.clear()
    system_status.clear()
    status_until.clear()
    target_health.clear()
    launched_at.clear()
    visibility["delay"] = 0.0


def set_instance(instance_id: str, status: str, system: str | None = None, for_seconds: float | None = None) -> None:
    for value in (status, system):
        if value is not None and value not in INSTANCE_STATUSES:
            raise ValueError(f"status must be one of {sorted(INSTANCE_STATUSES)}")
    instance_status[instance_id] = status
    system_status[instance_id] = system or ("ok" if status == "impaired" else status)
    if for_seconds is None:
        status_until.pop(instance_id, None)
    else:
        status_until[instance_id] = now() + float(for_seconds)


def set_visibility_delay(seconds: float) -> None:
    if seconds < 0:
        raise ValueError("delaySeconds must be 0 or more")
    visibility["delay"] = float(seconds)


def note_launch(instance_id: str) -> None:
    launched_at[instance_id] = now()


def _visible(instance_id: str) -> bool:
    started = launched_at.get(instance_id)
    return started is None or now() - started >= visibility["delay"]


def _describe_instance_status(
    self: InstanceBackend, instance_ids: list[str], include_all_instances: bool, filters: Any
) -> list[Instance]:
    hidden = [i for i in instance_ids if not _visible(i)]
    if hidden:
        raise InvalidInstanceIdError(hidden)
    found = _original_describe_instance_status(self, instance_ids, include_all_instances, filters)
    return [i for i in found if _visible(i.id)]


def set_target(target_group_arn: str, instance_id: str, state: str, reason: str | None = None) -> None:
    if state not in TARGET_STATES:
        raise ValueError(f"state must be one of {sorted(TARGET_STATES)}")
    default_reason, description = TARGET_STATES[state]
    target_health[(target_group_arn, instance_id)] = (state, reason or default_reason, description)


def _status(table: dict[str, str], original: Any) -> property:
    def getter(self: Instance) -> dict[str, Any]:
        override = table.get(self.id)
        expired = self.id in status_until and now() >= status_until[self.id]
        if override is None or expired or self.state_code != 16:
            return original.fget(self)
        return {"Status": override, "Details": [{"Name": "reachability", "Status": INSTANCE_STATUSES[override]}]}

    return property(getter)


def _health_for(self: FakeTargetGroup, target: dict[str, Any], ec2_backend: Any) -> FakeHealthStatus:
    override = target_health.get((self.arn, target["Id"]))
    if override is None:
        return _original_health_for(self, target, ec2_backend)
    state, reason, description = override
    return FakeHealthStatus(
        target["Id"], target.get("Port", self.port), self.health_check_port, state, reason, description
    )


def install() -> None:
    Instance.instance_status = _status(instance_status, _original_instance_status)
    Instance.system_status = _status(system_status, _original_system_status)
    FakeTargetGroup.health_for = _health_for
    InstanceBackend.describe_instance_status = _describe_instance_status
