"""Lifecycle hooks during a refresh: Pending:Wait, the EventBridge event, CONTINUE / ABANDON,
heartbeats, timeouts and the AWS errors for an action that is no longer active."""

from __future__ import annotations

import json

from conftest import instance_tags, instances, make_group, new_version, refresh
from test_instance_refresh import error_of, start


def launch_events(control):
    return control.events("EC2 Instance-launch Lifecycle Action")


def complete(aws, result: str, **target):
    aws("autoscaling").complete_lifecycle_action(
        AutoScalingGroupName="web", LifecycleHookName="health", LifecycleActionResult=result, **target
    )


def test_new_instances_wait_in_pending_wait_and_an_event_names_each(aws, control):
    group = make_group(aws, desired=2, hook=True)
    version = new_version(aws, group["template_id"], "r2")
    start(aws, "web", version, MinHealthyPercentage=50, AutoRollback=True)
    control.advance(2)
    waiting = [i for i in instances(aws, "web") if i["LifecycleState"] == "Pending:Wait"]
    assert len(waiting) == 1
    (event,) = launch_events(control)
    assert event["source"] == "aws.autoscaling" and event["detail-type"] == "EC2 Instance-launch Lifecycle Action"
    detail = event["detail"]
    assert detail["EC2InstanceId"] == waiting[0]["InstanceId"]
    assert detail["LifecycleTransition"] == "autoscaling:EC2_INSTANCE_LAUNCHING"
    assert detail["AutoScalingGroupName"] == "web" and detail["LifecycleHookName"] == "health"
    assert len(detail["LifecycleActionToken"]) == 36
    assert json.loads(detail["NotificationMetadata"]) == {"port": 8080}
    assert instance_tags(aws, waiting[0]["InstanceId"])["release"] == "r2"


def test_continue_by_token_and_by_instance_id_drives_the_refresh_to_success(aws, control):
    group = make_group(aws, desired=2, hook=True)
    version = new_version(aws, group["template_id"], "r2")
    refresh_id = start(aws, "web", version, MinHealthyPercentage=50, AutoRollback=True, InstanceWarmup=0)
    control.advance(2)
    first = launch_events(control)[0]["detail"]
    complete(aws, "CONTINUE", LifecycleActionToken=first["LifecycleActionToken"])
    control.advance(2)
    second = launch_events(control)[1]["detail"]
    complete(aws, "CONTINUE", InstanceId=second["EC2InstanceId"])
    control.settle()
    assert refresh(aws, "web", refresh_id)["Status"] == "Successful"
    assert {i["LifecycleState"] for i in instances(aws, "web")} == {"InService"}


def test_an_abandoned_launch_is_replaced_by_a_new_instance_with_its_own_lifecycle_action(aws, control):
    # A launch that its lifecycle hook abandons has failed (Auto Scaling user guide, "Lifecycle hooks":
    # ABANDON terminates the instance); the refresh keeps its capacity by launching another, which
    # waits in Pending:Wait with a new action, instead of failing at once.
    group = make_group(aws, desired=2, hook=True)
    version = new_version(aws, group["template_id"], "r2")
    refresh_id = start(aws, "web", version, MinHealthyPercentage=50, AutoRollback=True, InstanceWarmup=0)
    control.advance(2)
    bad = launch_events(control)[0]["detail"]
    complete(aws, "ABANDON", LifecycleActionToken=bad["LifecycleActionToken"])
    control.advance(1)
    assert refresh(aws, "web", refresh_id)["Status"] == "InProgress"
    state = aws("ec2").describe_instances(InstanceIds=[bad["EC2InstanceId"]])["Reservations"][0]["Instances"][0][
        "State"
    ]
    assert state["Name"] in ("shutting-down", "terminated")
    retry = launch_events(control)[1]["detail"]
    assert retry["EC2InstanceId"] != bad["EC2InstanceId"]
    assert retry["LifecycleActionToken"] != bad["LifecycleActionToken"]
    assert instance_tags(aws, retry["EC2InstanceId"])["release"] == "r2"
    for _ in range(10):
        for event in launch_events(control):
            try:
                complete(aws, "CONTINUE", LifecycleActionToken=event["detail"]["LifecycleActionToken"])
            except Exception:
                pass  # already completed
        control.settle()
    assert refresh(aws, "web", refresh_id)["Status"] == "Successful"


