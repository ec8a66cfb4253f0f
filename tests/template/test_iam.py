"""Each function's crate declares the AWS actions its code calls, and nothing else.

The template side (granted = declared) is a step of the check chain (test_template.py)."""

import iam
import pytest

FUNCTIONS = ["instance-refresh", "qa-notify", "approval-gate", "lifecycle-health"]


@pytest.mark.parametrize("crate", FUNCTIONS)
def test_a_functions_code_calls_exactly_the_actions_its_crate_declares(crate):
    scan = iam.called(crate)
    calls, _ = iam.declared(crate)
    assert scan.problems == []
    assert sorted(scan.actions - calls) == [], f"{crate} calls these without declaring them in Cargo.toml"
    assert sorted(calls - scan.actions) == [], f"{crate} declares these but its code never calls them"


def test_the_shared_crate_calls_only_through_its_declared_entry_points():
    scan = iam.scan_source(iam.rust_sources("shared"), iam.sdk_operations("shared"))
    assert scan.problems == []
    assert scan.actions == set().union(*iam.entry_points().values())


def test_implied_actions_hang_off_a_call_the_crate_makes():
    for crate in FUNCTIONS:
        calls, implied = iam.declared(crate)
        assert set(implied) <= calls, f"{crate}: implied by calls it does not make"


SNS = {"publish", "create_topic"}


def test_an_undeclared_call_is_found_with_its_label():
    code = 'client.publish().topic_arn(t).send().await.map_err(|e| AwsCallError::from_sdk("sns:Publish", e))?;'
    scan = iam.scan_source({"a.rs": code}, SNS)
    assert scan.actions == {"sns:Publish"} and scan.problems == []


def test_a_call_without_a_label_is_a_problem_not_a_silent_gap():
    scan = iam.scan_source({"a.rs": "let out = client.create_topic().name(n).send().await?;"}, SNS)
    assert scan.problems == ["a.rs:1: `create_topic` is called without an AwsCallError::from_sdk label naming it"]


def test_a_label_naming_another_operation_is_a_problem():
    code = 'client.create_topic().send().await.map_err(|e| AwsCallError::from_sdk("sns:Publish", e))'
    scan = iam.scan_source({"a.rs": code}, SNS)
    assert scan.problems == ["a.rs:1: `create_topic` is labelled sns:Publish, not …:CreateTopic"]


def test_each_call_takes_the_label_before_the_next_call():
    code = (
        "client.create_topic().send().await?;\n"
        'client.publish().send().await.map_err(|e| AwsCallError::from_sdk("sns:Publish", e))'
    )
    scan = iam.scan_source({"a.rs": code}, SNS)
    assert [s.action for s in scan.sites] == [None, "sns:Publish"]
    assert len(scan.problems) == 1


def test_a_function_of_our_own_with_an_operations_name_is_not_a_call():
    scan = iam.scan_source({"a.rs": "self.publish(&notice).await?;"}, SNS)
    assert scan.sites == []


def test_iam_names_that_differ_from_the_operation():
    assert iam.iam_name("invoke") == "InvokeFunction"
    assert iam.iam_name("describe_instance_status") == "DescribeInstanceStatus"


def test_a_shared_entry_point_is_used_by_path_or_by_import():
    entry = "codepipeline::pipeline_state::read"
    assert iam.uses("let s = pipeline_state::read(&c, p).await?;", entry)
    assert iam.uses("use shared::codepipeline::pipeline_state::{approval, read};", entry)
    assert not iam.uses("let s = std::fs::read(p)?; use pipeline_state::{approval};", entry)
