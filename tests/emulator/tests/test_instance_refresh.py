"""Instance refresh: validation like AWS, and a state machine that really replaces instances."""

from __future__ import annotations

import botocore.exceptions
import pytest
from conftest import instance_tags, instances, make_group, new_version, refresh


def error_of(call) -> tuple[str, str, int]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call()
    err = caught.value.response
    return err["Error"]["Code"], err["Error"]["Message"], err["ResponseMetadata"]["HTTPStatusCode"]


def start(aws, group: str, version: int | str | None, **prefs):
    kwargs = {"AutoScalingGroupName": group, "Preferences": prefs}
    if version is not None:
        kwargs["DesiredConfiguration"] = {
            "LaunchTemplate": {"LaunchTemplateName": f"{group}-lt", "Version": str(version)}
        }
    return aws("autoscaling").start_instance_refresh(**kwargs)["InstanceRefreshId"]


def test_an_unknown_group_is_a_validation_error(aws, control):
    code, message, status = error_of(lambda: aws("autoscaling").start_instance_refresh(AutoScalingGroupName="nope"))
    assert (code, status) == ("ValidationError", 400)
    assert message == "AutoScalingGroup name not found - AutoScalingGroup nope not found"
    code, message, _ = error_of(lambda: aws("autoscaling").describe_instance_refreshes(AutoScalingGroupName="nope"))
    assert code == "ValidationError"


def test_auto_rollback_without_a_desired_configuration_is_refused_with_the_aws_text(aws, control):
    make_group(aws)
    code, message, _ = error_of(lambda: start(aws, "web", None, AutoRollback=True))
    assert code == "ValidationError"
    assert message.startswith(
        "The request isn't valid. The AutoRollback parameter cannot be set to true when the DesiredConfiguration parameter is empty."
    )


def test_auto_rollback_to_latest_is_refused(aws, control):
    make_group(aws)
    code, message, _ = error_of(lambda: start(aws, "web", "$Latest", AutoRollback=True))
    assert code == "ValidationError" and "$Latest" in message


@pytest.mark.parametrize("group_version", ["$Latest", "$Default"])
def test_auto_rollback_is_refused_when_the_group_itself_uses_latest_or_default(aws, control, group_version):
    # Auto Scaling user guide, "Undo changes with a rollback": "The rollback option is not available
    # if the Auto Scaling group is configured to use the $Latest or $Default launch template version."
    group = make_group(aws)
    aws("autoscaling").update_auto_scaling_group(
        AutoScalingGroupName="web", LaunchTemplate={"LaunchTemplateId": group["template_id"], "Version": group_version}
    )
    version = new_version(aws, group["template_id"], "r2")
    code, message, status = error_of(lambda: start(aws, "web", version, AutoRollback=True))
    assert (code, status) == ("ValidationError", 400)
    assert group_version in message
    assert start(aws, "web", version, AutoRollback=False), "without AutoRollback the same refresh starts"


@pytest.mark.parametrize(
    "prefs",
    [
        {"MinHealthyPercentage": 101},
        {"MinHealthyPercentage": 50, "MaxHealthyPercentage": 201},
        {"MinHealthyPercentage": 50, "MaxHealthyPercentage": 160},
        {"CheckpointPercentages": [50, 20]},
        {"BakeTime": 172801},
    ],
)
def test_preferences_out_of_bounds_are_validation_errors(aws, control, prefs):
    group = make_group(aws)
    version = new_version(aws, group["template_id"], "r2")
    code, _, status = error_of(lambda: start(aws, "web", version, **prefs))
    assert (code, status) == ("ValidationError", 400)


def test_a_second_refresh_while_one_runs_is_refused(aws, control):
    group = make_group(aws)
    version = new_version(aws, group["template_id"], "r2")
    start(aws, "web", version)
    code, message, status = error_of(lambda: start(aws, "web", version))
    assert (code, status) == ("InstanceRefreshInProgress", 400)
    assert message == "An Instance Refresh is already in progress and blocks the execution of this Instance Refresh."


