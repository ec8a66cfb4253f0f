"""CloudFormation as `sam deploy` meets it: change sets that execute with per-resource events and
outputs, failures that roll back with the reason, no-change change sets, updates that keep
physical ids, nested stacks updated in place, the SAM transform, dynamic references, bucket
policies with their conditions. (tests/deploy runs the real `sam deploy` of template.yaml.)"""

from __future__ import annotations

import json

import pytest
import yaml
from botocore.exceptions import ClientError

TOPIC_AND_QUEUE = {
    "Parameters": {"Retention": {"Type": "Number", "Default": 345600}, "Email": {"Type": "String", "Default": ""}},
    "Conditions": {"HasEmail": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Email"}, ""]}]}},
    "Resources": {
        "Topic": {"Type": "AWS::SNS::Topic"},
        "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"MessageRetentionPeriod": {"Ref": "Retention"}}},
        "Mail": {
            "Type": "AWS::SNS::Subscription",
            "Condition": "HasEmail",
            "Properties": {"TopicArn": {"Ref": "Topic"}, "Protocol": "email", "Endpoint": {"Ref": "Email"}},
        },
    },
    "Outputs": {"TopicArn": {"Value": {"Ref": "Topic"}}, "QueueUrl": {"Value": {"Ref": "Queue"}}},
}


def deploy(cfn, name: str, template: dict, parameters: dict[str, str] | None = None, kind: str | None = None) -> dict:
    """CreateChangeSet → wait → ExecuteChangeSet, as `sam deploy` does; the change set described."""
    if kind is None:
        kind = (
            "UPDATE"
            if any(
                s["StackName"] == name and s["StackStatus"] != "DELETE_COMPLETE"
                for s in cfn.list_stacks()["StackSummaries"]
            )
            else "CREATE"
        )
    change_set = cfn.create_change_set(
        StackName=name,
        ChangeSetName=f"cs{abs(hash(json.dumps(template, sort_keys=True) + json.dumps(parameters)))}",
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in (parameters or {}).items()],
        ChangeSetType=kind,
        Capabilities=["CAPABILITY_IAM"],
    )
    described = cfn.describe_change_set(ChangeSetName=change_set["Id"])
    if described["Status"] == "CREATE_COMPLETE":
        cfn.execute_change_set(ChangeSetName=change_set["Id"])
    return described


def stack(cfn, name: str) -> dict:
    return cfn.describe_stacks(StackName=name)["Stacks"][0]


def physical_ids(cfn, name: str) -> dict[str, str]:
    return {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cfn.describe_stack_resources(StackName=name)["StackResources"]
    }


