"""Instance refreshes and lifecycle actions, on moto's Auto Scaling and EC2 backends.

A refresh really replaces the group's instances: batches sized from Min/MaxHealthyPercentage,
new instances launched from the desired launch template version (tags included), held in
Pending:Wait by a launching lifecycle hook, warmed up, then the old ones terminated.
Checkpoints, bake time, alarms, cancel and rollback follow AWS's documented behaviour.
The ReplaceRootVolume strategy keeps each instance and swaps its root volume; warm pools are in
warm_pools.py. Time comes from the emulator clock, so tests decide when things happen.
"""

from __future__ import annotations

import copy
import math
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from moto.autoscaling.models import ASG_NAME_TAG, InstanceState, autoscaling_backends
from moto.cloudwatch.models import cloudwatch_backends

from . import health
from .asg_patches import remember_group_settings, template_version, version_key
from .protocol import AwsError, iso, validation
from .warm_pools import WarmPools

if TYPE_CHECKING:
    from .world import World

LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"
ACTIVE = ("Pending", "InProgress", "Baking", "Cancelling", "RollbackInProgress")
MAX_WAIT = 172_800
# How long a new refresh reports Pending before it starts replacing (AWS: a few seconds).
PENDING_SECONDS = 1
IN_PROGRESS_MESSAGE = "An Instance Refresh is already in progress and blocks the execution of this Instance Refresh."
# AWS does not document after how many failed launches a refresh gives up; inferred, and kept
# small so a launch that can never pass its lifecycle hook fails the refresh soon.
LAUNCH_FAILURE_LIMIT = 3
AUTO_ROLLBACK_NEEDS_DESIRED = (
    "The request isn't valid. The AutoRollback parameter cannot be set to true when the DesiredConfiguration "
    "parameter is empty. Set AutoRollback to false or specify a desired configuration and try again."
)


@dataclass
class Target:
    """A launch configuration a pass replaces instances towards."""

    template_id: str
    version: int
    mixed: dict[str, Any] | None = None

    def key(self) -> tuple[str, int]:
        return (self.template_id, self.version)


@dataclass
class Pass:
    """Replacing `to_replace` with instances of `target`, one batch at a time."""

    target: Target
    to_replace: list[str]
    total: int
    replaced: int = 0
    batch_new: list[str] = field(default_factory=list)
    batch_old: list[str] = field(default_factory=list)
    warm_at: float | None = None
    failed_launches: int = 0

    def percent(self) -> int:
        return 100 if self.total == 0 else math.floor(100 * self.replaced / self.total)


@dataclass
class Refresh:
    id: str
    group: str
    account: str
    region: str
    preferences: dict[str, Any]
    desired: dict[str, Any] | None
    previous: Target
    started: float
    status: str = "Pending"
    status_reason: str | None = None
    ended: float | None = None
    forward: Pass | None = None
    rollback: Pass | None = None
    rollback_reason: str | None = None
    rollback_started: float | None = None
    # PercentageComplete and InstancesToUpdate when the rollback started (API_RollbackDetails).
    percent_on_rollback: int | None = None
    to_update_on_rollback: int | None = None
    next_checkpoint: int = 0
    checkpoint_until: float | None = None
    bake_until: float | None = None
    # CancelInstanceRefresh's WaitForTransitioningInstances (default true).
    cancel_waits: bool = True
    strategy: str = "Rolling"
    # The warm pool's instances, replaced after the live pool's (warm_pools.py).
    warm: Pass | None = None

    def pref(self, name: str, default: Any = None) -> Any:
        return self.preferences.get(name, default)

    def checkpoints(self) -> list[int]:
        return [int(p) for p in self.pref("CheckpointPercentages", [])]


@dataclass
class LifecycleAction:
    token: str
    instance_id: str
    group: str
    hook: str
    account: str
    region: str
    heartbeat_timeout: int
    default_result: str
    started: float
    timeout_at: float
    deadline: float
    result: str | None = None
    heartbeats: int = 0
    # Where the launch takes the instance: "AutoScalingGroup" or "WarmPool".
    destination: str = "AutoScalingGroup"
    completed: float | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "LifecycleActionToken": self.token,
            "EC2InstanceId": self.instance_id,
            "AutoScalingGroupName": self.group,
            "LifecycleHookName": self.hook,
            "HeartbeatTimeout": self.heartbeat_timeout,
            "DefaultResult": self.default_result,
            "Started": iso(self.started),
            "TimeoutAt": iso(self.timeout_at),
            "GlobalTimeoutAt": iso(self.deadline),
            "Result": self.result,
            "Heartbeats": self.heartbeats,
            "Destination": self.destination,
            "Completed": iso(self.completed),
        }


