"""The plain decisions behind the emulator's deploys, without a server: which IAM conditions
hold, what a piece of template depends on, when two parameter sets are the same, whether a
function's policy lets a rule in, which function an Invoke names."""

from __future__ import annotations

import pytest
from emulator.cfn_changes import effective_parameters, parameter_text, references
from emulator.events import allows_rule
from emulator.lambdas import function_name_from
from emulator.s3_patches import condition_holds, statement_applies


@pytest.mark.parametrize(
    ("operator", "key", "expected", "holds"),
    [
        ("Bool", "aws:SecureTransport", "false", False),
        ("Bool", "aws:SecureTransport", "true", True),
        ("Bool", "aws:SecureTransport", [False], False),
        ("Bool", "AWS:SECURETRANSPORT", True, True),  # keys are case-insensitive
        ("StringEquals", "aws:SecureTransport", ["true", "x"], True),
        ("StringNotEquals", "aws:SecureTransport", "true", False),
        ("StringLike", "aws:SecureTransport", "t*", True),
        ("StringNotLike", "aws:SecureTransport", "t*", False),
        # A key the request does not carry: false, except negated operators, IfExists and Null.
        ("StringEquals", "aws:SourceVpce", "vpce-1", False),
        ("StringNotEquals", "aws:SourceVpce", "vpce-1", True),
        ("StringEqualsIfExists", "aws:SourceVpce", "vpce-1", True),
        ("Null", "aws:SourceVpce", "true", True),
        ("Null", "aws:SourceVpce", "false", False),
        ("Null", "aws:SecureTransport", "false", True),
        ("Null", "aws:SecureTransport", "true", False),
        ("NumericLessThan", "aws:SecureTransport", "1", False),
        ("BoolIfExists", "aws:SecureTransport", "true", True),
        ("StringEquals", "aws:SecureTransport", True, True),  # a JSON boolean reads as "true"
        ("ArnEquals", "aws:SecureTransport", "true", True),
        ("ArnNotEquals", "aws:SecureTransport", "true", False),
        ("ArnLike", "aws:SecureTransport", "t?ue", True),
        ("ArnNotLike", "aws:SecureTransport", "t*", False),
        ("StringNotLike", "aws:SecureTransport", "x*", True),
        ("StringNotEquals", "aws:SecureTransport", "false", True),
        ("StringEquals", "aws:SecureTransport", "TRUE", False),  # string conditions are case-sensitive
        ("ArnNotEquals", "aws:SecureTransport", "false", True),
        ("ArnNotLike", "aws:SecureTransport", "x*", True),
    ],
)
def test_a_condition_holds_as_iam_evaluates_it_for_a_tls_request(operator, key, expected, holds):
    assert condition_holds(operator, key, expected) is holds


def test_a_statement_applies_only_when_every_condition_holds():
    deny_plain_http = {"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    assert not statement_applies(deny_plain_http)
    assert statement_applies({"Effect": "Deny"})
    both = {"Condition": {"Bool": {"aws:SecureTransport": "true"}, "StringEquals": {"aws:SourceVpce": "v"}}}
    assert not statement_applies(both)
    assert statement_applies({"Effect": "Allow", "Condition": {"Bool": {"aws:SecureTransport": "true"}}})


TEMPLATE = {
    "Parameters": {"Email": {"Type": "String", "Default": ""}, "Days": {"Type": "Number", "Default": 30}},
    "Conditions": {
        "HasEmail": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Email"}, ""]}]},
        # Conditions naming each other end the walk (CloudFormation refuses such a template).
        "Loop": {"Fn::Or": [{"Condition": "Again"}, {"Condition": "HasEmail"}]},
        "Again": {"Condition": "Loop"},
        "Both": {"Fn::And": [{"Condition": "HasEmail"}, {"Fn::Equals": [{"Ref": "Days"}, 30]}]},
    },
}


@pytest.mark.parametrize(
    ("node", "names"),
    [
        ({"Ref": "Days"}, {"Days"}),
        ({"Fn::Sub": "/aws/lambda/${AWS::StackName}-${Name}-${Topic.Arn}"}, {"AWS::StackName", "Name", "Topic"}),
        ({"Fn::Sub": ["${X}-${!Literal}", {"X": {"Ref": "Days"}}]}, {"X", "Days"}),
        ({"Condition": "HasEmail", "Properties": {}}, {"Email"}),
        ({"Fn::If": ["Both", "a", {"Ref": "Other"}]}, {"Email", "Days", "Other"}),
        ({"Properties": {"List": [{"Ref": "A"}, {"Fn::GetAtt": ["B", "Arn"]}]}}, {"A"}),
        ({"Properties": {"P": {"Ref": "A"}}, "Condition": "HasEmail"}, {"A", "Email"}),
        ({"Fn::If": ["HasEmail", {"Ref": "X"}, "b"]}, {"Email", "X"}),
        ({"Fn::If": ["Loop", {"Ref": "X"}, {"Ref": "Y"}]}, {"X", "Y", "Email"}),
    ],
)
def test_references_finds_what_a_declaration_depends_on(node, names):
    assert references(node, TEMPLATE) == names


@pytest.mark.parametrize(
    ("value", "text"), [(300, "300"), (30.0, "30"), (1.5, "1.5"), (["a", "b"], "a,b"), ([""], ""), ("x", "x")]
)
def test_a_parameter_value_reads_as_cloudformation_takes_it(value, text):
    assert parameter_text(value) == text


def test_a_default_given_explicitly_is_the_same_as_the_default():
    assert effective_parameters(TEMPLATE, {}) == effective_parameters(TEMPLATE, {"Days": "30", "Email": ""})
    assert effective_parameters(TEMPLATE, {}) != effective_parameters(TEMPLATE, {"Days": "7"})
    assert effective_parameters(TEMPLATE, {"Unknown": "x"}) == effective_parameters(TEMPLATE, {})


RULE = "arn:aws:events:us-east-1:123456789012:rule/launches"


@pytest.mark.parametrize(
    ("statement", "allowed"),
    [
        (
            {
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Condition": {"ArnLike": {"AWS:SourceArn": RULE}},
            },
            True,
        ),
        ({"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}}, True),
        (
            {
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Condition": {"ArnLike": {"AWS:SourceArn": RULE + "-other"}},
            },
            False,
        ),
        (
            {
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:events:*:*:rule/*"}},
            },
            True,
        ),
        ({"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}}, False),
        ({"Effect": "Deny", "Principal": {"Service": "events.amazonaws.com"}}, False),
        ({"Principal": {"Service": "events.amazonaws.com"}}, True),  # Effect defaults to Allow
        ({"Effect": "Allow", "Action": "lambda:InvokeFunction"}, False),  # no principal
    ],
)
def test_a_function_policy_lets_a_rule_in_only_for_eventbridge_and_that_rule(statement, allowed):
    assert allows_rule([statement], RULE) is allowed
    assert allows_rule([], RULE) is False
    # Any statement can be the one: an unrelated statement before it does not stop the search.
    unrelated = {"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}}
    assert allows_rule([unrelated, statement], RULE) is allowed


@pytest.mark.parametrize(
    ("name", "function"),
    [
        ("notify", "notify"),
        ("notify:live", "notify"),
        ("arn:aws:lambda:us-east-1:123456789012:function:notify", "notify"),
        ("arn:aws:lambda:us-east-1:123456789012:function:notify:$LATEST", "notify"),
    ],
)
def test_an_invoke_names_its_function_by_name_or_arn(name, function):
    assert function_name_from(name) == function