def test_a_stack_made_by_a_change_set_has_its_outputs_and_an_event_per_resource(aws, control):
    cfn = aws("cloudformation")
    deploy(cfn, "app", TOPIC_AND_QUEUE)
    described = stack(cfn, "app")
    assert described["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}
    assert outputs["TopicArn"].startswith("arn:aws:sns:us-east-1:123456789012:app-Topic-")
    assert aws("sqs").get_queue_attributes(QueueUrl=outputs["QueueUrl"], AttributeNames=["MessageRetentionPeriod"])
    statuses = [
        (e["LogicalResourceId"], e["ResourceStatus"])
        for e in reversed(cfn.describe_stack_events(StackName="app")["StackEvents"])
    ]
    for logical_id in ("Topic", "Queue"):
        assert statuses.index((logical_id, "CREATE_IN_PROGRESS")) < statuses.index((logical_id, "CREATE_COMPLETE"))
    assert statuses[-1] == ("app", "CREATE_COMPLETE")
    # A resource whose condition is false is not made and not listed.
    assert set(physical_ids(cfn, "app")) == {"Topic", "Queue"}


def test_the_same_template_again_is_a_change_set_without_changes(aws, control):
    cfn = aws("cloudformation")
    deploy(cfn, "app", TOPIC_AND_QUEUE)
    # Parameters given explicitly with their defaults change nothing either (SAM sends them so).
    again = deploy(cfn, "app", TOPIC_AND_QUEUE, {"Retention": "345600", "Email": ""})
    assert again["Status"] == "FAILED"
    assert again["StatusReason"].startswith("The submitted information didn't contain changes.")


def test_an_update_changes_only_what_changed_and_keeps_physical_ids(aws, control):
    cfn = aws("cloudformation")
    deploy(cfn, "app", TOPIC_AND_QUEUE)
    before = physical_ids(cfn, "app")
    update = deploy(cfn, "app", TOPIC_AND_QUEUE, {"Retention": "60", "Email": "qa@example.com"})
    assert sorted(
        (c["ResourceChange"]["Action"], c["ResourceChange"]["LogicalResourceId"]) for c in update["Changes"]
    ) == [
        ("Modify", "Mail"),
        ("Modify", "Queue"),
    ]
    assert stack(cfn, "app")["StackStatus"] == "UPDATE_COMPLETE"
    after = physical_ids(cfn, "app")
    assert {k: v for k, v in after.items() if k in before} == before
    queue_url = {o["OutputKey"]: o["OutputValue"] for o in stack(cfn, "app")["Outputs"]}["QueueUrl"]
    retention = aws("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["MessageRetentionPeriod"])
    assert retention["Attributes"]["MessageRetentionPeriod"] == "60"
    # The condition now holds: the subscription exists.
    assert [s["Endpoint"] for s in aws("sns").list_subscriptions()["Subscriptions"]] == ["qa@example.com"]


def test_a_resource_that_fails_rolls_the_new_stack_back_with_the_reason(aws, control):
    cfn = aws("cloudformation")
    broken = json.loads(json.dumps(TOPIC_AND_QUEUE))
    broken["Resources"]["Hook"] = {
        "Type": "AWS::AutoScaling::LifecycleHook",
        "DependsOn": ["Topic", "Queue"],
        "Properties": {
            "AutoScalingGroupName": "no-such-group",
            "LifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING",
        },
    }
    deploy(cfn, "broken", broken)
    described = stack(cfn, "broken")
    assert described["StackStatus"] == "ROLLBACK_COMPLETE"
    events = cfn.describe_stack_events(StackName="broken")["StackEvents"]
    failed = [e for e in events if e["ResourceStatus"] == "CREATE_FAILED"]
    assert [(e["LogicalResourceId"], e["ResourceStatusReason"]) for e in failed] == [
        ("Hook", "AutoScalingGroup name not found - The Auto Scaling group 'no-such-group' does not exist.")
    ]
    assert "The following resource(s) failed to create: [Hook]." in described["StackStatusReason"]
    # Nothing half-made is left: what was created is deleted again.
    assert aws("sns").list_topics()["Topics"] == []
    assert aws("sqs").list_queues().get("QueueUrls", []) == []
    assert cfn.describe_stack_resources(StackName="broken")["StackResources"] == []
    # A stack in ROLLBACK_COMPLETE cannot be updated, as on AWS.
    with pytest.raises(ClientError, match="ROLLBACK_COMPLETE state and can not be updated"):
        cfn.create_change_set(
            StackName="broken", ChangeSetName="again", TemplateBody=json.dumps(broken), ChangeSetType="UPDATE"
        )


def test_a_type_the_emulator_cannot_create_fails_the_deploy_loudly(aws, control):
    cfn = aws("cloudformation")
    template = {
        "Resources": {
            "Connection": {"Type": "AWS::CodeStarConnections::Connection", "Properties": {"ConnectionName": "x"}}
        }
    }
    deploy(cfn, "unsupported", template)
    assert stack(cfn, "unsupported")["StackStatus"] == "ROLLBACK_COMPLETE"
    [failed] = [
        e
        for e in cfn.describe_stack_events(StackName="unsupported")["StackEvents"]
        if e["ResourceStatus"] == "CREATE_FAILED"
    ]
    assert failed["ResourceStatusReason"].startswith("The emulator cannot create AWS::CodeStarConnections::Connection")


def test_a_type_aws_does_not_know_is_refused_before_anything_is_made(aws, control):
    with pytest.raises(ClientError, match=r"Unrecognized resource types: \[Nonsense\]"):
        deploy(aws("cloudformation"), "nonsense", {"Resources": {"X": {"Type": "Nonsense"}}})


def test_ssm_dynamic_references_are_resolved_when_the_resource_is_made(aws, control):
    aws("ssm").put_parameter(Name="/app/release/web", Value="7", Type="String")
    template = {
        "Parameters": {"Name": {"Type": "String", "Default": "/app/release/web"}},
        "Resources": {
            "Copy": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {"Name": "/app/copy", "Type": "String", "Value": {"Fn::Sub": "{{resolve:ssm:${Name}}}"}},
            }
        },
    }
    deploy(aws("cloudformation"), "refs", template)
    copy = physical_ids(aws("cloudformation"), "refs")["Copy"]
    assert aws("ssm").get_parameter(Name=copy)["Parameter"]["Value"] == "7"


def test_the_sam_transform_is_applied_and_the_function_keeps_its_architecture(aws, control):
    template = {
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": {
            "Fn": {
                "Type": "AWS::Serverless::Function",
                "Metadata": {"BuildMethod": "rust-cargolambda", "BuildProperties": {"Binary": "qa-notify"}},
                "Properties": {
                    "FunctionName": "notify",
                    "Runtime": "provided.al2023",
                    "Handler": "bootstrap",
                    "Architectures": ["arm64"],
                    "InlineCode": "not run",
                    "Environment": {"Variables": {"A": "1"}},
                },
            }
        },
    }
    deploy(aws("cloudformation"), "sam", template)
    ids = physical_ids(aws("cloudformation"), "sam")
    assert set(ids) == {"Fn", "FnRole"}  # the transform's expansion
    config = aws("lambda").get_function(FunctionName="notify")["Configuration"]
    assert config["Architectures"] == ["arm64"]
    assert config["Environment"]["Variables"] == {"A": "1"}


