"""Warm pools, on moto's Auto Scaling groups (moto 5.2 stores the configuration and never an
instance: DescribeWarmPool always answered no instances).

From the Auto Scaling user guide ("Warm pools for Amazon EC2 Auto Scaling", "Warm pool
EventBridge events", "Instance refresh"):
- The pool holds `max(MinSize, MaxGroupPreparedCapacity − DesiredCapacity)` instances, with
  MaxGroupPreparedCapacity defaulting to the group's MaxSize.
- An instance going into the pool runs its user data under the group's launch hooks in
  `Warmed:Pending:Wait` (event Origin `EC2`, Destination `WarmPool`), then waits `Warmed:Stopped`,
  `Warmed:Running` or `Warmed:Hibernated` as PoolState says. ABANDON terminates it.
- A scale-out takes prepared instances from the pool first: each is started and held in
  `Pending:Wait` by the launch hooks again (Origin `WarmPool`, Destination `AutoScalingGroup`,
  a new token). User data does not run again (cloud-init runs it once per instance). Launches
  beyond what the pool holds come from EC2 (`EC2` → `AutoScalingGroup`), with the desired
  configuration while an instance refresh rolls forward ("If a scale-out event occurs during an
  instance refresh, Amazon EC2 Auto Scaling launches new instances with the desired
  configuration"). A launch its hook abandons is replaced.
- An instance refresh "first replaces InService instances. Then it replaces instances in the warm
  pool", reporting `ProgressDetails.WarmPoolProgress`.

Inferred, where AWS does not say: the pool refills at once; a refresh replaces the pool's
instances not on its target version all at once and succeeds when the new ones are prepared;
DeleteWarmPool terminates the pool's instances at once (AWS reports `PendingDelete` while they
terminate); ReuseOnScaleIn is kept and described but scale-in does not return instances to the
pool; scale-outs are emulated for SetDesiredCapacity on groups with a warm pool.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import autoscaling as asg_module
from .protocol import AwsError, validation

if TYPE_CHECKING:
    from .autoscaling import AutoScaling, LifecycleAction, Refresh, Target

READY = {"Stopped": "Warmed:Stopped", "Running": "Warmed:Running", "Hibernated": "Warmed:Hibernated"}
ROLLING_FORWARD = ("Pending", "InProgress", "Baking")
# How many abandoned launches one scale-out replaces before it gives up (inferred bound).
SCALE_OUT_ATTEMPTS = 10


@dataclass
class WarmInstance:
    instance_id: str
    state: str
    launched_from: dict[str, str]
    instance_type: str
    zone: str

    def version_key(self) -> tuple[str, int]:
        return (self.launched_from["LaunchTemplateId"], int(self.launched_from["Version"]))

    def describe(self) -> dict[str, Any]:
        return {
            "InstanceId": self.instance_id,
            "InstanceType": self.instance_type,
            "AvailabilityZone": self.zone,
            "LifecycleState": self.state,
            "HealthStatus": "Healthy",
            "LaunchTemplate": self.launched_from,
            "ProtectedFromScaleIn": False,
        }


@dataclass
class WarmPool:
    min_size: int = 0
    max_prepared: int | None = None
    pool_state: str = "Stopped"
    reuse: dict[str, Any] | None = None
    instances: list[WarmInstance] = field(default_factory=list)
    failed_launches: int = 0

    def configuration(self) -> dict[str, Any]:
        out: dict[str, Any] = {"MinSize": self.min_size, "PoolState": self.pool_state}
        if self.max_prepared is not None:
            out["MaxGroupPreparedCapacity"] = self.max_prepared
        if self.reuse is not None:
            out["InstanceReusePolicy"] = self.reuse
        return out

    def wanted(self, group: Any) -> int:
        prepared = self.max_prepared if self.max_prepared is not None else int(group.max_size or 0)
        return max(self.min_size, prepared - int(group.desired_capacity or 0))


@dataclass
class ScaleOut:
    """Instances a scale-out launched; one its hook abandons is replaced."""

    key: tuple[str, str, str]
    instance_ids: list[str]
    attempts: int = 0


class WarmPools:
    def __init__(self, autoscaling: AutoScaling) -> None:
        self.asg = autoscaling
        self.pools: dict[tuple[str, str, str], WarmPool] = {}
        self.scale_outs: list[ScaleOut] = []

    def reset(self) -> None:
        self.pools.clear()
        self.scale_outs.clear()

    @staticmethod
    def key(group: Any) -> tuple[str, str, str]:
        return (group.account_id, group.region, group.name)

    def pool_of(self, group: Any) -> WarmPool | None:
        return self.pools.get(self.key(group))

    # ---------- the API ----------

    def put(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        group = self.asg.group(account, region, params.get("AutoScalingGroupName"))
        active = self.asg.active(account, region, group.name)
        if active is not None and active.strategy == "ReplaceRootVolume":
            # "You can't add a warm pool to an Auto Scaling group that has an active instance refresh
            # with Replace Root Volume." The error's text is inferred.
            raise AwsError(
                "InstanceRefreshInProgress",
                "You can't add a warm pool to an Auto Scaling group with an active instance refresh that uses ReplaceRootVolume.",
            )
        state = params.get("PoolState") or "Stopped"
        if state not in READY:
            raise validation(
                f"1 validation error detected: Value '{state}' at 'poolState' failed to satisfy constraint: "
                "Member must satisfy enum value set: [Hibernated, Running, Stopped]"
            )
        max_prepared = params.get("MaxGroupPreparedCapacity")
        # API_PutWarmPool: "To remove a value that you previously set, include the property but specify -1".
        max_prepared = None if max_prepared is None or int(max_prepared) < 0 else int(max_prepared)
        pool = self.pools.setdefault(self.key(group), WarmPool())
        pool.min_size = int(params.get("MinSize") or 0)
        pool.max_prepared, pool.pool_state = max_prepared, state
        pool.reuse = params.get("InstanceReusePolicy")
        group.put_warm_pool(pool.max_prepared, pool.min_size, pool.pool_state, pool.reuse)
        self.fill(group, pool)
        return {}

    def describe(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        group = self.asg.group(account, region, params.get("AutoScalingGroupName"))
        pool = self.pool_of(group)
        if pool is None:
            return {"Instances": []}
        return {"WarmPoolConfiguration": pool.configuration(), "Instances": [w.describe() for w in pool.instances]}

    def delete(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        group = self.asg.group(account, region, params.get("AutoScalingGroupName"))
        pool = self.pools.pop(self.key(group), None)
        if pool is None:
            return {}
        self.terminate(group, [w.instance_id for w in pool.instances])
        group.warm_pool = None
        return {}

    def set_desired(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any] | None:
        """SetDesiredCapacity on a group with a warm pool; None leaves any other group to moto."""
        group = self.asg.group(account, region, params.get("AutoScalingGroupName"))
        pool = self.pool_of(group)
        if pool is None:
            return None
        desired = int(params["DesiredCapacity"])
        if desired > int(group.max_size):
            raise validation(
                f"New SetDesiredCapacity value {desired} is above max value {group.max_size} for the AutoScalingGroup."
            )
        if desired < int(group.min_size):
            raise validation(
                f"New SetDesiredCapacity value {desired} is below min value {group.min_size} for the AutoScalingGroup."
            )
        current = len(group.instance_states)
        group.desired_capacity = desired
        if desired > current:
            self.scale_outs.append(ScaleOut(self.key(group), self.grow(group, desired - current)))
        elif desired < current:
            self.asg.terminate(group, [s.instance.id for s in group.instance_states[desired:]])
        self.fill(group, pool)
        return {}

    # ---------- moving instances ----------

    def launch_target(self, group: Any) -> Target:
        """What a launch uses now: the desired configuration of a refresh rolling forward, else
        the group's own."""
        refresh = self.asg.active(group.account_id, group.region, group.name)
        if refresh is not None and refresh.status in ROLLING_FORWARD and refresh.desired and refresh.forward:
            return refresh.forward.target
        return self.asg.current_target(group)

    def grow(self, group: Any, count: int) -> list[str]:
        """`count` more instances in the group: prepared ones from the pool first, then new ones."""
        promoted = self.promote(group, count)
        rest = count - len(promoted)
        return promoted + (self.asg.launch_into_group(group, self.launch_target(group), rest) if rest > 0 else [])

    def promote(self, group: Any, count: int) -> list[str]:
        pool = self.pool_of(group)
        if pool is None:
            return []
        ready = [w for w in pool.instances if w.state in READY.values()][:count]
        hooks = self.asg.launch_hooks(group)
        now = self.asg.world.clock.now()
        for warm in ready:
            pool.instances.remove(warm)
            instance = group.ec2_backend.get_instance(warm.instance_id)
            instance.start()
            self.asg.join_group(group, instance, warm.launched_from, "Pending:Wait" if hooks else "InService")
            for hook in hooks:
                self.asg.hold(group, hook, warm.instance_id, now, origin="WarmPool", destination="AutoScalingGroup")
        if not hooks:
            self.asg.sync_targets(group)
        return [w.instance_id for w in ready]

    def fill(self, group: Any, pool: WarmPool) -> None:
        missing = pool.wanted(group) - len(pool.instances)
        if missing <= 0:
            return
        hooks = self.asg.launch_hooks(group)
        now = self.asg.world.clock.now()
        for instance, launched_from in self.asg.run_instances(group, self.launch_target(group), missing):
            warm = WarmInstance(
                instance.id, "Warmed:Pending:Wait", launched_from, instance.instance_type, instance._placement.zone
            )
            pool.instances.append(warm)
            if hooks:
                for hook in hooks:
                    self.asg.hold(group, hook, instance.id, now, origin="EC2", destination="WarmPool")
            else:
                self.prepared(pool, warm, instance)

    def prepared(self, pool: WarmPool, warm: WarmInstance, instance: Any) -> None:
        warm.state = READY[pool.pool_state]
        if pool.pool_state != "Running":
            instance.stop()

    def finish(self, action: LifecycleAction, result: str) -> None:
        """A launch hook's answer for an instance going into the pool."""
        group = self.asg.backend(action.account, action.region).autoscaling_groups.get(action.group)
        pool = self.pool_of(group) if group is not None else None
        warm = next((w for w in pool.instances if w.instance_id == action.instance_id), None) if pool else None
        if group is None or pool is None or warm is None:
            return
        others = [a for a in self.asg.actions if a.instance_id == action.instance_id and a.result is None]
        if result == "ABANDON":
            pool.failed_launches += 1
            self.terminate(group, [warm.instance_id])
            self.asg.world.note_abandoned(action.instance_id, action.hook)
        elif not others:
            self.prepared(pool, warm, group.ec2_backend.get_instance(warm.instance_id))

    def terminate(self, group: Any, instance_ids: list[str]) -> None:
        pool = self.pool_of(group)
        if pool is not None:
            pool.instances = [w for w in pool.instances if w.instance_id not in instance_ids]
        if instance_ids:
            group.ec2_backend.terminate_instances(instance_ids)
        self.asg.close_actions(instance_ids)

    # ---------- time ----------

    def tick(self) -> None:
        for scale_out in list(self.scale_outs):
            group = self.asg.backend(scale_out.key[0], scale_out.key[1]).autoscaling_groups.get(scale_out.key[2])
            if group is None:
                self.scale_outs.remove(scale_out)
                continue
            states = {s.instance.id: s for s in group.instance_states}
            alive = [i for i in scale_out.instance_ids if i in states]
            lost = len(scale_out.instance_ids) - len(alive)
            if lost and scale_out.attempts + lost <= SCALE_OUT_ATTEMPTS:
                scale_out.attempts += lost
                alive += self.grow(group, lost)
            scale_out.instance_ids = alive
            if not lost and all(states[i].lifecycle_state == "InService" for i in alive):
                self.scale_outs.remove(scale_out)
        for (account, region, name), pool in list(self.pools.items()):
            group = self.asg.backend(account, region).autoscaling_groups.get(name)
            if group is not None:
                self.fill(group, pool)

    # ---------- instance refresh ----------

    def refresh_step(self, r: Refresh) -> str | None:
        """After the live pool: the warm pool's instances not on the target version are replaced.
        Returns "done", "failed:<reason>", or None (still preparing)."""
        group = self.asg.backend(r.account, r.region).autoscaling_groups.get(r.group)
        pool = self.pool_of(group) if group is not None else None
        if group is None or pool is None or r.forward is None:
            return "done"
        target = r.forward.target.key()
        if r.warm is None:
            stale = [w.instance_id for w in pool.instances if w.version_key() != target]
            r.warm = asg_module.Pass(target=r.forward.target, to_replace=stale, total=len(stale))
            pool.failed_launches = 0
            self.terminate(group, stale)
            self.fill(group, pool)
        if pool.failed_launches >= 3:
            return f"failed:{pool.failed_launches} warm pool instance launches failed during the instance refresh"
        if any(w.state not in READY.values() or w.version_key() != target for w in pool.instances):
            return None
        r.warm.replaced = r.warm.total
        return "done"

    def progress(self, r: Refresh) -> dict[str, int] | None:
        """ProgressDetails.WarmPoolProgress, for a group with a warm pool."""
        group = self.asg.backend(r.account, r.region).autoscaling_groups.get(r.group)
        pool = self.pool_of(group) if group is not None else None
        if pool is None:
            return None
        if r.warm is not None:
            return {"PercentageComplete": r.warm.percent(), "InstancesToUpdate": r.warm.total - r.warm.replaced}
        target = r.forward.target.key() if r.forward else None
        return {
            "PercentageComplete": 0,
            "InstancesToUpdate": sum(1 for w in pool.instances if w.version_key() != target),
        }
