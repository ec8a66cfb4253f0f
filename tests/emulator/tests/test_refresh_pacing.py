"""How a refresh paces itself: batch sizes from the healthy percentages (and the group's defaults),
checkpoints that slow batches down, partial refreshes, and which version each instance runs."""

from __future__ import annotations

from conftest import instances, make_group, new_version, refresh
from test_instance_refresh import start


def versions(aws, group: str = "web") -> list[str]:
    return sorted(i["LaunchTemplate"]["Version"] for i in instances(aws, group))


def in_service(aws, group: str = "web") -> int:
    return sum(1 for i in instances(aws, group) if i["LifecycleState"] == "InService")


def watch(aws, control, refresh_id: str, seconds: int = 600) -> list[tuple[int, int, int]]:
    """(instances, in service, percentage complete) every second until the refresh ends."""
    seen = []
    for _ in range(seconds):
        seen.append(
            (len(instances(aws, "web")), in_service(aws), refresh(aws, "web", refresh_id)["PercentageComplete"])
        )
        if refresh(aws, "web", refresh_id)["Status"] not in ("Pending", "InProgress"):
            break
        control.advance(1)
    return seen


def test_each_instance_reports_the_version_it_was_launched_from(aws, control):
    # API_Instance / API_AutoScalingInstanceDetails: LaunchTemplate is "the launch template for the
    # instance", so a group half-way through a release shows both versions.
    group = make_group(aws, desired=4)
    version = new_version(aws, group["template_id"], "r2")
    refresh_id = start(aws, "web", version, MinHealthyPercentage=50, CheckpointPercentages=[50], InstanceWarmup=0)
    control.settle()
    assert refresh(aws, "web", refresh_id)["Status"] == "Successful"
    assert versions(aws) == ["1", "1", str(version), str(version)]
    ids = [i["InstanceId"] for i in instances(aws, "web")]
    described = aws("autoscaling").describe_auto_scaling_instances(InstanceIds=ids)["AutoScalingInstances"]
    assert sorted(d["LaunchTemplate"]["Version"] for d in described) == versions(aws)


def test_skip_matching_compares_each_instances_own_version_on_a_latest_group(aws, control):
    # Auto Scaling user guide, "Use skip matching": instances already on the desired configuration
    # are skipped, the others replaced. A group on $Latest whose instances run v1 is not "matching"
    # just because the group's setting resolves to v2 now.
    group = make_group(aws, desired=2)
    aws("autoscaling").update_auto_scaling_group(
        AutoScalingGroupName="web", LaunchTemplate={"LaunchTemplateId": group["template_id"], "Version": "$Latest"}
    )
    version = new_version(aws, group["template_id"], "r2")
    assert versions(aws) == ["1", "1"], "the running instances were launched from v1"
    refresh_id = start(aws, "web", version, SkipMatching=True, MinHealthyPercentage=50, InstanceWarmup=0)
    first = refresh(aws, "web", refresh_id)
    assert first["InstancesToUpdate"] == 2
    control.settle()
    assert refresh(aws, "web", refresh_id)["Status"] == "Successful"
    assert versions(aws) == [str(version), str(version)]


def test_batches_never_take_the_group_below_min_healthy_and_launch_into_the_room_above(aws, control):
    # API_RefreshPreferences: MinHealthyPercentage is the share of desired capacity kept in service;
    # MaxHealthyPercentage the most that may run (in service or pending) while replacing.
    group = make_group(aws, desired=4)
    refresh_id = start(
        aws,
        "web",
        new_version(aws, group["template_id"], "r2"),
        MinHealthyPercentage=50,
        MaxHealthyPercentage=150,
        InstanceWarmup=5,
    )
    seen = watch(aws, control, refresh_id)
    assert refresh(aws, "web", refresh_id)["Status"] == "Successful"
    assert min(serving for _, serving, _ in seen) >= 2, seen
    assert max(count for count, _, _ in seen) == 6, "one batch of 4: two launched beside, two in place"
    assert versions(aws) == ["2", "2", "2", "2"]


