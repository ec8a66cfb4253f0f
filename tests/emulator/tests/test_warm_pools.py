"""Warm pools and the ReplaceRootVolume refresh strategy, against the Auto Scaling user guide's
descriptions ("Warm pools for Amazon EC2 Auto Scaling", "Warm pool EventBridge events",
"Replace root volume", "Instance refresh EventBridge events")."""

from __future__ import annotations

import pytest
from conftest import instances, make_group, new_version, refresh
from test_instance_refresh import error_of, start
from test_lifecycle import launch_events


def warm(aws, group: str = "web") -> list[dict]:
    return aws("autoscaling").describe_warm_pool(AutoScalingGroupName=group)["Instances"]


def ec2_state(aws, instance_id: str) -> str:
    return aws("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]["Name"]


def complete(aws, token: str, result: str = "CONTINUE") -> None:
    aws("autoscaling").complete_lifecycle_action(
        AutoScalingGroupName="web", LifecycleHookName="health", LifecycleActionResult=result, LifecycleActionToken=token
    )


def answer_all(aws, control, result: str = "CONTINUE") -> None:
    """Answers every open launch action, as a lifecycle-health that lets everything in would."""
    for action in control.get("/lifecycle-actions"):
        if action["Result"] is None:
            complete(aws, action["LifecycleActionToken"], result)


# ---------------------------------------------------------------- warm pools


def test_a_warm_pool_prepares_its_instances_under_the_launch_hook_then_stops_them(aws, control):
    make_group(aws, desired=2, hook=True)  # MaxSize 4
    aws("autoscaling").put_warm_pool(AutoScalingGroupName="web", MinSize=1)
    pool = warm(aws)
    # max(MinSize, MaxGroupPreparedCapacity (default MaxSize) − DesiredCapacity) = max(1, 4 − 2)
    assert len(pool) == 2 and {i["LifecycleState"] for i in pool} == {"Warmed:Pending:Wait"}
    events = [e["detail"] for e in launch_events(control)]
    assert [(d["Origin"], d["Destination"]) for d in events] == [("EC2", "WarmPool")] * 2
    assert {d["EC2InstanceId"] for d in events} == {i["InstanceId"] for i in pool}
    assert instances(aws, "web") == [] or all(
        i["InstanceId"] not in {p["InstanceId"] for p in pool} for i in instances(aws, "web")
    )
    for d in events:
        complete(aws, d["LifecycleActionToken"])
    pool = warm(aws)
    assert {i["LifecycleState"] for i in pool} == {"Warmed:Stopped"}
    assert {ec2_state(aws, i["InstanceId"]) for i in pool} == {"stopped"}
    configuration = aws("autoscaling").describe_warm_pool(AutoScalingGroupName="web")["WarmPoolConfiguration"]
    assert configuration == {"MinSize": 1, "PoolState": "Stopped"}


def test_the_pool_state_says_how_prepared_instances_wait(aws, control):
    make_group(aws, desired=1)
    aws("autoscaling").put_warm_pool(AutoScalingGroupName="web", MaxGroupPreparedCapacity=2, PoolState="Running")
    (only,) = warm(aws)
    assert only["LifecycleState"] == "Warmed:Running" and ec2_state(aws, only["InstanceId"]) == "running"
    code, message, _ = error_of(
        lambda: aws("autoscaling").put_warm_pool(AutoScalingGroupName="web", PoolState="Frozen")
    )
    assert code == "ValidationError" and "[Hibernated, Running, Stopped]" in message


def test_a_scale_out_promotes_a_prepared_instance_under_a_new_action(aws, control):
    make_group(aws, desired=2, hook=True)
    aws("autoscaling").put_warm_pool(AutoScalingGroupName="web", MinSize=1)
    answer_all(aws, control)
    prepared = {i["InstanceId"] for i in warm(aws)}
    first_tokens = {e["detail"]["LifecycleActionToken"] for e in launch_events(control)}
    aws("autoscaling").set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=3)
    (promoted,) = [i for i in instances(aws, "web") if i["InstanceId"] in prepared]
    assert promoted["LifecycleState"] == "Pending:Wait" and ec2_state(aws, promoted["InstanceId"]) == "running"
    (event,) = [e["detail"] for e in launch_events(control) if e["detail"]["Origin"] == "WarmPool"]
    assert (event["EC2InstanceId"], event["Destination"]) == (promoted["InstanceId"], "AutoScalingGroup")
    assert event["LifecycleActionToken"] not in first_tokens, "the same instance, a new action"
    # The first action's token answers nothing now: it cannot let the instance into the group.
    old = next(
        e["detail"]["LifecycleActionToken"]
        for e in launch_events(control)
        if e["detail"]["EC2InstanceId"] == promoted["InstanceId"] and e["detail"]["Destination"] == "WarmPool"
    )
    code, message, _ = error_of(lambda: complete(aws, old))
    assert (code, message) == ("ValidationError", f"No active Lifecycle Action found with token {old}")
    complete(aws, event["LifecycleActionToken"])
    assert (
        next(i for i in instances(aws, "web") if i["InstanceId"] == promoted["InstanceId"])["LifecycleState"]
        == "InService"
    )
    # The pool keeps max(1, 4 − 3) = 1 instance: one stayed, none launched.
    assert len(warm(aws)) == 1