def test_launches_that_keep_failing_fail_the_refresh_and_roll_it_back(aws, control):
    # AWS does not say after how many failed launches a refresh gives up: the emulator stops at
    # LAUNCH_FAILURE_LIMIT (3), inferred, and says so in the reason.
    group = make_group(aws, desired=2, hook=True)
    version = new_version(aws, group["template_id"], "r2")
    refresh_id = start(aws, "web", version, MinHealthyPercentage=50, AutoRollback=True, InstanceWarmup=0)
    control.advance(2)
    for attempt in range(3):
        assert refresh(aws, "web", refresh_id)["Status"] == "InProgress", attempt
        detail = launch_events(control)[attempt]["detail"]
        complete(aws, "ABANDON", LifecycleActionToken=detail["LifecycleActionToken"])
        control.advance(1)
    rolling = refresh(aws, "web", refresh_id)
    assert rolling["Status"] == "RollbackInProgress"
    reason = rolling["RollbackDetails"]["RollbackReason"]
    assert reason.startswith("3 instance launches failed") and detail["EC2InstanceId"] in reason, reason
    # The rollback's replacement launches through the hook too.
    control.settle()
    for event in launch_events(control)[3:]:
        complete(aws, "CONTINUE", LifecycleActionToken=event["detail"]["LifecycleActionToken"])
    control.settle()
    done = refresh(aws, "web", refresh_id)
    assert done["Status"] == "RollbackSuccessful"
    assert all("release" not in instance_tags(aws, i["InstanceId"]) for i in instances(aws, "web"))


def test_launches_that_keep_failing_without_auto_rollback_fail_the_refresh(aws, control):
    group = make_group(aws, desired=2, hook=True)
    version = new_version(aws, group["template_id"], "r2")
    refresh_id = start(aws, "web", version, MinHealthyPercentage=50)
    control.advance(2)
    for attempt in range(3):
        complete(aws, "ABANDON", InstanceId=launch_events(control)[attempt]["detail"]["EC2InstanceId"])
        control.advance(1)
    failed = refresh(aws, "web", refresh_id)
    assert failed["Status"] == "Failed" and "ABANDON" in failed["StatusReason"]
    assert "3 instance launches failed" in failed["StatusReason"]


def test_completing_an_action_that_is_no_longer_active_answers_the_aws_validation_error(aws, control):
    group = make_group(aws, desired=1, hook=True)
    version = new_version(aws, group["template_id"], "r2")
    start(aws, "web", version, MinHealthyPercentage=0)
    control.advance(2)
    detail = launch_events(control)[0]["detail"]
    complete(aws, "CONTINUE", LifecycleActionToken=detail["LifecycleActionToken"])
    code, message, status = error_of(
        lambda: complete(aws, "CONTINUE", LifecycleActionToken=detail["LifecycleActionToken"])
    )
    assert (code, status) == ("ValidationError", 400)
    assert message == f"No active Lifecycle Action found with token {detail['LifecycleActionToken']}"
    code, message, _ = error_of(
        lambda: aws("autoscaling").record_lifecycle_action_heartbeat(
            AutoScalingGroupName="web", LifecycleHookName="health", InstanceId=detail["EC2InstanceId"]
        )
    )
    assert message == f"No active Lifecycle Action found with instance ID {detail['EC2InstanceId']}"


def test_the_heartbeat_timeout_applies_the_default_result_and_heartbeats_extend_it(aws, control):
    group = make_group(aws, desired=1, hook=True, hook_timeout=60, default_result="ABANDON")
    version = new_version(aws, group["template_id"], "r2")
    refresh_id = start(aws, "web", version, MinHealthyPercentage=0)
    control.advance(2)
    detail = launch_events(control)[0]["detail"]
    control.advance(50)
    aws("autoscaling").record_lifecycle_action_heartbeat(
        AutoScalingGroupName="web", LifecycleHookName="health", LifecycleActionToken=detail["LifecycleActionToken"]
    )
    control.advance(50)
    assert refresh(aws, "web", refresh_id)["Status"] == "InProgress", "the heartbeat moved the timeout"
    control.advance(15)
    action, retry = control.get("/lifecycle-actions")
    assert action["Result"] == "TIMEOUT:ABANDON" and action["Heartbeats"] == 1
    assert retry["Result"] is None and retry["EC2InstanceId"] != action["EC2InstanceId"], "the launch is retried"
    assert refresh(aws, "web", refresh_id)["Status"] == "InProgress"


def test_heartbeats_cannot_extend_past_the_global_timeout(aws, control):
    group = make_group(aws, desired=1, hook=True, hook_timeout=30, default_result="CONTINUE")
    version = new_version(aws, group["template_id"], "r2")
    start(aws, "web", version, MinHealthyPercentage=0)
    control.advance(2)
    token = launch_events(control)[0]["detail"]["LifecycleActionToken"]
    for _ in range(110):  # 100 x 30 s is the global bound
        control.advance(29)
        try:
            aws("autoscaling").record_lifecycle_action_heartbeat(
                AutoScalingGroupName="web", LifecycleHookName="health", LifecycleActionToken=token
            )
        except Exception:
            break
    (action,) = control.get("/lifecycle-actions")
    assert action["Result"] == "TIMEOUT:CONTINUE"
    assert action["Heartbeats"] <= 104


