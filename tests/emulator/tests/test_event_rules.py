"""EventBridge rules on the default bus: EventBridge's pattern semantics, delivery to targets,
RetryPolicy and the dead-letter queue (EventBridge user guide: "Event patterns", "Using
dead-letter queues to process undelivered events")."""

from __future__ import annotations

import json
import time

import pytest

PATTERNS = {
    "exact": {"source": ["aws.autoscaling"], "detail": {"AutoScalingGroupName": ["web-staging"]}},
    "prefix": {"detail": {"AutoScalingGroupName": [{"prefix": "web-"}]}},
    "anything-but": {
        "source": ["aws.autoscaling"],
        "detail": {"AutoScalingGroupName": [{"anything-but": ["web-staging"]}]},
    },
    "exists": {"detail": {"Origin": [{"exists": True}]}},
    "absent": {"source": ["aws.autoscaling"], "detail": {"Origin": [{"exists": False}]}},
    "numeric": {"detail": {"size": [{"numeric": [">=", 10, "<", 20]}]}},
}

EVENTS = {
    "staging": {"AutoScalingGroupName": "web-staging", "Origin": "EC2"},
    "production": {"AutoScalingGroupName": "web-production"},
    "other": {"AutoScalingGroupName": "api-staging", "size": 10},
    "big": {"AutoScalingGroupName": "api-dev", "size": 20},
}

# Which events each pattern takes, as EventBridge's documentation describes each operator.
EXPECTED = {
    "exact": {"staging"},
    "prefix": {"staging", "production"},
    "anything-but": {"production", "other", "big"},
    "exists": {"staging"},
    "absent": {"production", "other", "big"},
    "numeric": {"other"},
}


def queue(aws, name: str) -> tuple[str, str]:
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def received(aws, url: str, wait: float = 3.0) -> list[dict]:
    sqs = aws("sqs")
    messages, deadline = [], time.time() + wait
    while time.time() < deadline:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get(
            "Messages", []
        )
        messages += batch
        if not batch and messages:
            break
        time.sleep(0.1)
    return messages


def emit(control, detail: dict, detail_type: str = "EC2 Instance-launch Lifecycle Action") -> dict:
    return control.post("/events", {"source": "aws.autoscaling", "detailType": detail_type, "detail": detail})


def test_rules_match_with_eventbridges_pattern_semantics(aws, control):
    events = aws("events")
    queues = {}
    for name, pattern in PATTERNS.items():
        url, arn = queue(aws, f"rule-{name}")
        queues[name] = url
        events.put_rule(Name=name, EventPattern=json.dumps(pattern))
        events.put_targets(Rule=name, Targets=[{"Id": "q", "Arn": arn}])
    for detail in EVENTS.values():
        emit(control, detail)
    time.sleep(1)
    for name, url in queues.items():
        got = {json.loads(m["Body"])["detail"]["AutoScalingGroupName"] for m in received(aws, url, wait=1)}
        wanted = {EVENTS[e]["AutoScalingGroupName"] for e in EXPECTED[name]}
        assert got == wanted, name


def test_an_event_matching_no_rule_goes_nowhere(aws, control):
    events = aws("events")
    url, arn = queue(aws, "staging-only")
    events.put_rule(Name="staging-only", EventPattern=json.dumps(PATTERNS["exact"]))
    events.put_targets(Rule="staging-only", Targets=[{"Id": "q", "Arn": arn}])
    emit(control, EVENTS["production"])
    time.sleep(0.5)
    assert received(aws, url, wait=0.5) == []
    assert control.get("/events/deliveries") == []


def test_a_disabled_rule_delivers_nothing(aws, control):
    events = aws("events")
    url, arn = queue(aws, "disabled")
    events.put_rule(Name="disabled", EventPattern=json.dumps(PATTERNS["prefix"]), State="DISABLED")
    events.put_targets(Rule="disabled", Targets=[{"Id": "q", "Arn": arn}])
    emit(control, EVENTS["staging"])
    time.sleep(0.5)
    assert received(aws, url, wait=0.5) == []


@pytest.mark.parametrize(
    ("setup", "code"),
    [("missing-function", "RESOURCE_NOT_FOUND"), ("no-permission", "NO_PERMISSIONS")],
)
def test_an_undeliverable_event_is_retried_as_the_policy_says_then_dead_lettered(aws, control, setup, code):
    events, lam, iam = aws("events"), aws("lambda"), aws("iam")
    dlq_url, dlq_arn = queue(aws, f"dlq-{setup}")
    target = "arn:aws:lambda:us-east-1:123456789012:function:nobody"
    if setup == "no-permission":
        role = iam.create_role(
            RoleName="fn", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []})
        )
        target = lam.create_function(
            FunctionName="no-permission",
            Runtime="provided.al2023",
            Role=role["Role"]["Arn"],
            Handler="bootstrap",
            Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
        )["FunctionArn"]
    rule_arn = events.put_rule(Name="launches", EventPattern=json.dumps(PATTERNS["exact"]))["RuleArn"]
    events.put_targets(
        Rule="launches",
        Targets=[
            {
                "Id": "health",
                "Arn": target,
                "RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600},
                "DeadLetterConfig": {"Arn": dlq_arn},
            }
        ],
    )
    event = emit(control, EVENTS["staging"])
    messages = received(aws, dlq_url, wait=5)
    assert len(messages) == 1
    assert json.loads(messages[0]["Body"]) == event
    attributes = {k: v["StringValue"] for k, v in messages[0]["MessageAttributes"].items()}
    assert attributes["RULE_ARN"] == rule_arn
    assert attributes["TARGET_ARN"] == target
    assert attributes["ERROR_CODE"] == code
    assert attributes["RETRY_ATTEMPTS"] == "3"
    assert attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumRetryAttempts"
    [delivery] = control.get("/events/deliveries")
    assert delivery["attempts"] == 4 and delivery["status"] == "dead-lettered"


def test_a_target_input_replaces_the_event(aws, control):
    events = aws("events")
    url, arn = queue(aws, "constant")
    events.put_rule(Name="constant", EventPattern=json.dumps(PATTERNS["exact"]))
    events.put_targets(Rule="constant", Targets=[{"Id": "q", "Arn": arn, "Input": json.dumps({"fixed": True})}])
    emit(control, EVENTS["staging"])
    [message] = received(aws, url)
    assert json.loads(message["Body"]) == {"fixed": True}