def test_an_abandoned_promotion_is_replaced(aws, control):
    make_group(aws, desired=2, hook=True)
    aws("autoscaling").put_warm_pool(AutoScalingGroupName="web", MinSize=0, MaxGroupPreparedCapacity=3)
    answer_all(aws, control)
    (prepared,) = warm(aws)
    aws("autoscaling").set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=3)
    (promotion,) = [e["detail"] for e in launch_events(control) if e["detail"]["Origin"] == "WarmPool"]
    complete(aws, promotion["LifecycleActionToken"], "ABANDON")
    assert ec2_state(aws, prepared["InstanceId"]) == "terminated"
    control.advance(1)
    replacement = [
        e["detail"]
        for e in launch_events(control)
        if e["detail"]["Origin"] == "EC2" and e["detail"]["Destination"] == "AutoScalingGroup"
    ]
    assert len(replacement) == 1, "launched from EC2: the pool had nothing prepared left"
    complete(aws, replacement[0]["LifecycleActionToken"])
    control.advance(1)
    assert len(instances(aws, "web")) == 3


def test_an_instance_refresh_replaces_the_warm_pool_after_the_live_pool(aws, control):
    group = make_group(aws, desired=2)
    aws("autoscaling").put_warm_pool(AutoScalingGroupName="web", MinSize=2)
    stale = {i["InstanceId"] for i in warm(aws)}
    version = new_version(aws, group["template_id"], "r2")
    refresh_id = start(aws, "web", version, MinHealthyPercentage=50, InstanceWarmup=0)
    progress = refresh(aws, "web", refresh_id)["ProgressDetails"]
    assert progress["WarmPoolProgress"] == {"PercentageComplete": 0, "InstancesToUpdate": 2}
    control.settle()
    done = refresh(aws, "web", refresh_id)
    assert done["Status"] == "Successful"
    assert done["ProgressDetails"]["WarmPoolProgress"] == {"PercentageComplete": 100, "InstancesToUpdate": 0}
    pool = warm(aws)
    assert len(pool) == 2 and not stale & {i["InstanceId"] for i in pool}
    assert {i["LaunchTemplate"]["Version"] for i in pool} == {str(version)}
    assert {i["LaunchTemplate"]["Version"] for i in instances(aws, "web")} == {str(version)}


def test_a_scale_out_during_a_refresh_launches_the_desired_configuration(aws, control):
    group = make_group(aws, desired=2)
    aws("autoscaling").put_warm_pool(AutoScalingGroupName="web", MinSize=0, MaxGroupPreparedCapacity=2)
    assert warm(aws) == []
    version = new_version(aws, group["template_id"], "r2")
    start(aws, "web", version, MinHealthyPercentage=100, InstanceWarmup=600)
    control.advance(2)
    aws("autoscaling").set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=4)
    versions = [i["LaunchTemplate"]["Version"] for i in instances(aws, "web")]
    assert versions.count(str(version)) >= 2, versions