def test_a_group_created_through_the_api_has_no_health_check_grace_period(aws, control):
    # API_CreateAutoScalingGroup, HealthCheckGracePeriod: "Default: 0 seconds" (300 is the console's).
    make_group(aws, desired=1)
    described = aws("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=["web"])["AutoScalingGroups"][0]
    assert described["HealthCheckGracePeriod"] == 0


def test_the_group_maintenance_policy_and_default_warmup_are_the_refresh_defaults(aws, control):
    # API_RefreshPreferences: Min/MaxHealthyPercentage default to the group's instance maintenance
    # policy; InstanceWarmup to DefaultInstanceWarmup, else HealthCheckGracePeriod.
    group = make_group(aws, desired=2)
    aws("autoscaling").update_auto_scaling_group(
        AutoScalingGroupName="web",
        InstanceMaintenancePolicy={"MinHealthyPercentage": 100, "MaxHealthyPercentage": 200},
        DefaultInstanceWarmup=30,
        HealthCheckGracePeriod=300,
    )
    described = aws("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=["web"])["AutoScalingGroups"][0]
    assert described["InstanceMaintenancePolicy"] == {"MinHealthyPercentage": 100, "MaxHealthyPercentage": 200}
    assert described["DefaultInstanceWarmup"] == 30
    refresh_id = start(aws, "web", new_version(aws, group["template_id"], "r2"))
    control.advance(2)
    assert len(instances(aws, "web")) == 4 and in_service(aws) == 4, "launch before terminating"
    control.advance(30)
    done = refresh(aws, "web", refresh_id)
    assert done["Status"] == "Successful", "warmed for 30 s, not the 300 s grace period"
    assert len(instances(aws, "web")) == 2


def test_min_healthy_100_without_room_above_replaces_one_at_a_time(aws, control):
    # RefreshPreferences: "Setting the minimum healthy percentage to 100 percent limits the rate of
    # replacement to one instance at a time."
    group = make_group(aws, desired=3)
    refresh_id = start(
        aws, "web", new_version(aws, group["template_id"], "r2"), MinHealthyPercentage=100, InstanceWarmup=10
    )
    seen = watch(aws, control, refresh_id)
    assert refresh(aws, "web", refresh_id)["Status"] == "Successful"
    assert max(count for count, _, _ in seen) == 3, "no room above desired capacity: nothing launches beside"
    assert sorted({percent for _, _, percent in seen}) == [0, 33, 66, 100], "one instance per batch"


def test_checkpoints_pace_batches_to_stop_at_each_percentage(aws, control):
    # Add checkpoints to an instance refresh: "To reach a checkpoint percentage, Amazon EC2 Auto
    # Scaling will sometimes replace fewer but never more than what the minimum healthy percentage allows."
    group = make_group(aws, desired=10)
    refresh_id = start(
        aws,
        "web",
        new_version(aws, group["template_id"], "r2"),
        MinHealthyPercentage=70,
        CheckpointPercentages=[20, 50, 100],
        CheckpointDelay=100,
        InstanceWarmup=0,
    )
    control.advance(10)
    assert refresh(aws, "web", refresh_id)["PercentageComplete"] == 20, "two, not the three min healthy allows"
    control.advance(100)
    control.advance(10)
    assert refresh(aws, "web", refresh_id)["PercentageComplete"] == 50, "three more, stopping at 50"
    control.settle()
    assert refresh(aws, "web", refresh_id)["Status"] == "Successful"
    reached = [
        e["detail"]["CheckpointPercentage"]
        for e in control.events("EC2 Auto Scaling Instance Refresh Checkpoint Reached")
    ]
    assert reached == ["20", "50"]


def test_a_checkpoint_jumped_over_is_skipped_and_the_next_one_reported(aws, control):
    # Add checkpoints, considerations: two instances with [10, 40, 100] skip 10 and report 40.
    group = make_group(aws, desired=2)
    start(
        aws,
        "web",
        new_version(aws, group["template_id"], "r2"),
        MinHealthyPercentage=50,
        CheckpointPercentages=[10, 40, 100],
        CheckpointDelay=60,
        InstanceWarmup=0,
    )
    control.advance(5)
    reached = [
        e["detail"]["CheckpointPercentage"]
        for e in control.events("EC2 Auto Scaling Instance Refresh Checkpoint Reached")
    ]
    assert reached == ["40"]


def test_a_last_checkpoint_below_100_ends_successful_with_part_of_the_group_replaced(aws, control):
    # Enable checkpoints (AWS CLI): the last CheckpointPercentages value "describes the percentage of the
    # Auto Scaling group that needs to be successfully replaced"; then the refresh is Successful, no pause.
    group = make_group(aws, desired=4)
    version = new_version(aws, group["template_id"], "r2")
    refresh_id = start(
        aws, "web", version, MinHealthyPercentage=75, CheckpointPercentages=[50], CheckpointDelay=3600, InstanceWarmup=0
    )
    control.advance(10)
    done = refresh(aws, "web", refresh_id)
    assert done["Status"] == "Successful", "no checkpoint delay after the last checkpoint"
    assert (done["PercentageComplete"], done["InstancesToUpdate"]) == (50, 2)
    assert versions(aws) == ["1", "1", str(version), str(version)]
