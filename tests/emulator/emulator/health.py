"""Health inputs a test can set, read by moto's own EC2 and ELBv2 responses.

moto answers "ok" / "healthy" for everything; that stays the default. Overrides are patched
onto moto's Instance (DescribeInstanceStatus) and target group (DescribeTargetHealth).
"""

from __future__ import annotations

from typing import Any

from moto.ec2.models.instances import Instance
from moto.elbv2.models import FakeHealthStatus, FakeTargetGroup

INSTANCE_STATUSES = {"ok": "passed", "impaired": "failed", "initializing": "initializing",
                     "insufficient-data": "insufficient-data"}
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
target_health: dict[tuple[str, str], tuple[str, str | None, str | None]] = {}

_original_instance_status = Instance.instance_status
_original_system_status = Instance.system_status
_original_health_for = FakeTargetGroup.health_for


def reset() -> None:
    instance_status.clear()
    system_status.clear()
    target_health.clear()


def set_instance(instance_id: str, status: str, system: str | None = None) -> None:
    for value in (status, system):
        if value is not None and value not in INSTANCE_STATUSES:
            raise ValueError(f"status must be one of {sorted(INSTANCE_STATUSES)}")
    instance_status[instance_id] = status
    system_status[instance_id] = system or ("ok" if status == "impaired" else status)


def set_target(target_group_arn: str, instance_id: str, state: str, reason: str | None = None) -> None:
    if state not in TARGET_STATES:
        raise ValueError(f"state must be one of {sorted(TARGET_STATES)}")
    default_reason, description = TARGET_STATES[state]
    target_health[(target_group_arn, instance_id)] = (state, reason or default_reason, description)


def _status(table: dict[str, str], original: Any) -> property:
    def getter(self: Instance) -> dict[str, Any]:
        override = table.get(self.id)
        if override is None or self.state_code != 16:
            return original.fget(self)
        return {"Status": override, "Details": [{"Name": "reachability", "Status": INSTANCE_STATUSES[override]}]}
    return property(getter)


def _health_for(self: FakeTargetGroup, target: dict[str, Any], ec2_backend: Any) -> FakeHealthStatus:
    override = target_health.get((self.arn, target["Id"]))
    if override is None:
        return _original_health_for(self, target, ec2_backend)
    state, reason, description = override
    return FakeHealthStatus(target["Id"], target.get("Port", self.port), self.health_check_port, state, reason, description)


def install() -> None:
    Instance.instance_status = _status(instance_status, _original_instance_status)
    Instance.system_status = _status(system_status, _original_system_status)
    FakeTargetGroup.health_for = _health_for
