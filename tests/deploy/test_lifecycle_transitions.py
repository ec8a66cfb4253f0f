"""Warm pools and root volume replacements gated by the deployed lifecycle-health: the real
binary, reached through the deployed EventBridge rule, answering the emulator's lifecycle
actions over the real SDK. The test plays each instance's user data: it tags an instance
`bootstrap=complete` (with `bootstrap-at`, as fleet/user-data.sh does) a moment after its
launch action opens."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from conftest import STACK, Deployed

HOOK = "health"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class UserData:
    """Tags each instance whose launch action is open `complete`, `delay` seconds after it opened,
    and remembers when."""

    def __init__(self, deployed: Deployed, group: str, delay: float) -> None:
        self.deployed, self.group, self.delay = deployed, group, delay
        self.tagged: dict[str, datetime] = {}  # token → when its instance was tagged
        self.seen: dict[str, float] = {}
        self.stop = threading.Event()

    def actions(self) -> list[dict[str, Any]]:
        return [
            a for a in self.deployed.control("GET", "/lifecycle-actions") if a["AutoScalingGroupName"] == self.group
        ]

    def run(self) -> None:
        ec2 = self.deployed.client("ec2")
        while not self.stop.is_set():
            for action in self.actions():
                token = action["LifecycleActionToken"]
                if action["Result"] is not None or token in self.tagged:
                    continue
                first = self.seen.setdefault(token, time.time())
                if time.time() - first >= self.delay:
                    now = datetime.now(UTC).replace(microsecond=0)
                    ec2.create_tags(
                        Resources=[action["EC2InstanceId"]],
                        Tags=[
                            {"Key": "bootstrap", "Value": "complete"},
                            {"Key": "bootstrap-at", "Value": now.strftime("%Y-%m-%dT%H:%M:%SZ")},
                        ],
                    )
                    self.tagged[token] = now
            time.sleep(0.3)


@contextmanager
def booting(deployed: Deployed, group: str, delay: float = 0.5) -> Iterator[UserData]:
    user_data = UserData(deployed, group, delay)
    thread = threading.Thread(target=user_data.run, daemon=True)
    thread.start()
    try:
        yield user_data
    finally:
        user_data.stop.set()
        thread.join()


def wait_for(what: str, condition, timeout: float = 180) -> Any:
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def new_release(deployed: Deployed, group: str, release: str) -> int:
    """A launch template version of the group's template carrying `release`, as instance-refresh makes."""
    return deployed.client("ec2").create_launch_template_version(
        LaunchTemplateId=template_id_of(deployed, group),
        SourceVersion="1",
        LaunchTemplateData={
            "TagSpecifications": [
                {
                    "ResourceType": "instance",
                    "Tags": [{"Key": "Name", "Value": group}, {"Key": "deploy:release", "Value": release}],
                }
            ]
        },
    )["LaunchTemplateVersion"]["VersionNumber"]


def template_id_of(deployed: Deployed, group: str) -> str:
    """The fleet's launch template for `group` (it bears the group's name)."""
    return deployed.client("ec2").describe_launch_templates(LaunchTemplateNames=[group])["LaunchTemplates"][0][
        "LaunchTemplateId"
    ]


def refresh(deployed: Deployed, group: str, refresh_id: str) -> dict[str, Any]:
    return deployed.client("autoscaling").describe_instance_refreshes(
        AutoScalingGroupName=group, InstanceRefreshIds=[refresh_id]
    )["InstanceRefreshes"][0]


def lifecycle_answers(deployed: Deployed, instance_id: str, since: float) -> list[dict[str, Any]]:
    """lifecycle-health's answers about `instance_id` in invocations started after `since`."""
    return [
        json.loads(i["response"])
        for i in deployed.control("GET", "/lambda/invocations")
        if i["function"] == f"{STACK}-lifecycle-health"
        and i.get("event", "").endswith(instance_id)
        and i["started"] >= since
        and i.get("response", "").startswith("{")
    ]


