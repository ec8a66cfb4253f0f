"""What the IAM step counts as the code's grants, on small expanded templates: Lambda's own
permissions are set apart only where they really are Lambda's."""

import iam
from resolve import Resolver

BASIC = iam.BASIC_EXECUTION
VPC = iam.VPC_ACCESS


def template(statements, managed=(BASIC,), vpc=None, destination="Dlq"):
    function = {"Role": {"Fn::GetAtt": ["FnRole", "Arn"]}, "FunctionName": "fn"}
    if vpc is not None:
        function["VpcConfig"] = vpc
    return {
        "Parameters": {"Subnets": {"Type": "CommaDelimitedList", "Default": ""}},
        "Conditions": {"InVpc": {"Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", {"Ref": "Subnets"}]}, ""]}]}},
        "Resources": {
            "Fn": {"Type": "AWS::Lambda::Function", "Properties": function},
            "FnRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "ManagedPolicyArns": list(managed),
                    "Policies": [{"PolicyName": "p", "PolicyDocument": {"Statement": statements}}],
                },
            },
            "Dlq": {"Type": "AWS::SQS::Queue"},
            "Other": {"Type": "AWS::SQS::Queue"},
            "FnInvokeConfig": {
                "Type": "AWS::Lambda::EventInvokeConfig",
                "Properties": {
                    "FunctionName": {"Ref": "Fn"},
                    "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [destination, "Arn"]}}},
                },
            },
        },
    }


def grants(t, parameters=None):
    return iam.granted(t, Resolver(t, parameters), "Fn")


def send_to(queue):
    return {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": {"Fn::GetAtt": [queue, "Arn"]}}


def test_sending_to_the_on_failure_destination_is_lambdas_not_the_codes():
    assert grants(template([send_to("Dlq")])).actions == {}


def test_sending_to_any_other_queue_is_a_grant_of_the_code():
    assert set(grants(template([send_to("Other")])).actions) == {"sqs:SendMessage"}


def test_the_vpc_policy_is_lambdas_only_inside_a_vpc():
    vpc = {"Fn::If": ["InVpc", {"SubnetIds": {"Ref": "Subnets"}}, {"Ref": "AWS::NoValue"}]}
    t = template([], managed=(BASIC, VPC), vpc=vpc)
    assert grants(t, {"Subnets": "subnet-1"}).problems == []
    assert grants(t).problems == [f"has managed policy {VPC}: outside any VPC"]


def test_any_other_managed_policy_is_a_problem():
    other = "arn:aws:iam::aws:policy/AmazonEC2FullAccess"
    assert grants(template([], managed=(BASIC, other))).problems == [
        f"has managed policy {other}: grant the calls inline instead"
    ]


def test_statements_are_resolved_and_denies_grant_nothing():
    statements = [
        {
            "Effect": "Allow",
            "Action": ["sns:Publish"],
            "Resource": {"Fn::Sub": "arn:aws:sns:${AWS::Region}:${AWS::AccountId}:t"},
        },
        {"Effect": "Deny", "Action": "sns:DeleteTopic", "Resource": "*"},
    ]
    assert grants(template(statements)).actions == {"sns:Publish": ["arn:aws:sns:eu-west-1:123456789012:t"]}


def test_the_resolver_follows_conditions_joins_and_sub_variables():
    t = template([])
    r = Resolver(t, {"Subnets": "a,b"})
    assert r.condition("InVpc") is True
    assert r.value({"Fn::Join": ["-", {"Ref": "Subnets"}]}) == "a-b"
    assert r.value({"Fn::Sub": ["${x}/${AWS::StackName}/${!literal}", {"x": "1"}]}) == "1/deploy/${literal}"
    assert r.value({"Fn::Select": [1, {"Fn::Split": [":", "a:b:c"]}]}) == "b"
    assert r.value({"Fn::GetAtt": ["Fn", "Arn"]}) == "arn:aws:lambda:eu-west-1:123456789012:function:fn"
    assert Resolver(t).condition("InVpc") is False


def mapped(t, queue="Other"):
    t["Resources"]["FnRechecks"] = {
        "Type": "AWS::Lambda::EventSourceMapping",
        "Properties": {"FunctionName": {"Ref": "Fn"}, "EventSourceArn": {"Fn::GetAtt": [queue, "Arn"]}},
    }
    return t


def poll(queue, actions=("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")):
    return {"Effect": "Allow", "Action": list(actions), "Resource": {"Fn::GetAtt": [queue, "Arn"]}}


def test_polling_a_queue_mapped_to_the_function_is_lambdas_not_the_codes():
    g = grants(mapped(template([poll("Other"), send_to("Other")])))
    assert (g.actions, g.problems) == ({"sqs:SendMessage": [g.actions["sqs:SendMessage"][0]]}, [])


def test_a_mapped_queue_lambda_may_not_poll_is_a_problem_naming_what_is_missing():
    g = grants(mapped(template([poll("Other", ("sqs:ReceiveMessage",))])))
    [problem] = g.problems
    assert problem.endswith("mapped to it: grant sqs:DeleteMessage, sqs:GetQueueAttributes on it"), problem
    assert grants(mapped(template([]))).problems[0].startswith("Lambda cannot poll")


def test_polling_a_queue_not_mapped_to_the_function_is_a_grant_of_the_code():
    assert set(grants(template([poll("Other")])).actions) == {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
    }
