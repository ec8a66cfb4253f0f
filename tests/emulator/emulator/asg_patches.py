"""Auto Scaling group details moto 5.2 gets wrong or drops, patched onto moto's own classes.

- Each instance's `LaunchTemplate` (DescribeAutoScalingGroups `Instances`, DescribeAutoScalingInstances)
  is the version that instance was launched from (API_Instance, API_AutoScalingInstanceDetails:
  "The launch template for the instance"). moto reports the template's default version for every
  instance, which hides a group running two releases.
- `DefaultInstanceWarmup` and `InstanceMaintenancePolicy` given to Create/UpdateAutoScalingGroup are
  kept and described (moto ignores both); instance refreshes use them as their defaults.
- `HealthCheckGracePeriod` defaults to 0 for a group created through the API (API_CreateAutoScalingGroup:
  "Default: 0 seconds"); moto uses the console's 300.
"""

from __future__ import annotations

from typing import Any

from moto.autoscaling.models import FakeAutoScalingGroup, InstanceState

_original_init = InstanceState.__init__


def template_version(template: Any, number: int) -> dict[str, str]:
    """An instance's `LaunchTemplate`, as Auto Scaling describes it."""
    return {"LaunchTemplateId": template.id, "LaunchTemplateName": template.name, "Version": str(number)}


def launched_from(group: Any) -> dict[str, str] | None:
    """The launch template version a launch of `group` uses right now, resolved to its number."""
    template = getattr(group, "ec2_launch_template", None)
    if template is None:
        return None
    return template_version(template, template.get_version(group.launch_template_version or "$Default").number)


def _init(self: InstanceState, *args: Any, **kwargs: Any) -> None:
    _original_init(self, *args, **kwargs)
    self.launched_from = launched_from(self.auto_scaling_group)


def _launch_template(self: InstanceState) -> dict[str, str] | None:
    return self.launched_from


def version_key(state: InstanceState) -> tuple[str, int] | None:
    """(template id, version number) the instance was launched from."""
    spec = getattr(state, "launched_from", None)
    return (spec["LaunchTemplateId"], int(spec["Version"])) if spec else None


def remember_group_settings(group: FakeAutoScalingGroup, operation: str, params: dict[str, Any]) -> None:
    """Keeps what moto drops from a successful Create/UpdateAutoScalingGroup request."""
    if operation == "CreateAutoScalingGroup" and "HealthCheckGracePeriod" not in params:
        group.health_check_grace_period = 0
    if "DefaultInstanceWarmup" in params:
        warmup = int(params["DefaultInstanceWarmup"])
        # API_UpdateAutoScalingGroup: "To remove a value that you previously set, include the property but specify -1".
        group.default_instance_warmup = None if warmup < 0 else warmup
    policy = params.get("InstanceMaintenancePolicy")
    if policy is not None:
        low, high = int(policy.get("MinHealthyPercentage", -1)), int(policy.get("MaxHealthyPercentage", -1))
        group.instance_maintenance_policy = (
            None if low < 0 and high < 0 else {"MinHealthyPercentage": low, "MaxHealthyPercentage": high}
        )


def install() -> None:
    InstanceState.__init__ = _init
    InstanceState.launch_template = property(_launch_template)
    FakeAutoScalingGroup.default_instance_warmup = None
    FakeAutoScalingGroup.instance_maintenance_policy = None