def test_deleting_the_warm_pool_terminates_its_instances(aws, control):
    make_group(aws, desired=1)
    aws("autoscaling").put_warm_pool(AutoScalingGroupName="web", MinSize=1)
    (only,) = warm(aws)
    aws("autoscaling").delete_warm_pool(AutoScalingGroupName="web", ForceDelete=True)
    assert warm(aws) == [] and ec2_state(aws, only["InstanceId"]) == "terminated"
    assert "WarmPoolConfiguration" not in aws("autoscaling").describe_warm_pool(AutoScalingGroupName="web")


# ---------------------------------------------------------------- ReplaceRootVolume


def root_volume(aws, instance_id: str) -> dict:
    instance = aws("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    mapping = next(m for m in instance["BlockDeviceMappings"] if m["DeviceName"] == instance["RootDeviceName"])
    return {"ImageId": instance["ImageId"], **mapping["Ebs"]}


def replace_root(aws, group: dict, image: str | None = "ami-0new", version: str = "1", **prefs) -> str:
    override = {"InstanceType": "t3.small"} | ({"ImageId": image} if image else {})
    return aws("autoscaling").start_instance_refresh(
        AutoScalingGroupName="web",
        Strategy="ReplaceRootVolume",
        DesiredConfiguration={
            "MixedInstancesPolicy": {
                "LaunchTemplate": {
                    "LaunchTemplateSpecification": {"LaunchTemplateId": group["template_id"], "Version": version},
                    "Overrides": [override],
                }
            }
        },
        Preferences={"MinHealthyPercentage": 50, "InstanceWarmup": 0, **prefs},
    )["InstanceRefreshId"]


def test_a_root_volume_replacement_keeps_each_instance_and_holds_it_under_the_launch_hook(aws, control):
    group = make_group(aws, desired=2, hook=True, mixed=True)
    before = {i["InstanceId"]: root_volume(aws, i["InstanceId"]) for i in instances(aws, "web")}
    control.advance(2)
    refresh_id = replace_root(aws, group)
    control.advance(2)
    (event,) = [e["detail"] for e in launch_events(control)]
    assert (event["Origin"], event["Destination"], event["Action"]) == (
        "AutoScalingGroup",
        "AutoScalingGroup",
        "ReplaceRootVolume",
    )
    assert event["EC2InstanceId"] in before
    waiting = next(i for i in instances(aws, "web") if i["InstanceId"] == event["EC2InstanceId"])
    assert waiting["LifecycleState"] == "Pending:Wait"
    after = root_volume(aws, event["EC2InstanceId"])
    old = before[event["EC2InstanceId"]]
    assert after["ImageId"] == "ami-0new" and after["VolumeId"] != old["VolumeId"]
    assert after["AttachTime"] > old["AttachTime"], "a new root volume, attached now"
    complete(aws, event["LifecycleActionToken"])
    control.advance(2)
    answer_all(aws, control)
    control.settle()
    done = refresh(aws, "web", refresh_id)
    assert (done["Status"], done["Strategy"]) == ("Successful", "ReplaceRootVolume")
    assert {i["InstanceId"] for i in instances(aws, "web")} == set(before), "the same instances"
    assert {root_volume(aws, i)["ImageId"] for i in before} == {"ami-0new"}


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("no-mixed-policy", "requires the Auto Scaling group to use a mixed instances policy"),
        ("override-without-image", "must specify an ImageId"),
        ("latest", "$Latest or $Default"),
        ("warm-pool", "has a warm pool"),
    ],
)
def test_a_root_volume_replacement_is_refused_where_aws_refuses_it(aws, control, setup, expected):
    group = make_group(aws, desired=1, mixed=setup != "no-mixed-policy")
    if setup == "warm-pool":
        aws("autoscaling").put_warm_pool(AutoScalingGroupName="web", MinSize=1)
    image = None if setup == "override-without-image" else "ami-0new"
    version = "$Latest" if setup == "latest" else "1"
    code, message, status = error_of(lambda: replace_root(aws, group, image, version))
    assert (code, status) == ("ValidationError", 400) and expected in message, message


def test_no_warm_pool_joins_a_group_during_a_root_volume_replacement(aws, control):
    group = make_group(aws, desired=1, hook=True, mixed=True)
    replace_root(aws, group)
    code, message, _ = error_of(lambda: aws("autoscaling").put_warm_pool(AutoScalingGroupName="web", MinSize=1))
    assert code == "InstanceRefreshInProgress" and "ReplaceRootVolume" in message