def test_a_warm_instance_prepared_on_the_previous_release_is_abandoned_when_promoted_and_fresh_ones_let_in(deployed):
    group, asg = "web-dev", deployed.client("autoscaling")
    first = new_release(deployed, group, "r1")
    asg.update_auto_scaling_group(
        AutoScalingGroupName=group,
        LaunchTemplate={"LaunchTemplateId": template_id_of(deployed, group), "Version": str(first)},
    )
    with booting(deployed, group) as user_data:
        asg.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=2)
        # MaxSize 4: the pool prepares max(1, 3 − 2) = 1 instance, on r1, going EC2 → WarmPool.
        asg.put_warm_pool(AutoScalingGroupName=group, MinSize=1, MaxGroupPreparedCapacity=3)
        (prepared,) = wait_for(
            "the warm instance to be prepared",
            lambda: [
                i
                for i in asg.describe_warm_pool(AutoScalingGroupName=group)["Instances"]
                if i["LifecycleState"] == "Warmed:Stopped"
            ],
        )
        entry = next(a for a in user_data.actions() if a["EC2InstanceId"] == prepared["InstanceId"])
        assert (entry["Destination"], entry["Result"]) == ("WarmPool", "CONTINUE")

        second = new_release(deployed, group, "r2")
        refresh_id = asg.start_instance_refresh(
            AutoScalingGroupName=group,
            DesiredConfiguration={
                "LaunchTemplate": {"LaunchTemplateId": template_id_of(deployed, group), "Version": str(second)}
            },
            Preferences={"MinHealthyPercentage": 50, "InstanceWarmup": 5},
        )["InstanceRefreshId"]
        promoted_at = time.time()
        # A scale-out during the refresh takes the prepared instance, still on r1, from the pool.
        asg.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=3)
        promotion = wait_for(
            "the promotion's action",
            lambda: next(
                (
                    a
                    for a in user_data.actions()
                    if a["EC2InstanceId"] == prepared["InstanceId"] and a["Destination"] == "AutoScalingGroup"
                ),
                None,
            ),
        )
        # The same event delivered twice more, at once: the action is answered once.
        event = next(
            e
            for e in deployed.control("GET", "/events")
            if e["detail"].get("LifecycleActionToken") == promotion["LifecycleActionToken"]
        )
        duplicates = [
            threading.Thread(
                target=lambda: deployed.client("lambda").invoke(
                    FunctionName=f"{STACK}-lifecycle-health", Payload=json.dumps(event)
                )
            )
            for _ in range(2)
        ]
        for thread in duplicates:
            thread.start()
        for thread in duplicates:
            thread.join()
        done = wait_for(
            "the refresh to succeed",
            lambda: (r := refresh(deployed, group, refresh_id))["Status"] not in ("Pending", "InProgress") and r,
            timeout=300,
        )
    assert done["Status"] == "Successful", done
    assert done["ProgressDetails"]["WarmPoolProgress"] == {"PercentageComplete": 100, "InstancesToUpdate": 0}

    promotion = next(a for a in user_data.actions() if a["LifecycleActionToken"] == promotion["LifecycleActionToken"])
    assert promotion["Result"] == "ABANDON"
    answers = [a for a in lifecycle_answers(deployed, prepared["InstanceId"], promoted_at) if "result" in a]
    decided = [a for a in answers if a["result"] in ("CONTINUE", "ABANDON") and not a["alreadyClosed"]]
    assert len(decided) == 1, answers
    assert decided[0]["reason"].startswith("stale instance: it runs release r1 (")
    assert "but the group now launches release r2 (lt-" in decided[0]["reason"]
    assert f"version {second}, from instance refresh {refresh_id})" in decided[0]["reason"]
    assert len(answers) == 3 and all(
        a["alreadyClosed"] or a.get("result") == "ALREADY_CLOSED" for a in answers if a not in decided
    )

    live = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"][0]["Instances"]
    assert len(live) == 3 and {(i["LifecycleState"], i["LaunchTemplate"]["Version"]) for i in live} == {
        ("InService", str(second))
    }
    assert prepared["InstanceId"] not in {i["InstanceId"] for i in live}
    pool = asg.describe_warm_pool(AutoScalingGroupName=group)["Instances"]
    assert {(i["LifecycleState"], i["LaunchTemplate"]["Version"]) for i in pool} == {("Warmed:Stopped", str(second))}
    # Every other action of the release was let in by lifecycle-health, after its boot.
    others = [a for a in user_data.actions() if a["LifecycleActionToken"] != promotion["LifecycleActionToken"]]
    assert others and {a["Result"] for a in others} == {"CONTINUE"}


def test_a_root_volume_replacement_waits_for_this_boots_bootstrap_tag(deployed):
    group, asg, ec2 = "web-production", deployed.client("autoscaling"), deployed.client("ec2")
    release = new_release(deployed, group, "r1")
    template = template_id_of(deployed, group)
    image = ec2.describe_launch_template_versions(LaunchTemplateId=template, Versions=["1"])["LaunchTemplateVersions"][
        0
    ]["LaunchTemplateData"]["ImageId"]
    policy = {
        "LaunchTemplate": {
            "LaunchTemplateSpecification": {"LaunchTemplateId": template, "Version": str(release)},
            "Overrides": [{"InstanceType": "t3.micro", "ImageId": image}],
        }
    }
    asg.update_auto_scaling_group(AutoScalingGroupName=group, MixedInstancesPolicy=policy)
    asg.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=2)
    before = [
        i["InstanceId"]
        for i in asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"][0]["Instances"]
    ]
    # Their earlier boots said complete: after the replacement that is no longer this boot's word,
    # whether the tag's time says so (older than the new root volume) or it has none to prove otherwise.
    ec2.create_tags(
        Resources=before[:1],
        Tags=[{"Key": "bootstrap", "Value": "complete"}, {"Key": "bootstrap-at", "Value": "2026-01-01T00:00:00Z"}],
    )
    ec2.create_tags(Resources=before[1:], Tags=[{"Key": "bootstrap", "Value": "complete"}])
    new_image = sorted(i["ImageId"] for i in ec2.describe_images()["Images"] if i["ImageId"] != image)[0]
    policy["LaunchTemplate"]["Overrides"][0]["ImageId"] = new_image
    with booting(deployed, group, delay=8) as user_data:
        refresh_id = asg.start_instance_refresh(
            AutoScalingGroupName=group,
            Strategy="ReplaceRootVolume",
            DesiredConfiguration={"MixedInstancesPolicy": policy},
            Preferences={"MinHealthyPercentage": 50, "InstanceWarmup": 0},
        )["InstanceRefreshId"]
        done = wait_for(
            "the refresh to succeed",
            lambda: (r := refresh(deployed, group, refresh_id))["Status"] not in ("Pending", "InProgress") and r,
            timeout=300,
        )
    assert done["Status"] == "Successful", done
    after = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"][0]["Instances"]
    assert sorted(i["InstanceId"] for i in after) == sorted(before), "the same instances"
    actions = user_data.actions()
    assert len(actions) == 2 and {a["Result"] for a in actions} == {"CONTINUE"}
    for action in actions:
        # Let in only once this boot tagged it: the earlier boot's `complete` did not count.
        tagged = user_data.tagged.get(action["LifecycleActionToken"])
        assert tagged is not None and utc(action["Completed"]) >= tagged, f"let in on an earlier boot's tag: {action}"
    images = {i["ImageId"] for r in ec2.describe_instances(InstanceIds=before)["Reservations"] for i in r["Instances"]}
    assert images == {new_image}
