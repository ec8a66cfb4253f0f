"""The real `sam deploy` of template.yaml into a fresh emulator (scripts/local-deploy's path),
checked against the template itself: every resource of the expanded template exists with its
declared properties, a second deploy changes nothing, an update changes only what changed, a
broken resource fails the deploy and leaves nothing behind, and a lifecycle event of a deployed
group reaches the real lifecycle-health binary through the deployed rule."""

from __future__ import annotations

import json
import time
from typing import Any

from conftest import FUNCTIONS, ROOT, STACK, Deployed, local_deploy
from emulator import cloudformation

# ---------------------------------------------------------------- the template, read independently


def parameters(deployed: Deployed, template: dict[str, Any]) -> dict[str, Any]:
    given = dict(
        o.split("=", 1) for o in [*local_deploy.local_overrides(), *local_deploy.fleet_overrides(deployed.endpoint)]
    )
    values: dict[str, Any] = {}
    for name, spec in template["Parameters"].items():
        value = given.get(name, str(spec.get("Default", "")))
        values[name] = (
            value.split(",") if spec["Type"] in ("CommaDelimitedList", "List<AWS::EC2::Subnet::Id>") else value
        )
    return values


def evaluate(node: Any, params: dict[str, Any], conditions: dict[str, Any]) -> Any:
    """The condition functions the template uses, over parameter values."""
    if not isinstance(node, dict):
        return node
    [(function, argument)] = node.items()
    if function == "Ref":
        return params[argument]
    if function == "Condition":
        return evaluate(conditions[argument], params, conditions)
    values = [evaluate(a, params, conditions) for a in argument] if isinstance(argument, list) else argument
    return {
        "Fn::Equals": lambda: str(values[0]) == str(values[1]),
        "Fn::Not": lambda: not values[0],
        "Fn::And": lambda: all(values),
        "Fn::Or": lambda: any(values),
        "Fn::Join": lambda: values[0].join(values[1]),
        "Fn::Split": lambda: values[1].split(values[0]),
        "Fn::Select": lambda: values[1][int(values[0])],
    }[function]()


def expected_resources(deployed: Deployed) -> dict[str, str]:
    """Logical id → type of every resource the expanded template makes with these parameters
    (the template as `sam deploy` packaged it, through the SAM translator)."""
    packaged = deployed.client("cloudformation").get_template(StackName=STACK)["TemplateBody"]
    raw = cloudformation._original_parse_template(packaged) if isinstance(packaged, str) else packaged
    params = parameters(deployed, raw)
    expanded = cloudformation.apply_transform(raw, local_deploy.REGION)
    conditions = expanded.get("Conditions", {})
    return {
        logical_id: resource["Type"]
        for logical_id, resource in expanded["Resources"].items()
        if "Condition" not in resource or evaluate({"Condition": resource["Condition"]}, params, conditions)
    }


# ---------------------------------------------------------------- the first deploy