def test_a_refresh_replaces_every_instance_with_the_desired_version_and_updates_the_group(aws, control):
    group = make_group(aws, desired=4)
    old = {i["InstanceId"] for i in instances(aws, "web")}
    version = new_version(aws, group["template_id"], "r2")
    refresh_id = start(aws, "web", version, MinHealthyPercentage=50, InstanceWarmup=30)
    first = refresh(aws, "web", refresh_id)
    assert first["Status"] == "Pending" and first["PercentageComplete"] == 0 and first["InstancesToUpdate"] == 4
    control.advance(1)
    mid = refresh(aws, "web", refresh_id)
    assert mid["Status"] == "InProgress"
    control.advance(31)
    half = refresh(aws, "web", refresh_id)
    assert half["PercentageComplete"] == 50 and half["InstancesToUpdate"] == 2
    control.settle()
    done = refresh(aws, "web", refresh_id)
    assert done["Status"] == "Successful" and done["PercentageComplete"] == 100 and "EndTime" in done
    now = instances(aws, "web")
    assert len(now) == 4 and not ({i["InstanceId"] for i in now} & old)
    assert all(instance_tags(aws, i["InstanceId"])["release"] == "r2" for i in now)
    types = {
        r["Instances"][0]["InstanceType"]
        for r in aws("ec2").describe_instances(InstanceIds=[i["InstanceId"] for i in now])["Reservations"]
    }
    assert types == {"t3.micro"}, "the new version inherits its SourceVersion's data"
    described = aws("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=["web"])["AutoScalingGroups"][0]
    assert described["LaunchTemplate"]["Version"] == str(version)
    kinds = [e["detail-type"] for e in control.events() if "Instance Refresh" in e["detail-type"]]
    assert kinds == ["EC2 Auto Scaling Instance Refresh Started", "EC2 Auto Scaling Instance Refresh Succeeded"]


def test_min_healthy_100_with_max_200_launches_before_terminating(aws, control):
    group = make_group(aws, desired=2)
    version = new_version(aws, group["template_id"], "r2")
    refresh_id = start(aws, "web", version, MinHealthyPercentage=100, MaxHealthyPercentage=200, InstanceWarmup=10)
    control.advance(1)
    assert len(instances(aws, "web")) == 4, "both replacements launch while the old ones still serve"
    control.settle()
    assert refresh(aws, "web", refresh_id)["Status"] == "Successful"
    assert len(instances(aws, "web")) == 2


def test_skip_matching_leaves_instances_already_on_the_version(aws, control):
    make_group(aws, desired=2)
    refresh_id = start(aws, "web", 1, SkipMatching=True)
    control.settle()
    done = refresh(aws, "web", refresh_id)
    assert done["Status"] == "Successful" and done["InstancesToUpdate"] == 0
    assert len(instances(aws, "web")) == 2


def test_checkpoints_pause_for_the_delay_then_go_on(aws, control):
    group = make_group(aws, desired=4)
    version = new_version(aws, group["template_id"], "r2")
    refresh_id = start(
        aws,
        "web",
        version,
        MinHealthyPercentage=50,
        CheckpointPercentages=[50, 100],
        CheckpointDelay=600,
        InstanceWarmup=0,
    )
    control.advance(5)
    paused = refresh(aws, "web", refresh_id)
    assert paused["PercentageComplete"] == 50 and "checkpoint" in paused["StatusReason"]
    control.advance(300)
    assert refresh(aws, "web", refresh_id)["PercentageComplete"] == 50
    control.advance(310)
    control.settle()
    assert refresh(aws, "web", refresh_id)["Status"] == "Successful"
    # Add checkpoints to an instance refresh: "Amazon EC2 Auto Scaling emits events for each checkpoint,
    # except for the 100% complete checkpoint", and the event names the checkpoint and its delay.
    (event,) = control.events("EC2 Auto Scaling Instance Refresh Checkpoint Reached")
    assert event["detail"]["CheckpointPercentage"] == "50" and event["detail"]["CheckpointDelay"] == "600"


def test_bake_time_holds_the_refresh_in_baking(aws, control):
    group = make_group(aws, desired=1)
    version = new_version(aws, group["template_id"], "r2")
    refresh_id = start(aws, "web", version, MinHealthyPercentage=0, BakeTime=120, InstanceWarmup=0)
    control.advance(3)
    assert refresh(aws, "web", refresh_id)["Status"] == "Baking"
    control.advance(121)
    assert refresh(aws, "web", refresh_id)["Status"] == "Successful"


def test_cancel_ends_cancelled_and_keeps_replaced_instances(aws, control):
    group = make_group(aws, desired=4)
    version = new_version(aws, group["template_id"], "r2")
    refresh_id = start(aws, "web", version, MinHealthyPercentage=50)
    control.advance(2)
    aws("autoscaling").cancel_instance_refresh(AutoScalingGroupName="web")
    assert refresh(aws, "web", refresh_id)["Status"] in ("Cancelling", "Cancelled")
    control.advance(1)
    assert refresh(aws, "web", refresh_id)["Status"] == "Cancelled"
    code, _, _ = error_of(lambda: aws("autoscaling").cancel_instance_refresh(AutoScalingGroupName="web"))
    assert code == "ActiveInstanceRefreshNotFound"


def test_an_alarm_in_alarm_rolls_the_refresh_back(aws, control):
    group = make_group(aws, desired=2)
    cloudwatch = aws("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName="5xx",
        MetricName="HTTPCode_Target_5XX_Count",
        Namespace="AWS/ApplicationELB",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    version = new_version(aws, group["template_id"], "r2")
    refresh_id = start(
        aws, "web", version, MinHealthyPercentage=50, AutoRollback=True, AlarmSpecification={"Alarms": ["5xx"]}
    )
    control.advance(2)
    cloudwatch.set_alarm_state(AlarmName="5xx", StateValue="ALARM", StateReason="test")
    control.settle()
    done = refresh(aws, "web", refresh_id)
    assert done["Status"] == "RollbackSuccessful"
    assert "5xx" in done["RollbackDetails"]["RollbackReason"]
    assert all(instance_tags(aws, i["InstanceId"]).get("release") is None for i in instances(aws, "web"))


def test_rollback_on_request_and_irreversible_without_desired_configuration(aws, control):
    group = make_group(aws, desired=2)
    refresh_id = start(aws, "web", None, MinHealthyPercentage=50)
    code, _, _ = error_of(lambda: aws("autoscaling").rollback_instance_refresh(AutoScalingGroupName="web"))
    assert code == "IrreversibleInstanceRefresh"
    aws("autoscaling").cancel_instance_refresh(AutoScalingGroupName="web")
    control.advance(1)
    version = new_version(aws, group["template_id"], "r2")
    second = start(aws, "web", version, MinHealthyPercentage=50)
    control.advance(1)
    aws("autoscaling").rollback_instance_refresh(AutoScalingGroupName="web")
    control.settle()
    assert refresh(aws, "web", second)["Status"] == "RollbackSuccessful"
    assert refresh(aws, "web", refresh_id)["Status"] == "Cancelled"


def test_refreshes_are_listed_newest_first(aws, control):
    make_group(aws, desired=1)
    first = start(aws, "web", 1, MinHealthyPercentage=0)
    control.settle()
    second = start(aws, "web", 1, MinHealthyPercentage=0)
    listed = aws("autoscaling").describe_instance_refreshes(AutoScalingGroupName="web")["InstanceRefreshes"]
    assert [r["InstanceRefreshId"] for r in listed] == [second, first]
    one = aws("autoscaling").describe_instance_refreshes(AutoScalingGroupName="web", MaxRecords=1)
    assert len(one["InstanceRefreshes"]) == 1 and one["NextToken"]


def test_a_mixed_instances_group_is_refreshed_inside_its_policy(aws, control):
    group = make_group(aws, desired=2, mixed=True)
    version = new_version(aws, group["template_id"], "r2")
    refresh_id = aws("autoscaling").start_instance_refresh(
        AutoScalingGroupName="web",
        Preferences={"MinHealthyPercentage": 50},
        DesiredConfiguration={
            "MixedInstancesPolicy": {
                "LaunchTemplate": {
                    "LaunchTemplateSpecification": {"LaunchTemplateId": group["template_id"], "Version": str(version)},
                    "Overrides": [{"InstanceType": "t3.small"}],
                }
            }
        },
    )["InstanceRefreshId"]
    control.settle()
    assert refresh(aws, "web", refresh_id)["Status"] == "Successful"
    described = aws("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=["web"])["AutoScalingGroups"][0]
    spec = described["MixedInstancesPolicy"]["LaunchTemplate"]["LaunchTemplateSpecification"]
    assert spec["Version"] == str(version)
    assert all(instance_tags(aws, i["InstanceId"])["release"] == "r2" for i in instances(aws, "web"))


def test_during_a_rollback_percentage_complete_falls_and_rollback_details_keep_the_snapshot(aws, control):
    # API_InstanceRefresh / API_RollbackDetails: PercentageCompleteOnRollback and
    # InstancesToUpdateOnRollback are the values when the rollback started; PercentageComplete
    # goes back down toward 0 as instances return to the previous configuration.
    group = make_group(aws, desired=4)
    refresh_id = start(
        aws, "web", new_version(aws, group["template_id"], "r2"), MinHealthyPercentage=75, InstanceWarmup=30
    )
    for _ in range(200):
        control.advance(1)
        if refresh(aws, "web", refresh_id)["PercentageComplete"] >= 50:
            break
    before = refresh(aws, "web", refresh_id)
    assert before["Status"] == "InProgress" and 50 <= before["PercentageComplete"] < 100, before
    aws("autoscaling").rollback_instance_refresh(AutoScalingGroupName="web")
    seen = []
    for _ in range(200):
        now = refresh(aws, "web", refresh_id)
        if now["Status"] != "RollbackInProgress":
            break
        seen.append(now)
        control.advance(1)
    assert now["Status"] == "RollbackSuccessful", now
    assert seen, "the rollback was observed in progress"
    details = {
        (r["RollbackDetails"]["PercentageCompleteOnRollback"], r["RollbackDetails"]["InstancesToUpdateOnRollback"])
        for r in seen
    }
    assert details == {(before["PercentageComplete"], before["InstancesToUpdate"])}, "a snapshot, not a moving figure"
    percents = [r["PercentageComplete"] for r in seen]
    assert percents == sorted(percents, reverse=True) and percents[0] == before["PercentageComplete"], percents
    assert percents[-1] < percents[0], f"it fell as instances returned: {percents}"