def test_a_nested_stack_is_updated_in_place(aws, control, emulator):
    s3 = aws("s3")
    s3.create_bucket(Bucket="templates")
    nested = {
        "Parameters": {"Retention": {"Type": "Number"}},
        "Resources": TOPIC_AND_QUEUE["Resources"] | {},
        "Outputs": TOPIC_AND_QUEUE["Outputs"],
    }
    nested["Resources"] = {k: v for k, v in nested["Resources"].items() if k != "Mail"}
    s3.put_object(Bucket="templates", Key="nested.json", Body=json.dumps(nested))
    # `sam deploy` against an endpoint uploads nested templates and names them path-style.
    url = f"{emulator.endpoint}/templates/nested.json"
    parent = {
        "Parameters": {"Retention": {"Type": "Number", "Default": 300}},
        "Resources": {
            "Child": {
                "Type": "AWS::CloudFormation::Stack",
                "Properties": {"TemplateURL": url, "Parameters": {"Retention": {"Ref": "Retention"}}},
            }
        },
        "Outputs": {"Topic": {"Value": {"Fn::GetAtt": ["Child", "Outputs.TopicArn"]}}},
    }
    cfn = aws("cloudformation")
    deploy(cfn, "parent", parent)
    child = physical_ids(cfn, "parent")["Child"]
    before = physical_ids(cfn, child)
    deploy(cfn, "parent", parent, {"Retention": "120"})
    assert stack(cfn, "parent")["StackStatus"] == "UPDATE_COMPLETE"
    assert physical_ids(cfn, "parent")["Child"] == child
    assert physical_ids(cfn, child) == before  # the topic and the queue were not replaced
    assert stack(cfn, child)["StackStatus"] == "UPDATE_COMPLETE"
    assert {o["OutputValue"] for o in stack(cfn, "parent")["Outputs"]} == {before["Topic"]}


def test_a_bucket_policy_applies_a_statement_only_when_its_conditions_hold(aws, control):
    s3 = aws("s3")
    s3.create_bucket(Bucket="hardened")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            # Every hardened bucket: requests over plain HTTP are refused. The emulator stands for TLS endpoints.
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": "arn:aws:s3:::hardened/*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": "arn:aws:s3:::hardened/locked/*",
            },
        ],
    }
    s3.put_bucket_policy(Bucket="hardened", Policy=json.dumps(policy))
    s3.put_object(Bucket="hardened", Key="open/file", Body=b"x")
    with pytest.raises(ClientError, match="AccessDenied|Forbidden|403"):
        s3.put_object(Bucket="hardened", Key="locked/file", Body=b"x")


def test_the_template_yaml_of_this_repository_parses_with_its_tags(aws, control):
    """A guard for the CloudFormation YAML loader the emulator uses (short-form intrinsics)."""
    from emulator import cloudformation

    text = "Resources:\n  T:\n    Type: AWS::SNS::Topic\n    Properties:\n      TopicName: !Sub '${AWS::StackName}-t'\n"
    assert cloudformation.parse(text)["Resources"]["T"]["Properties"]["TopicName"] == {"Fn::Sub": "${AWS::StackName}-t"}
    assert yaml  # imported for its presence in the emulator's environment


RULED = {
    "Parameters": {
        "CreateFleet": {"Type": "String", "Default": "false"},
        "VpcId": {"Type": "String", "Default": ""},
        "SubnetIds": {"Type": "CommaDelimitedList", "Default": ""},
    },
    "Rules": {
        "FleetNeedsANetwork": {
            "RuleCondition": {"Fn::Equals": [{"Ref": "CreateFleet"}, "true"]},
            "Assertions": [
                {
                    "Assert": {"Fn::Not": [{"Fn::Equals": [{"Ref": "VpcId"}, ""]}]},
                    "AssertDescription": "CreateFleet needs VpcId",
                },
                {
                    "Assert": {"Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", {"Ref": "SubnetIds"}]}, ""]}]},
                    "AssertDescription": "CreateFleet needs two or more SubnetIds",
                },
            ],
        }
    },
    "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
}


@pytest.mark.parametrize(
    ("parameters", "refusal"),
    [
        ({}, None),  # the rule's condition is false: its assertions are not evaluated
        ({"CreateFleet": "true"}, "CreateFleet needs VpcId"),
        ({"CreateFleet": "true", "VpcId": "vpc-1"}, "CreateFleet needs two or more SubnetIds"),
        ({"CreateFleet": "true", "VpcId": "vpc-1", "SubnetIds": "subnet-a,subnet-b"}, None),
    ],
)
def test_a_template_rule_that_fails_refuses_the_change_set_with_its_description(aws, control, parameters, refusal):
    cfn = aws("cloudformation")
    if refusal is None:
        deploy(cfn, "ruled", RULED, parameters)
        assert stack(cfn, "ruled")["StackStatus"] == "CREATE_COMPLETE"
        return
    with pytest.raises(ClientError, match=refusal):
        deploy(cfn, "ruled", RULED, parameters)
    assert [s for s in cfn.list_stacks()["StackSummaries"] if s["StackName"] == "ruled"] == []