def test_sam_deploy_creates_the_stack_and_its_nested_fleets(deployed):
    assert deployed.code == 0, deployed.output[-3000:]
    assert f"Successfully created/updated stack - {STACK} in {local_deploy.REGION}" in deployed.output
    cfn = deployed.client("cloudformation")
    assert cfn.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    nested = [
        r
        for r in local_deploy.stack_resources(deployed.endpoint, STACK)
        if r["ResourceType"] == "AWS::CloudFormation::Stack"
    ]
    assert sorted(r["LogicalResourceId"] for r in nested) == ["DevFleet", "ProductionFleet", "StagingFleet"]
    for stack in nested:
        assert (
            cfn.describe_stacks(StackName=stack["PhysicalResourceId"])["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
        )


def test_every_resource_of_the_expanded_template_exists_with_its_type(deployed):
    made = {
        r["LogicalResourceId"]: r["ResourceType"]
        for r in deployed.client("cloudformation").describe_stack_resources(StackName=STACK)["StackResources"]
    }
    assert made == expected_resources(deployed)
    statuses = {r["ResourceStatus"] for r in local_deploy.stack_resources(deployed.endpoint, STACK)}
    assert statuses == {"CREATE_COMPLETE"}


def test_the_functions_are_arm64_with_the_environment_the_template_declares(deployed):
    raw = cloudformation._original_parse_template((ROOT / "template.yaml").read_text())
    ids = deployed.physical_ids()
    lam = deployed.client("lambda")
    for logical_id, binary in FUNCTIONS.items():
        declared = raw["Resources"][logical_id]
        config = lam.get_function(FunctionName=f"{STACK}-{binary}")["Configuration"]
        assert config["Architectures"] == ["arm64"]
        assert (config["Runtime"], config["Handler"], config["MemorySize"]) == ("provided.al2023", "bootstrap", 128)
        assert config["Timeout"] == declared["Properties"]["Timeout"]
        declared_env = (declared["Properties"].get("Environment") or {}).get("Variables", {})
        # Every variable the template sets unconditionally is there; the rest only when their condition holds.
        unconditional = {k for k, v in declared_env.items() if not (isinstance(v, dict) and "Fn::If" in v)}
        deployed_env = set((config.get("Environment") or {}).get("Variables", {}))
        assert unconditional <= deployed_env <= set(declared_env)
        assert declared["Metadata"]["BuildProperties"]["Binary"] == binary
    qa = lam.get_function(FunctionName=f"{STACK}-qa-notify")["Configuration"]["Environment"]["Variables"]
    assert qa["QA_NOTIFY_TOPIC_ARN"] == ids["QaTopic"]
    gate = lam.get_function(FunctionName=f"{STACK}-approval-gate")["Configuration"]["Environment"]["Variables"]
    assert gate["GATE_STAGING_GROUP"] == "web-staging"


def test_the_rules_have_their_patterns_and_targets(deployed):
    events = deployed.client("events")
    ids = deployed.physical_ids()
    queue_arn = deployed.client("sqs").get_queue_attributes(
        QueueUrl=ids["UndeliveredEventsQueue"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    launch = json.loads(events.describe_rule(Name=ids["LifecycleHealthFunctionLaunchActions"])["EventPattern"])
    assert launch == {
        "source": ["aws.autoscaling"],
        "detail-type": ["EC2 Instance-launch Lifecycle Action"],
        "detail": {"AutoScalingGroupName": ["web-dev", "web-staging", "web-production"]},
    }
    approval = json.loads(events.describe_rule(Name=ids["ApprovalGateFunctionApprovalStarted"])["EventPattern"])
    assert approval["detail"] == {
        "pipeline": [f"{STACK}-release"],
        "stage": ["Approval"],
        "action": ["QA"],
        "state": ["STARTED"],
    }
    for rule, function in [
        ("LifecycleHealthFunctionLaunchActions", "lifecycle-health"),
        ("ApprovalGateFunctionApprovalStarted", "approval-gate"),
        ("QaNotifyFunctionApprovalStartedOrRejected", "qa-notify"),
        ("QaNotifyFunctionExecutionFailed", "qa-notify"),
    ]:
        [target] = events.list_targets_by_rule(Rule=ids[rule])["Targets"]
        assert target["Arn"] == f"arn:aws:lambda:{local_deploy.REGION}:123456789012:function:{STACK}-{function}"
        assert target["RetryPolicy"] == {"MaximumRetryAttempts": 10, "MaximumEventAgeInSeconds": 3600}
        assert target["DeadLetterConfig"] == {"Arn": queue_arn}


def test_each_group_has_the_launch_hook_and_the_alarms_exist(deployed):
    asg = deployed.client("autoscaling")
    for group in ("web-dev", "web-staging", "web-production"):
        [hook] = asg.describe_lifecycle_hooks(AutoScalingGroupName=group)["LifecycleHooks"]
        assert (hook["LifecycleHookName"], hook["HeartbeatTimeout"], hook["DefaultResult"]) == (
            f"{STACK}-launch-health",
            300,
            "ABANDON",
        )
    ids = deployed.physical_ids()
    alarms = {
        a["AlarmName"]: a
        for a in deployed.client("cloudwatch").describe_alarms(AlarmTypes=["MetricAlarm"])["MetricAlarms"]
    }
    declared = [k for k, t in expected_resources(deployed).items() if t == "AWS::CloudWatch::Alarm"]
    assert sorted(alarms) == sorted(ids[k] for k in declared)
    assert {a["StateValue"] for a in alarms.values()} == {"INSUFFICIENT_DATA"}
    assert {tuple(a["AlarmActions"]) for a in alarms.values()} == {(ids["OpsTopic"],)}
    assert [m["Id"] for m in alarms[ids["ThrottlesAlarm"]]["Metrics"]][0] == "throttles"


def test_the_pipelines_have_their_stages_and_actions(deployed):
    pipeline = deployed.client("codepipeline").get_pipeline(name=f"{STACK}-release")["pipeline"]
    assert [s["name"] for s in pipeline["stages"]] == ["Source", "Staging", "Approval", "Production"]
    invoked = [
        (s["name"], a["name"], a["configuration"]["FunctionName"])
        for s in pipeline["stages"]
        for a in s["actions"]
        if a["actionTypeId"]["provider"] == "Lambda"
    ]
    assert {f for _, _, f in invoked} == {f"{STACK}-instance-refresh", f"{STACK}-approval-gate", f"{STACK}-qa-notify"}
    [approval] = [a for s in pipeline["stages"] if s["name"] == "Approval" for a in s["actions"]]
    assert approval["actionTypeId"]["category"] == "Approval" and approval["name"] == "QA"


# ---------------------------------------------------------------- deploying again


def test_a_second_deploy_of_the_same_template_finds_nothing_to_change(deployed):
    before = deployed.physical_ids()
    code, output = local_deploy.sam_deploy(deployed.endpoint, deployed.directory, echo=False)
    assert code == 0 and local_deploy.NO_CHANGES in output, output[-2000:]
    assert deployed.physical_ids() == before


def test_an_update_changes_only_what_changed(deployed):
    before = deployed.physical_ids()
    code, output = local_deploy.sam_deploy(deployed.endpoint, deployed.directory, ["LogRetentionDays=7"], echo=False)
    assert code == 0, output[-3000:]
    cfn = deployed.client("cloudformation")
    latest = cfn.list_change_sets(StackName=STACK)["Summaries"][-1]
    changes = cfn.describe_change_set(ChangeSetName=latest["ChangeSetId"])["Changes"]
    assert sorted((c["ResourceChange"]["Action"], c["ResourceChange"]["LogicalResourceId"]) for c in changes) == [
        ("Modify", f"{name}Logs") for name in ("ApprovalGate", "InstanceRefresh", "LifecycleHealth", "QaNotify")
    ]
    assert cfn.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE"
    assert deployed.physical_ids() == before
    groups = deployed.client("logs").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{STACK}-")["logGroups"]
    assert len(groups) == 4 and {g["retentionInDays"] for g in groups} == {7}


def test_a_broken_resource_fails_the_deploy_with_the_reason_and_leaves_nothing(deployed, tmp_path):
    text = (ROOT / "template.yaml").read_text()
    broken = text.replace(
        "\nOutputs:\n",
        "  BrokenHook:\n    Type: AWS::AutoScaling::LifecycleHook\n    DependsOn: [QaNotifyFunction, QaTopic]\n    Properties:\n"
        "      AutoScalingGroupName: no-such-group\n      LifecycleTransition: autoscaling:EC2_INSTANCE_LAUNCHING\n\nOutputs:\n",
        1,
    )
    assert broken != text
    source = tmp_path / "template.yaml"
    source.write_text(broken)
    directory = local_deploy.stage(template=source, into=tmp_path / "stack")
    stack = "deployments-broken"
    code, output = local_deploy.sam_deploy(deployed.endpoint, directory, ["CreateFleet=false"], echo=False, stack=stack)
    assert code != 0
    # SAM prints the stack's events (its table wraps long cells): the failure, then the rollback.
    assert "CREATE_FAILED" in output and "BrokenHook" in output
    assert "ROLLBACK_COMPLETE" in output
    cfn = deployed.client("cloudformation")
    described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    assert described["StackStatus"] == "ROLLBACK_COMPLETE"
    assert "[BrokenHook]" in described["StackStatusReason"]
    [failed] = [
        e for e in cfn.describe_stack_events(StackName=stack)["StackEvents"] if e["ResourceStatus"] == "CREATE_FAILED"
    ]
    assert (failed["LogicalResourceId"], failed["ResourceStatusReason"]) == (
        "BrokenHook",
        "AutoScalingGroup name not found - The Auto Scaling group 'no-such-group' does not exist.",
    )
    assert cfn.describe_stack_resources(StackName=stack)["StackResources"] == []
    # Nothing of it remains: functions, topics, log groups, pipelines.
    assert [
        f for f in deployed.client("lambda").list_functions()["Functions"] if f["FunctionName"].startswith(stack)
    ] == []
    assert [t for t in deployed.client("sns").list_topics()["Topics"] if f":{stack}-" in t["TopicArn"]] == []
    assert deployed.client("logs").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{stack}-")["logGroups"] == []
    assert [
        p for p in deployed.client("codepipeline").list_pipelines()["pipelines"] if p["name"].startswith(stack)
    ] == []


# ---------------------------------------------------------------- events through the deployed rules


def test_a_lifecycle_event_of_a_deployed_group_reaches_lifecycle_health_through_the_deployed_rule(deployed):
    asg = deployed.client("autoscaling")
    asg.set_desired_capacity(AutoScalingGroupName="web-staging", DesiredCapacity=1)
    asg.start_instance_refresh(AutoScalingGroupName="web-staging", Preferences={"MinHealthyPercentage": 0})
    deadline = time.time() + 120
    actions: list[dict[str, Any]] = []
    while time.time() < deadline:
        actions = [
            a for a in deployed.control("GET", "/lifecycle-actions") if a["AutoScalingGroupName"] == "web-staging"
        ]
        if actions and all(a["Result"] for a in actions):
            break
        # The fleet's hooks wait for bootstrap=complete, which its user data sets at the end of a
        # boot: this emulator boots nothing (the local-run scenarios run the real script), so the
        # test says it for each waiting instance.
        waiting = [a["EC2InstanceId"] for a in actions if not a["Result"]]
        if waiting:
            deployed.client("ec2").create_tags(Resources=waiting, Tags=[{"Key": "bootstrap", "Value": "complete"}])
        time.sleep(0.5)
    assert actions and {a["Result"] for a in actions} == {"CONTINUE"}
    rule = deployed.physical_ids()["LifecycleHealthFunctionLaunchActions"]
    deliveries = [d for d in deployed.control("GET", "/events/deliveries") if d["rule"].endswith(f"/{rule}")]
    assert deliveries and {d["status"] for d in deliveries} == {"delivered"}
    invoked = [
        i for i in deployed.control("GET", "/lambda/invocations") if i["function"] == f"{STACK}-lifecycle-health"
    ]
    assert invoked and invoked[0]["binary"] == "lifecycle-health" and invoked[0]["functionError"] is None


def test_an_event_that_matches_no_rule_goes_nowhere(deployed):
    event = deployed.control(
        "POST",
        "/events",
        {
            "source": "aws.autoscaling",
            "detailType": "EC2 Instance-launch Lifecycle Action",
            "detail": {"AutoScalingGroupName": "web-other"},
        },
    )
    time.sleep(1)
    assert [d for d in deployed.control("GET", "/events/deliveries") if d["eventId"] == event["id"]] == []


# ---------------------------------------------------------------- invoking the deployed functions


def test_a_function_calling_itself_by_its_binary_name_reaches_its_deployed_self(deployed):
    """cargo lambda names a function by its binary (AWS_LAMBDA_FUNCTION_NAME): a function that
    invokes itself by that name must reach its deployed self."""
    event = (ROOT / "events" / "lifecycle-health" / "test-notification.json").read_bytes()
    answer = deployed.client("lambda").invoke(FunctionName="lifecycle-health", Payload=event)
    assert answer["StatusCode"] == 200 and "FunctionError" not in answer
    assert json.loads(answer["Payload"].read())["result"] == "ignored"
    assert deployed.control("GET", "/lambda/invocations")[-1]["function"] == f"{STACK}-lifecycle-health"


def test_a_recheck_reaches_lifecycle_health_through_the_deployed_event_source_mapping(deployed):
    """The recheck queue's mapping (SAM's SQS event) delivers each message once its delay has
    passed; a message the function cannot read is reported back and stays in the queue."""
    sqs = deployed.client("sqs")
    queue = deployed.physical_ids()["LifecycleRecheckQueue"]
    notification = json.loads((ROOT / "events" / "lifecycle-health" / "test-notification.json").read_text())
    readable = json.dumps({"continueCheck": notification, "progress": {"invocation": 1, "heartbeats": 0}})
    sent = time.time()
    good = sqs.send_message(QueueUrl=queue, MessageBody=readable, DelaySeconds=2)["MessageId"]
    bad = sqs.send_message(QueueUrl=queue, MessageBody="not a check")["MessageId"]
    deadline, delivered = time.time() + 120, {}
    while len(delivered) < 2 and time.time() < deadline:
        for d in deployed.control("GET", "/lambda/event-source-deliveries"):
            for message in d["messages"]:
                delivered.setdefault(message, (d, time.time()))
        time.sleep(0.2)
    assert set(delivered) == {good, bad}, delivered
    (good_delivery, good_at), (bad_delivery, _) = delivered[good], delivered[bad]
    assert good_delivery["function"] == f"{STACK}-lifecycle-health"
    assert good_delivery["failed"] == [] and good_at - sent >= 2, "delivered after its delay, and done"
    assert bad_delivery["failed"] == [bad] and bad_delivery["functionError"] is None, "reported back, not an error"
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    assert int(attributes["ApproximateNumberOfMessagesNotVisible"]) == 1, "the unreadable one waits out its visibility"
    sqs.purge_queue(QueueUrl=queue)


def test_an_asynchronous_invocation_that_keeps_failing_lands_in_the_failed_invocations_queue(deployed):
    event = json.loads((ROOT / "events" / "lifecycle-health" / "malformed.json").read_text())
    answer = deployed.client("lambda").invoke(
        FunctionName=f"{STACK}-lifecycle-health", InvocationType="Event", Payload=json.dumps(event)
    )
    assert answer["StatusCode"] == 202
    sqs = deployed.client("sqs")
    queue = deployed.physical_ids()["FailedInvocationsQueue"]
    deadline, messages = time.time() + 60, []
    while not messages and time.time() < deadline:
        messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages", [])
    [message] = messages
    record = json.loads(message["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3  # the first try and EventInvokeConfig's 2 retries
    assert record["requestPayload"] == event
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert "InvalidLifecycleEvent" in json.dumps(record["responsePayload"])