class AutoScaling:
    def __init__(self, world: World) -> None:
        self.world = world
        # The share of an instance warmup the emulator waits (the local run's fast pace: AWS's own
        # waits shortened, while the functions keep real time).
        self.pace = 1.0
        self.refreshes: list[Refresh] = []
        self.actions: list[LifecycleAction] = []
        self.hook_metadata: dict[tuple[str, str, str, str], str] = {}
        self.warm = WarmPools(self)

    def reset(self) -> None:
        self.refreshes.clear()
        self.actions.clear()
        self.hook_metadata.clear()
        self.warm.reset()

    # ---------- moto access ----------

    @staticmethod
    def backend(account: str, region: str) -> Any:
        return autoscaling_backends[account][region]

    def group(self, account: str, region: str, name: str | None) -> Any:
        group = self.backend(account, region).autoscaling_groups.get(name or "")
        if group is None:
            raise validation(f"AutoScalingGroup name not found - AutoScalingGroup {name} not found")
        return group

    @staticmethod
    def resolve(group: Any, spec: dict[str, Any]) -> Target:
        ec2 = group.ec2_backend
        if spec.get("LaunchTemplateId"):
            template = ec2.get_launch_template(spec["LaunchTemplateId"])
        elif spec.get("LaunchTemplateName"):
            template = ec2.get_launch_template_by_name(spec["LaunchTemplateName"])
        else:
            raise validation("Valid requests must contain either launchTemplateId or LaunchTemplateName")
        version = template.get_version(spec.get("Version") or "$Default")
        return Target(template.id, version.number)

    def current_target(self, group: Any) -> Target:
        if group.ec2_launch_template is None:
            raise validation(f"The group {group.name} does not use a launch template.")
        version = group.ec2_launch_template.get_version(group.launch_template_version)
        return Target(group.ec2_launch_template.id, version.number, copy.deepcopy(group.mixed_instances_policy))

    def remember_group_settings(self, account: str, region: str, operation: str, params: dict[str, Any]) -> None:
        group = self.backend(account, region).autoscaling_groups.get(params.get("AutoScalingGroupName") or "")
        if group is not None:
            remember_group_settings(group, operation, params)

    # ---------- StartInstanceRefresh & co ----------

    def start(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        group = self.group(account, region, params.get("AutoScalingGroupName"))
        strategy = params.get("Strategy", "Rolling")
        if strategy not in ("Rolling", "ReplaceRootVolume"):
            raise validation(
                f"1 validation error detected: Value '{strategy}' at 'strategy' failed to satisfy constraint: "
                "Member must satisfy enum value set: [Rolling, ReplaceRootVolume]"
            )
        if self.active(account, region, group.name):
            raise AwsError("InstanceRefreshInProgress", IN_PROGRESS_MESSAGE)
        prefs = params.get("Preferences", {})
        desired = params.get("DesiredConfiguration") or None
        if strategy == "ReplaceRootVolume":
            check_root_volume_replacement(group, desired, self.warm.pool_of(group) is not None)
        auto_rollback = str(prefs.get("AutoRollback", "false")).lower() == "true"
        if auto_rollback and not desired:
            raise validation(AUTO_ROLLBACK_NEEDS_DESIRED)
        if auto_rollback and str(group.launch_template_version or "$Default").startswith("$"):
            # AWS (Auto Scaling user guide, "Undo changes with a rollback"): "The rollback option is
            # not available if the Auto Scaling group is configured to use the $Latest or $Default
            # launch template version." Inferred text.
            raise validation(
                "The request isn't valid. AutoRollback isn't supported when the Auto Scaling group uses the "
                f"{group.launch_template_version} launch template version. Update the group to use a specific "
                "launch template version and try again."
            )
        validate_preferences(prefs)
        previous = self.current_target(group)
        target = copy.deepcopy(previous)
        if desired:
            mixed = desired.get("MixedInstancesPolicy")
            spec = desired.get("LaunchTemplate") or (mixed or {}).get("LaunchTemplate", {}).get(
                "LaunchTemplateSpecification", {}
            )
            if auto_rollback and str(spec.get("Version", "$Default")).startswith("$"):
                # Inferred text: AWS documents the restriction, not the message.
                raise validation(
                    "The request isn't valid. AutoRollback isn't supported when the desired configuration uses "
                    "$Latest or $Default as the launch template version. Specify a version number and try again."
                )
            resolved = self.resolve(group, spec)
            target = Target(resolved.template_id, resolved.version, copy.deepcopy(mixed) if mixed else None)
        now = self.world.clock.now()
        skip = str(prefs.get("SkipMatching", "false")).lower() == "true"
        # SkipMatching compares each instance's own launch template version with the desired one
        # (Auto Scaling user guide, "Use skip matching"), not the group's current setting.
        to_replace = [
            s.instance.id
            for s in group.instance_states
            if s.lifecycle_state in ("InService", "Pending", "Pending:Wait", "Pending:Proceed")
            and not (skip and version_key(s) == target.key())
        ]
        refresh = Refresh(
            id=str(uuid.uuid4()),
            group=group.name,
            account=account,
            region=region,
            preferences=prefs,
            desired=desired,
            previous=previous,
            started=now,
            forward=Pass(target=target, to_replace=to_replace, total=len(to_replace)),
            strategy=strategy,
        )
        self.refreshes.append(refresh)
        self.emit(refresh, "EC2 Auto Scaling Instance Refresh Started")
        return {"InstanceRefreshId": refresh.id}

    def describe(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        group = self.group(account, region, params.get("AutoScalingGroupName"))
        ids = params.get("InstanceRefreshIds") or []
        found = [
            r
            for r in reversed(self.refreshes)
            if r.account == account and r.region == region and r.group == group.name and (not ids or r.id in ids)
        ]
        max_records = int(params.get("MaxRecords") or 50)
        start = int(params.get("NextToken") or 0)
        page = found[start : start + max_records]
        result: dict[str, Any] = {"InstanceRefreshes": [self.render(r) for r in page]}
        if start + max_records < len(found):
            result["NextToken"] = str(start + max_records)
        return result

    def cancel(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        group = self.group(account, region, params.get("AutoScalingGroupName"))
        refresh = self.active(account, region, group.name)
        # API_CancelInstanceRefresh: "Cancels an instance refresh or rollback that is in progress."
        if refresh is None or refresh.status == "Cancelling":
            raise AwsError(
                "ActiveInstanceRefreshNotFound",
                f"No in progress or pending Instance Refresh found for Auto Scaling group {group.name}",
            )
        refresh.cancel_waits = str(params.get("WaitForTransitioningInstances", "true")).lower() == "true"
        refresh.status = "Cancelling"
        refresh.status_reason = "Cancelling instance refresh (requested by user)"
        return {"InstanceRefreshId": refresh.id}

    def rollback(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        group = self.group(account, region, params.get("AutoScalingGroupName"))
        refresh = self.active(account, region, group.name)
        if refresh is None:
            raise AwsError(
                "ActiveInstanceRefreshNotFound",
                f"No in progress or pending Instance Refresh found for Auto Scaling group {group.name}",
            )
        if not refresh.desired or refresh.status in ("RollbackInProgress", "Cancelling"):
            raise AwsError(
                "IrreversibleInstanceRefresh",
                "The instance refresh can't be rolled back: it has no desired configuration or is already being rolled back or cancelled.",
            )
        self.start_rollback(refresh, "Rollback requested by user")
        return {"InstanceRefreshId": refresh.id}

    def active(self, account: str, region: str, group: str) -> Refresh | None:
        for r in self.refreshes:
            if r.account == account and r.region == region and r.group == group and r.status in ACTIVE:
                return r
        return None

    def render(self, r: Refresh) -> dict[str, Any]:
        rolling_back = r.rollback is not None
        forward = r.forward
        assert forward is not None
        percent, to_update = forward.percent(), max(forward.total - forward.replaced, 0)
        if r.rollback is not None:
            # API_InstanceRefresh: during a rollback PercentageComplete goes back down toward 0 as
            # instances return to the previous configuration; RollbackDetails keep the values the
            # refresh had when the rollback started.
            percent = math.floor((r.percent_on_rollback or 0) * (100 - r.rollback.percent()) / 100)
            to_update = max(r.rollback.total - r.rollback.replaced, 0)
        out: dict[str, Any] = {
            "InstanceRefreshId": r.id,
            "AutoScalingGroupName": r.group,
            "Status": r.status,
            "StatusReason": r.status_reason,
            "StartTime": iso(r.started),
            "EndTime": iso(r.ended),
            "PercentageComplete": percent,
            "InstancesToUpdate": to_update,
            "Preferences": r.preferences or None,
            "Strategy": r.strategy,
            "DesiredConfiguration": r.desired,
            "ProgressDetails": {
                "LivePoolProgress": {
                    "PercentageComplete": percent,
                    "InstancesToUpdate": to_update,
                }
            },
        }
        warm = self.warm.progress(r)
        if warm is not None:
            out["ProgressDetails"]["WarmPoolProgress"] = warm
        if rolling_back:
            assert r.rollback is not None
            out["RollbackDetails"] = {
                "RollbackReason": r.rollback_reason,
                "RollbackStartTime": iso(r.rollback_started),
                "PercentageCompleteOnRollback": r.percent_on_rollback,
                "InstancesToUpdateOnRollback": r.to_update_on_rollback,
            }
        return out

    # ---------- lifecycle actions ----------

    def find_action(self, account: str, region: str, params: dict[str, Any]) -> LifecycleAction:
        token = params.get("LifecycleActionToken")
        instance = params.get("InstanceId")
        if not token and not instance:
            raise validation("Either LifecycleActionToken or InstanceId must be specified.")
        for a in self.actions:
            if (
                a.result is None
                and a.account == account
                and a.region == region
                and a.group == params.get("AutoScalingGroupName")
                and a.hook == params.get("LifecycleHookName")
                and (a.token == token if token else a.instance_id == instance)
            ):
                return a
        if token:
            raise validation(f"No active Lifecycle Action found with token {token}")
        raise validation(f"No active Lifecycle Action found with instance ID {instance}")

    def complete(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        result = params.get("LifecycleActionResult")
        if result not in ("CONTINUE", "ABANDON"):
            raise validation(
                f"1 validation error detected: Value '{result}' at 'lifecycleActionResult' failed to satisfy constraint: Member must be CONTINUE or ABANDON"
            )
        action = self.find_action(account, region, params)
        self.finish(action, result, result)
        return {}

    def heartbeat(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        action = self.find_action(account, region, params)
        now = self.world.clock.now()
        action.heartbeats += 1
        action.timeout_at = min(now + action.heartbeat_timeout, action.deadline)
        return {}

    def launch(self, refresh: Refresh, target: Target, count: int) -> list[str]:
        group = self.group(refresh.account, refresh.region, refresh.group)
        return self.launch_into_group(group, target, count)

    def launch_hooks(self, group: Any) -> list[Any]:
        return [
            h
            for h in self.backend(group.account_id, group.region).describe_lifecycle_hooks(group.name)
            if h.lifecycle_transition == LAUNCHING
        ]

    def launch_into_group(self, group: Any, target: Target, count: int) -> list[str]:
        """New instances of `target` join `group`, held in Pending:Wait by its launch hooks."""
        hooks = self.launch_hooks(group)
        now = self.world.clock.now()
        ids = []
        for instance, launched_from in self.run_instances(group, target, count):
            self.join_group(group, instance, launched_from, "Pending:Wait" if hooks else "InService")
            ids.append(instance.id)
            for hook in hooks:
                self.hold(group, hook, instance.id, now)
        if not hooks:
            self.sync_targets(group)
        return ids

    def join_group(self, group: Any, instance: Any, launched_from: dict[str, str], lifecycle_state: str) -> None:
        instance.autoscaling_group = group
        state = InstanceState(
            instance,
            lifecycle_state=lifecycle_state,
            protected_from_scale_in=group.new_instances_protected_from_scale_in,
        )
        state.launched_from = launched_from
        group.instance_states.append(state)

    def run_instances(self, group: Any, target: Target, count: int) -> list[tuple[Any, dict[str, str]]]:
        """EC2 instances of `target` for `group`, tagged and booting; each with the launch template
        version it was launched from."""
        ec2 = group.ec2_backend
        template = ec2.get_launch_template(target.template_id)
        version = template.get_version(target.version)
        tags = group.get_propagated_tags()
        tags[ASG_NAME_TAG] = group.name
        tags.update(version.instance_tags)
        overrides = ((target.mixed or {}).get("LaunchTemplate") or {}).get("Overrides") or []
        instance_type = (overrides[0].get("InstanceType") if overrides else None) or version.instance_type or "t3.micro"
        subnet = group.vpc_zone_identifier.split(",")[0] if group.vpc_zone_identifier else None
        reservation = ec2.run_instances(
            version.image_id or "ami-12c6146b",
            count,
            version.user_data,
            version.security_groups,
            instance_type=instance_type,
            tags={"instance": tags},
            placement=random.choice(group.availability_zones),
            launch_config=None,
            launch_template={"LaunchTemplateId": template.id, "Version": str(target.version)},
            is_instance_type_default=False,
            subnet_id=subnet,
        )
        launched_from = template_version(template, target.version)
        for instance in reservation.instances:
            health.note_launch(instance.id)
            self.world.boot.launched(group.account_id, group.region, group.name, instance.id, version.user_data, tags)
        return [(instance, dict(launched_from)) for instance in reservation.instances]

    def replace_root_volume(self, group: Any, instance_id: str, target: Target) -> str:
        """Auto Scaling user guide, "Replace root volume": the instance keeps its id, gets a new root
        volume from the target's image and reboots, passing ReplacingRootVolume → RootVolumeReplaced
        → Pending → Pending:Wait (launch hooks; the event's Origin and Destination are both
        AutoScalingGroup, with Action ReplaceRootVolume) → InService. The intermediate states pass at
        once here, and terminating hooks (ReplacingRootVolume:Wait) are not held. That user data runs
        again on the new volume is inferred: cloud-init finds no record of the instance on it."""
        ec2 = group.ec2_backend
        instance = ec2.get_instance(instance_id)
        template = ec2.get_launch_template(target.template_id)
        version = template.get_version(target.version)
        overrides = ((target.mixed or {}).get("LaunchTemplate") or {}).get("Overrides") or []
        chosen = next(
            (o for o in overrides if o.get("InstanceType") == instance.instance_type), overrides[0] if overrides else {}
        )
        instance.image_id = chosen.get("ImageId") or version.image_id or instance.image_id
        device = instance.root_device_name
        old = instance.block_device_mapping.get(device)
        if old is not None:
            ec2.detach_volume(old.volume_id, instance_id, device)
            ec2.delete_volume(old.volume_id)
        volume = ec2.create_volume(size=8, zone_name=instance._placement.zone)
        ec2.attach_volume(volume.id, instance_id, device, True)
        # The attachment's time on the emulator's clock, which the rest of the run keeps.
        attached = datetime.fromtimestamp(self.world.clock.now(), UTC)
        instance.block_device_mapping[device].attach_time = attached
        volume.attachment.attach_time = attached
        state = next(s for s in group.instance_states if s.instance.id == instance_id)
        state.launched_from = template_version(template, target.version)
        hooks = self.launch_hooks(group)
        state.lifecycle_state = "Pending:Wait" if hooks else "InService"
        health.note_launch(instance_id)
        tags = dict(ec2.tags.get(instance_id, {}))
        self.world.boot.launched(group.account_id, group.region, group.name, instance_id, version.user_data, tags)
        now = self.world.clock.now()
        for hook in hooks:
            self.hold(
                group,
                hook,
                instance_id,
                now,
                origin="AutoScalingGroup",
                destination="AutoScalingGroup",
                Action="ReplaceRootVolume",
            )
        self.sync_targets(group)
        return instance_id

    def hold(
        self,
        group: Any,
        hook: Any,
        instance_id: str,
        now: float,
        origin: str = "EC2",
        destination: str = "AutoScalingGroup",
        **extra: str,
    ) -> None:
        """A launch action under `hook`, announced by its EventBridge event (Origin / Destination as
        the Auto Scaling user guide's warm pool and root volume events give them)."""
        timeout = int(hook.heartbeat_timeout)
        action = LifecycleAction(
            token=str(uuid.uuid4()),
            instance_id=instance_id,
            group=group.name,
            hook=hook.name,
            account=group.account_id,
            region=group.region,
            heartbeat_timeout=timeout,
            default_result=hook.default_result,
            started=now,
            timeout_at=now + timeout,
            deadline=now + min(MAX_WAIT, 100 * timeout),
            destination=destination,
        )
        self.actions.append(action)
        detail = {
            "Origin": origin,
            "Destination": destination,
            **extra,
            "LifecycleActionToken": action.token,
            "AutoScalingGroupName": group.name,
            "LifecycleHookName": hook.name,
            "EC2InstanceId": instance_id,
            "LifecycleTransition": LAUNCHING,
        }
        metadata = self.hook_metadata.get((group.account_id, group.region, group.name, hook.name))
        if metadata is not None:
            detail["NotificationMetadata"] = metadata
        self.world.events.emit(
            "EC2 Instance-launch Lifecycle Action",
            "aws.autoscaling",
            detail,
            account=group.account_id,
            region=group.region,
            now=now,
            resources=[group.arn],
        )

    def finish(self, action: LifecycleAction, result: str, recorded: str) -> None:
        action.result, action.completed = recorded, self.world.clock.now()
        if action.destination == "WarmPool":
            self.warm.finish(action, result)
            return
        others = [a for a in self.actions if a.instance_id == action.instance_id and a.result is None]
        group = self.backend(action.account, action.region).autoscaling_groups.get(action.group)
        state = next((s for s in group.instance_states if s.instance.id == action.instance_id), None) if group else None
        if state is None:
            return
        if result == "ABANDON":
            for other in others:
                other.result = "ABANDON"
            self.terminate(group, [action.instance_id])
            self.world.note_abandoned(action.instance_id, action.hook)
        elif not others:
            state.lifecycle_state = "InService"
            self.sync_targets(group)

    def sync_targets(self, group: Any) -> None:
        """The group's target groups hold its InService instances: Auto Scaling registers an
        instance once its launch hooks let it in and deregisters it when it leaves (moto
        registered every instance, Pending:Wait too, and never deregistered)."""
        if not getattr(group, "target_group_arns", None):
            return
        elbv2 = group.autoscaling_backend.elbv2_backend
        in_service = {s.instance.id for s in group.instance_states if s.lifecycle_state == "InService"}
        members = {s.instance.id for s in group.instance_states}
        for arn in group.target_group_arns:
            target_group = elbv2.target_groups.get(arn)
            if target_group is None:
                continue
            gone = [{"Id": i} for i in target_group.targets if i not in members and i.startswith("i-")]
            if gone:
                target_group.deregister(gone)
            new = [{"Id": i} for i in sorted(in_service) if i not in target_group.targets]
            if new:
                target_group.register(new)

    def terminate(self, group: Any, instance_ids: list[str]) -> None:
        if not instance_ids:
            return
        group.ec2_backend.terminate_instances(instance_ids)
        group.instance_states = [s for s in group.instance_states if s.instance.id not in instance_ids]
        self.sync_targets(group)
        self.close_actions(instance_ids)

    def close_actions(self, instance_ids: list[str]) -> None:
        """Open actions of terminated instances end ABANDONed: nothing can answer them now."""
        for a in self.actions:
            if a.instance_id in instance_ids and a.result is None:
                a.result = "ABANDON"

    # ---------- time ----------

    def tick(self) -> None:
        now = self.world.clock.now()
        for action in list(self.actions):
            if action.result is None and now >= action.timeout_at:
                self.finish(action, action.default_result, f"TIMEOUT:{action.default_result}")
        for refresh in list(self.refreshes):
            if refresh.status in ACTIVE:
                self.step(refresh, now)
        self.warm.tick()

    def step(self, r: Refresh, now: float) -> None:
        if r.status == "Pending":
            if now < r.started + PENDING_SECONDS:
                return
            r.status = "InProgress"
        if r.status == "Cancelling":
            self.step_cancel(r, now)
            return
        if r.status == "RollbackInProgress":
            assert r.rollback is not None
            outcome = self.advance(r, r.rollback, now)
            if outcome == "done":
                r.status, r.ended = "RollbackSuccessful", now
                r.status_reason = r.rollback_reason
                self.emit(r, "EC2 Auto Scaling Instance Refresh Rollback Succeeded")
            elif outcome and outcome.startswith("failed:"):
                r.status, r.ended = "RollbackFailed", now
                r.status_reason = outcome[len("failed:") :]
                self.emit(r, "EC2 Auto Scaling Instance Refresh Rollback Failed")
            return
        alarm = self.alarm_in_alarm(r)
        if alarm:
            self.fail(r, f"Alarm {alarm} is in ALARM state.", now)
            return
        if r.status == "Baking":
            if r.bake_until is not None and now >= r.bake_until:
                self.succeed(r, now)
            return
        if r.checkpoint_until is not None:
            if now < r.checkpoint_until:
                return
            r.checkpoint_until, r.status_reason = None, None
        assert r.forward is not None
        outcome = self.advance(r, r.forward, now, cap=self.checkpoint_cap(r))
        if outcome and outcome.startswith("failed:"):
            self.fail(r, outcome[len("failed:") :], now)
            return
        if not r.forward.batch_new:
            reached = self.checkpoint_reached(r)
            # Add checkpoints to an instance refresh: no event and no pause for the 100 % checkpoint.
            if reached is not None and reached < 100:
                delay = int(r.pref("CheckpointDelay", 3600))
                self.emit(
                    r,
                    "EC2 Auto Scaling Instance Refresh Checkpoint Reached",
                    CheckpointPercentage=str(reached),
                    CheckpointDelay=str(delay),
                )
                if r.next_checkpoint < len(r.checkpoints()):
                    r.checkpoint_until = now + delay
                    r.status_reason = (
                        f"Waiting for checkpoint: {r.forward.percent()}% complete, resuming after {delay} seconds"
                    )
                    return
                # Enable checkpoints (AWS CLI): the last value "describes the percentage of the Auto Scaling
                # group that needs to be successfully replaced"; once replaced and warm, the refresh succeeds.
                outcome = "done"
        if outcome == "done":
            warm = self.warm.refresh_step(r)
            if warm is None:
                return
            if warm.startswith("failed:"):
                self.fail(r, warm[len("failed:") :], now)
                return
            bake = int(r.pref("BakeTime", 0))
            if bake > 0:
                r.status, r.bake_until = "Baking", now + bake
                self.emit(r, "EC2 Auto Scaling Instance Refresh Started Baking")
            else:
                self.succeed(r, now)

    def checkpoint_cap(self, r: Refresh) -> int | None:
        """How many more instances may be replaced before the next checkpoint is reached."""
        points, p = r.checkpoints(), r.forward
        if p is None or r.next_checkpoint >= len(points):
            return None
        # A checkpoint is reached when at least that percentage of the instances are new.
        return max(1, math.ceil(p.total * points[r.next_checkpoint] / 100) - p.replaced)

    @staticmethod
    def checkpoint_reached(r: Refresh) -> int | None:
        """The highest checkpoint the refresh has now passed; lower ones it jumped over are skipped
        (Add checkpoints: 2 instances with [10, 40, 100] report 40 after the first replacement)."""
        points, p = r.checkpoints(), r.forward
        assert p is not None
        reached = None
        while r.next_checkpoint < len(points) and p.percent() >= points[r.next_checkpoint]:
            reached = points[r.next_checkpoint]
            r.next_checkpoint += 1
        return reached

    def step_cancel(self, r: Refresh, now: float) -> None:
        current = r.rollback or r.forward
        group = self.backend(r.account, r.region).autoscaling_groups.get(r.group)
        if r.cancel_waits and current is not None and current.batch_new and group is not None:
            # API_CancelInstanceRefresh, WaitForTransitioningInstances (default true): in-flight launches
            # and terminations finish before the refresh is cancelled.
            states = {s.instance.id: s for s in group.instance_states}
            serving = [i for i in current.batch_new if i in states]
            if any(states[i].lifecycle_state != "InService" for i in serving):
                return
            if serving:
                old = [i for i in current.batch_old if i in states]
                self.terminate(group, old)
                current.replaced += len(current.batch_old)
            current.batch_new, current.batch_old, current.warm_at = [], [], None
        r.status, r.ended = "Cancelled", now
        r.status_reason = "Instance refresh was cancelled (requested by user)"
        self.emit(r, "EC2 Auto Scaling Instance Refresh Cancelled")

    def advance(self, r: Refresh, p: Pass, now: float, cap: int | None = None) -> str | None:
        """Moves one pass forward; returns "done", "failed:<reason>", or None (still going).
        `cap` limits the next batch so a checkpoint is not overshot."""
        group = self.backend(r.account, r.region).autoscaling_groups.get(r.group)
        if group is None:
            return "failed:The Auto Scaling group was deleted."
        states = {s.instance.id: s for s in group.instance_states}
        if p.batch_new:
            return self.finish_batch(r, p, group, states, now)
        p.to_replace = [i for i in p.to_replace if i in states]
        desired = group.desired_capacity or len(states) or 1
        if not p.to_replace:
            p.replaced = p.total
            shortfall = desired - len(states)
            if shortfall > 0:
                # Capacity lost on the way (an abandoned launch) is restored with the target version.
                p.batch_new = self.launch(r, p.target, shortfall)
                return None
            return "done"
        min_healthy, max_healthy = self.healthy_bounds(r, group)
        # Below: how many may be out of service; above: how many may run beyond desired capacity.
        below = desired - math.ceil(desired * min_healthy / 100)
        above = math.floor(desired * max_healthy / 100) - desired
        # With no room either way, one at a time (RefreshPreferences: "Setting the minimum healthy
        # percentage to 100 percent limits the rate of replacement to one instance at a time").
        size = max(1, below + above)
        if r.strategy == "ReplaceRootVolume":
            # Each instance is taken out of service and comes back with its new root volume: no room
            # above desired capacity is used.
            size = max(1, below)
        if cap is not None:
            size = min(size, cap)
        size = min(size, len(p.to_replace))
        p.batch_old, p.to_replace = p.to_replace[:size], p.to_replace[size:]
        if r.strategy == "ReplaceRootVolume":
            p.batch_new = [self.replace_root_volume(group, i, p.target) for i in p.batch_old]
            return None
        # Launch into the room above desired capacity first; only what exceeds it is terminated
        # before the new instances serve, so the group never drops below MinHealthyPercentage.
        self.terminate(group, p.batch_old[: max(0, size - above)])
        p.batch_new = self.launch(r, p.target, size)
        return None

    def finish_batch(self, r: Refresh, p: Pass, group: Any, states: dict[str, Any], now: float) -> str | None:
        lost = [i for i in p.batch_new if i not in states]
        if lost:
            # A launch that fails (its lifecycle hook abandoned it) is retried with a new instance;
            # after LAUNCH_FAILURE_LIMIT failures the refresh gives up (inferred bound).
            p.failed_launches += len(lost)
            if p.failed_launches >= LAUNCH_FAILURE_LIMIT:
                return (
                    f"failed:{p.failed_launches} instance launches failed during the instance refresh; "
                    f"the last: {self.world.abandon_reason(lost[-1])}"
                )
            p.batch_new = [i for i in p.batch_new if i in states] + self.launch(r, p.target, len(lost))
            p.warm_at = None
            return None
        if any(states[i].lifecycle_state != "InService" for i in p.batch_new):
            return None
        if p.warm_at is None:
            p.warm_at = now + self.warmup(r, group) * self.pace
        if now < p.warm_at:
            return None
        self.terminate(group, [i for i in p.batch_old if i in states and i not in p.batch_new])
        p.replaced += len(p.batch_old)
        p.batch_new, p.batch_old, p.warm_at = [], [], None
        return "done" if not p.to_replace else None

    @staticmethod
    def healthy_bounds(r: Refresh, group: Any) -> tuple[int, int]:
        """RefreshPreferences: each bound defaults to the group's instance maintenance policy, if any,
        and otherwise to 90 and 100."""
        policy = getattr(group, "instance_maintenance_policy", None) or {}
        low = r.pref("MinHealthyPercentage", policy.get("MinHealthyPercentage", -1))
        high = r.pref("MaxHealthyPercentage", policy.get("MaxHealthyPercentage", -1))
        return (90 if int(low) < 0 else int(low)), (100 if int(high) < 0 else int(high))

    @staticmethod
    def warmup(r: Refresh, group: Any) -> int:
        """RefreshPreferences.InstanceWarmup: by default the group's DefaultInstanceWarmup, if defined,
        or its HealthCheckGracePeriod otherwise."""
        if "InstanceWarmup" in r.preferences:
            return int(r.pref("InstanceWarmup"))
        default = getattr(group, "default_instance_warmup", None)
        return int(default if default is not None else group.health_check_grace_period or 0)

    def alarm_in_alarm(self, r: Refresh) -> str | None:
        alarms = (r.pref("AlarmSpecification") or {}).get("Alarms") or []
        if not alarms:
            return None
        backend = cloudwatch_backends[r.account][r.region]
        for name in alarms:
            alarm = backend.alarms.get(name)
            if alarm is not None and alarm.state_value == "ALARM":
                return name
        return None

    def fail(self, r: Refresh, reason: str, now: float) -> None:
        auto_rollback = str(r.pref("AutoRollback", "false")).lower() == "true"
        if auto_rollback and r.desired:
            self.start_rollback(r, reason)
            return
        r.status, r.status_reason, r.ended = "Failed", reason, now
        self.emit(r, "EC2 Auto Scaling Instance Refresh Failed")

    def start_rollback(self, r: Refresh, reason: str) -> None:
        now = self.world.clock.now()
        group = self.group(r.account, r.region, r.group)
        assert r.forward is not None
        # Instances of an unfinished batch are given up; launched ones of the new version are replaced.
        self.terminate(
            group, [i for i in r.forward.batch_new if any(s.instance.id == i for s in group.instance_states)]
        )
        r.percent_on_rollback = r.forward.percent()
        r.to_update_on_rollback = max(r.forward.total - r.forward.replaced, 0)
        r.forward.batch_new, r.forward.batch_old = [], []
        target_key = r.forward.target.key()
        to_replace = [s.instance.id for s in group.instance_states if version_key(s) == target_key]
        r.rollback = Pass(target=r.previous, to_replace=to_replace, total=len(to_replace))
        r.status, r.rollback_reason, r.rollback_started = "RollbackInProgress", reason, now
        r.status_reason = reason
        r.checkpoint_until = r.bake_until = None
        self.emit(r, "EC2 Auto Scaling Instance Refresh Rollback Started")

    def succeed(self, r: Refresh, now: float) -> None:
        assert r.forward is not None
        group = self.group(r.account, r.region, r.group)
        target = r.forward.target
        if r.desired:
            spec = {"LaunchTemplateId": target.template_id, "Version": str(target.version)}
            if target.mixed:
                mixed = copy.deepcopy(target.mixed)
                mixed.setdefault("LaunchTemplate", {})["LaunchTemplateSpecification"] = spec
                group.mixed_instances_policy = mixed
                group._set_launch_configuration(None, None, mixed)
            else:
                group._set_launch_configuration(None, spec, None)
        r.status, r.ended, r.status_reason = "Successful", now, None
        self.emit(r, "EC2 Auto Scaling Instance Refresh Succeeded")

    def emit(self, r: Refresh, detail_type: str, **extra: str) -> None:
        group = self.backend(r.account, r.region).autoscaling_groups.get(r.group)
        detail = {"InstanceRefreshId": r.id, "AutoScalingGroupName": r.group, **extra}
        if r.status_reason:
            detail["StatusReason"] = r.status_reason
        self.world.events.emit(
            detail_type,
            "aws.autoscaling",
            detail,
            account=r.account,
            region=r.region,
            now=self.world.clock.now(),
            resources=[group.arn] if group else [],
        )


def check_root_volume_replacement(group: Any, desired: dict[str, Any] | None, has_warm_pool: bool) -> None:
    """Auto Scaling user guide, "Replace root volume" requirements and limitations. The texts are
    inferred: AWS documents the rules, not the messages."""
    if has_warm_pool:
        raise validation(
            "You can't start an instance refresh with ReplaceRootVolume on an Auto Scaling group that has a warm pool."
        )
    if not group.mixed_instances_policy:
        raise validation(
            "An instance refresh with ReplaceRootVolume requires the Auto Scaling group to use a mixed instances policy."
        )
    mixed = (desired or {}).get("MixedInstancesPolicy")
    if not mixed:
        raise validation(
            "An instance refresh with ReplaceRootVolume requires a desired configuration with a mixed instances policy whose overrides specify an ImageId."
        )
    template = mixed.get("LaunchTemplate") or {}
    overrides = template.get("Overrides") or []
    if not overrides or any(not o.get("ImageId") for o in overrides):
        raise validation(
            "Every override in the desired configuration's mixed instances policy must specify an ImageId for ReplaceRootVolume."
        )
    versions = [
        str(group.launch_template_version or "$Default"),
        str((template.get("LaunchTemplateSpecification") or {}).get("Version") or "$Default"),
    ]
    if any(v.startswith("$") for v in versions):
        raise validation(
            "You can't start an instance refresh with ReplaceRootVolume when the Auto Scaling group or the desired configuration uses the $Latest or $Default launch template version."
        )


def validate_preferences(prefs: dict[str, Any]) -> None:
    """AWS's documented bounds. Texts are inferred (no real responses found) and kept short."""

    def number(name: str) -> int | None:
        return int(prefs[name]) if name in prefs else None

    min_h, max_h = number("MinHealthyPercentage"), number("MaxHealthyPercentage")
    if min_h is not None and not 0 <= min_h <= 100:
        raise validation("MinHealthyPercentage must be between 0 and 100.")
    if max_h is not None and not 100 <= max_h <= 200:
        raise validation("MaxHealthyPercentage must be between 100 and 200.")
    if max_h is not None and max_h - (90 if min_h is None else min_h) > 100:
        raise validation("The difference between MaxHealthyPercentage and MinHealthyPercentage can't be more than 100.")
    points = [int(p) for p in prefs.get("CheckpointPercentages", [])]
    if any(b <= a for a, b in pairwise(points)) or any(not 1 <= p <= 100 for p in points):
        raise validation("CheckpointPercentages must be unique values between 1 and 100 in ascending order.")
    for name in ("CheckpointDelay", "BakeTime"):
        value = number(name)
        if value is not None and not 0 <= value <= MAX_WAIT:
            raise validation(f"{name} must be between 0 and {MAX_WAIT} seconds.")
    if len((prefs.get("AlarmSpecification") or {}).get("Alarms") or []) > 10:
        raise validation("AlarmSpecification can include at most 10 alarms.")