def test_cancel_waits_for_instances_in_transition_by_default(aws, control):
    # API_CancelInstanceRefresh, WaitForTransitioningInstances: "Indicates whether to wait for in-flight
    # launches and terminations to complete before cancelling the instance refresh. Default: true."
    group = make_group(aws, desired=2, hook=True)
    version = new_version(aws, group["template_id"], "r2")
    refresh_id = start(aws, "web", version, MinHealthyPercentage=50, InstanceWarmup=0)
    control.advance(2)
    (waiting,) = [e["detail"] for e in launch_events(control)]
    aws("autoscaling").cancel_instance_refresh(AutoScalingGroupName="web")
    control.advance(30)
    assert refresh(aws, "web", refresh_id)["Status"] == "Cancelling", "the launch in Pending:Wait is still in flight"
    complete(aws, "CONTINUE", LifecycleActionToken=waiting["LifecycleActionToken"])
    control.advance(1)
    done = refresh(aws, "web", refresh_id)
    assert done["Status"] == "Cancelled"
    assert len(launch_events(control)) == 1, "no replacement started after the cancel"
    running = instances(aws, "web")
    assert len(running) == 2 and waiting["EC2InstanceId"] in {i["InstanceId"] for i in running}


def test_cancel_without_waiting_for_transitions_ends_at_once(aws, control):
    group = make_group(aws, desired=2, hook=True)
    refresh_id = start(aws, "web", new_version(aws, group["template_id"], "r2"), MinHealthyPercentage=50)
    control.advance(2)
    aws("autoscaling").cancel_instance_refresh(AutoScalingGroupName="web", WaitForTransitioningInstances=False)
    control.advance(1)
    assert refresh(aws, "web", refresh_id)["Status"] == "Cancelled"


def test_a_rollback_in_progress_can_be_cancelled(aws, control):
    # API_CancelInstanceRefresh: "Cancels an instance refresh or rollback that is in progress."
    group = make_group(aws, desired=2, hook=True)
    refresh_id = start(
        aws, "web", new_version(aws, group["template_id"], "r2"), MinHealthyPercentage=50, InstanceWarmup=0
    )
    control.advance(2)
    complete(aws, "CONTINUE", LifecycleActionToken=launch_events(control)[0]["detail"]["LifecycleActionToken"])
    control.advance(2)
    aws("autoscaling").rollback_instance_refresh(AutoScalingGroupName="web")
    control.advance(2)
    assert refresh(aws, "web", refresh_id)["Status"] == "RollbackInProgress"
    aws("autoscaling").cancel_instance_refresh(AutoScalingGroupName="web", WaitForTransitioningInstances=False)
    control.advance(1)
    cancelled = refresh(aws, "web", refresh_id)
    assert cancelled["Status"] == "Cancelled" and cancelled["RollbackDetails"]["RollbackReason"]
    code, _, _ = error_of(lambda: aws("autoscaling").cancel_instance_refresh(AutoScalingGroupName="web"))
    assert code == "ActiveInstanceRefreshNotFound"


def test_an_instance_joins_the_groups_target_group_only_once_its_hook_lets_it_in_and_leaves_when_replaced(aws, control):
    group = make_group(aws, desired=1, hook=True)
    vpc = aws("ec2").describe_vpcs()["Vpcs"][0]["VpcId"]
    elbv2 = aws("elbv2")
    target_group = elbv2.create_target_group(Name="web", Protocol="HTTP", Port=8080, VpcId=vpc)["TargetGroups"][0]
    arn = target_group["TargetGroupArn"]
    aws("autoscaling").attach_load_balancer_target_groups(AutoScalingGroupName="web", TargetGroupARNs=[arn])
    (old,) = [i["InstanceId"] for i in instances(aws, "web")]
    version = new_version(aws, group["template_id"], "r2")
    start(aws, "web", version, MinHealthyPercentage=100, MaxHealthyPercentage=200, InstanceWarmup=0)
    control.advance(2)

    def registered() -> set[str]:
        return {t["Target"]["Id"] for t in elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]}

    new = launch_events(control)[0]["detail"]["EC2InstanceId"]
    assert new not in registered(), "not while it waits in Pending:Wait"
    complete(aws, "CONTINUE", InstanceId=new)
    control.settle()
    assert registered() == {new}, "the new instance is in, the replaced one is out"
    assert old not in registered()
