//! Mocked AWS for the scenario tests: canned SDK outputs and one way to run a job event
//! through the real runner, handler and reporter.
#![allow(dead_code)]

use aws_sdk_autoscaling::operation::describe_auto_scaling_groups::DescribeAutoScalingGroupsOutput;
use aws_sdk_autoscaling::operation::describe_instance_refreshes::DescribeInstanceRefreshesOutput;
use aws_sdk_autoscaling::types::{
    AutoScalingGroup, DesiredConfiguration, InstanceRefresh, InstanceRefreshStatus, LaunchTemplate, LaunchTemplateOverrides,
    LaunchTemplateSpecification, MixedInstancesPolicy, RollbackDetails,
};
use aws_sdk_codepipeline::operation::put_job_failure_result::PutJobFailureResultOutput;
use aws_sdk_codepipeline::operation::put_job_success_result::PutJobSuccessResultOutput;
use aws_sdk_ec2::operation::describe_launch_template_versions::DescribeLaunchTemplateVersionsOutput;
use aws_sdk_ec2::types::{LaunchTemplateTagSpecification, LaunchTemplateVersion, ResourceType, ResponseLaunchTemplateData, Tag};
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use instance_refresh::RefreshAction;
use serde_json::Value;
use shared::codepipeline::{run_job, JobReporter};
use shared::testing::{fast_retries, invocation};

pub const GROUP: &str = "web-staging";
pub const TEMPLATE: &str = "lt-0123456789abcdef0";
pub const RELEASE: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b";

pub fn event(name: &str) -> Value {
    let path = format!("{}/../../events/instance-refresh/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
}

/// `event` with its UserParameters changed by `change`.
pub fn with_parameters(mut event: Value, change: impl FnOnce(&mut Value)) -> Value {
    let raw = &mut event["CodePipeline.job"]["data"]["actionConfiguration"]["configuration"]["UserParameters"];
    let mut params: Value = serde_json::from_str(raw.as_str().unwrap()).unwrap();
    change(&mut params);
    *raw = Value::String(params.to_string());
    event
}

pub fn job_id(event: &Value) -> String {
    event["CodePipeline.job"]["id"].as_str().unwrap().to_owned()
}

/// Runs `event` through `run_job` with mocked Auto Scaling, EC2 and CodePipeline, and an SSM
/// that must not be called. Each client's rules must be used in order, so the rules also
/// assert which calls happen.
pub async fn run(event: Value, autoscaling: &[&Rule], ec2: &[&Rule], codepipeline: &[&Rule]) -> Result<(), lambda_runtime::Error> {
    run_with_ssm(event, autoscaling, ec2, &[], codepipeline).await
}

pub async fn run_with_ssm(
    event: Value,
    autoscaling: &[&Rule],
    ec2: &[&Rule],
    ssm: &[&Rule],
    codepipeline: &[&Rule],
) -> Result<(), lambda_runtime::Error> {
    let action = RefreshAction::from_clients(
        mock_client!(aws_sdk_autoscaling, RuleMode::Sequential, autoscaling, |c| c.retry_config(fast_retries())),
        mock_client!(aws_sdk_ec2, RuleMode::Sequential, ec2, |c| c.retry_config(fast_retries())),
        mock_client!(aws_sdk_ssm, RuleMode::Sequential, ssm, |c| c.retry_config(fast_retries())),
    );
    let reporter =
        JobReporter::new(mock_client!(aws_sdk_codepipeline, RuleMode::Sequential, codepipeline, |c| c.retry_config(fast_retries())));
    run_job(&reporter, invocation(event, std::time::Duration::from_secs(60)), |job, fallback| action.handle(job, fallback)).await
}

// ---- Auto Scaling ----

pub fn template_spec(version: &str) -> LaunchTemplateSpecification {
    LaunchTemplateSpecification::builder().launch_template_id(TEMPLATE).version(version).build()
}

pub fn group_with_template(version: &str) -> Rule {
    let version = version.to_owned();
    mock!(aws_sdk_autoscaling::Client::describe_auto_scaling_groups)
        .match_requests(|r| r.auto_scaling_group_names() == [GROUP])
        .then_output(move || {
            DescribeAutoScalingGroupsOutput::builder()
                .auto_scaling_groups(
                    AutoScalingGroup::builder().auto_scaling_group_name(GROUP).launch_template(template_spec(&version)).build(),
                )
                .build()
        })
}

pub fn mixed_policy(version: &str) -> MixedInstancesPolicy {
    MixedInstancesPolicy::builder()
        .launch_template(
            LaunchTemplate::builder()
                .launch_template_specification(template_spec(version))
                .overrides(LaunchTemplateOverrides::builder().instance_type("t4g.small").build())
                .overrides(LaunchTemplateOverrides::builder().instance_type("t4g.medium").build())
                .build(),
        )
        .build()
}

pub fn group_with_mixed_instances(version: &str) -> Rule {
    let version = version.to_owned();
    mock!(aws_sdk_autoscaling::Client::describe_auto_scaling_groups).then_output(move || {
        DescribeAutoScalingGroupsOutput::builder()
            .auto_scaling_groups(
                AutoScalingGroup::builder().auto_scaling_group_name(GROUP).mixed_instances_policy(mixed_policy(&version)).build(),
            )
            .build()
    })
}

/// `DescribeAutoScalingGroups` of the whole account (what pruning asks), answering `groups`.
pub fn all_groups(groups: Vec<AutoScalingGroup>) -> Rule {
    mock!(aws_sdk_autoscaling::Client::describe_auto_scaling_groups)
        .match_requests(|r| r.auto_scaling_group_names().is_empty())
        .then_output(move || DescribeAutoScalingGroupsOutput::builder().set_auto_scaling_groups(Some(groups.clone())).build())
}

/// A group on `TEMPLATE` at `version`, with instances launched from `instance_versions`.
pub fn group_on_template(name: &str, version: &str, instance_versions: &[&str]) -> AutoScalingGroup {
    let instances = instance_versions.iter().enumerate().map(|(n, v)| {
        aws_sdk_autoscaling::types::Instance::builder().instance_id(format!("i-{name}-{n}")).launch_template(template_spec(v)).build()
    });
    AutoScalingGroup::builder()
        .auto_scaling_group_name(name)
        .launch_template(template_spec(version))
        .set_instances(Some(instances.collect()))
        .build()
}

pub fn no_group() -> Rule {
    mock!(aws_sdk_autoscaling::Client::describe_auto_scaling_groups).then_output(|| DescribeAutoScalingGroupsOutput::builder().build())
}

pub struct Refresh {
    pub status: &'static str,
    pub reason: Option<&'static str>,
    pub rollback_reason: Option<&'static str>,
    pub percent: i32,
    pub to_update: i32,
    pub version: &'static str,
    /// The launch template the refresh's desired configuration names.
    pub template: &'static str,
}

impl Refresh {
    /// Part way, or (Successful) with the whole group replaced.
    pub fn new(status: &'static str) -> Self {
        let (percent, to_update) = if status == "Successful" { (100, 0) } else { (40, 1) };
        Refresh { status, reason: None, rollback_reason: None, percent, to_update, version: "2", template: TEMPLATE }
    }

    pub fn build(&self, id: &str) -> InstanceRefresh {
        InstanceRefresh::builder()
            .instance_refresh_id(id)
            .auto_scaling_group_name(GROUP)
            .status(InstanceRefreshStatus::from(self.status))
            .set_status_reason(self.reason.map(Into::into))
            .percentage_complete(self.percent)
            .instances_to_update(self.to_update)
            .desired_configuration(
                DesiredConfiguration::builder()
                    .launch_template(LaunchTemplateSpecification::builder().launch_template_id(self.template).version(self.version).build())
                    .build(),
            )
            .set_rollback_details(
                self.rollback_reason.map(|r| RollbackDetails::builder().rollback_reason(r).percentage_complete_on_rollback(100).build()),
            )
            .build()
    }
}

/// `DescribeInstanceRefreshes` for the newest refresh (what the start path asks).
pub fn latest_refresh(refresh: Option<(&'static str, Refresh)>) -> Rule {
    latest_refresh_of(GROUP, refresh)
}

pub fn latest_refresh_of(group: &'static str, refresh: Option<(&'static str, Refresh)>) -> Rule {
    let built = refresh.map(|(id, r)| r.build(id));
    mock!(aws_sdk_autoscaling::Client::describe_instance_refreshes)
        .match_requests(move |r| r.auto_scaling_group_name() == Some(group) && r.max_records() == Some(1))
        .then_output(move || DescribeInstanceRefreshesOutput::builder().set_instance_refreshes(built.clone().map(|r| vec![r])).build())
}

/// `DescribeInstanceRefreshes` for one refresh id (what a continuation asks).
pub fn refresh_by_id(id: &'static str, refresh: Option<Refresh>) -> Rule {
    let built = refresh.map(|r| r.build(id));
    mock!(aws_sdk_autoscaling::Client::describe_instance_refreshes)
        .match_requests(move |r| r.instance_refresh_ids() == [id])
        .then_output(move || DescribeInstanceRefreshesOutput::builder().set_instance_refreshes(built.clone().map(|r| vec![r])).build())
}

// ---- EC2 ----

pub fn template_version(number: i64, tags: &[(&str, &str)]) -> LaunchTemplateVersion {
    let data = ResponseLaunchTemplateData::builder()
        .image_id("ami-0aaaaaaaaaaaaaaaa")
        .tag_specifications(
            LaunchTemplateTagSpecification::builder()
                .resource_type(ResourceType::Instance)
                .set_tags(Some(tags.iter().map(|(k, v)| Tag::builder().key(*k).value(*v).build()).collect()))
                .build(),
        )
        .build();
    LaunchTemplateVersion::builder()
        .launch_template_id(TEMPLATE)
        .version_number(number)
        .default_version(number == 1)
        .launch_template_data(data)
        .build()
}

pub fn describe_version(asked: &'static str, answer: LaunchTemplateVersion) -> Rule {
    mock!(aws_sdk_ec2::Client::describe_launch_template_versions)
        .match_requests(move |r| r.versions() == [asked])
        .then_output(move || DescribeLaunchTemplateVersionsOutput::builder().launch_template_versions(answer.clone()).build())
}

// ---- CodePipeline ----

pub fn expect_in_progress(job: &str, check: impl Fn(&Value, i32) -> bool + Send + Sync + 'static) -> Rule {
    let job = job.to_owned();
    mock!(aws_sdk_codepipeline::Client::put_job_success_result)
        .match_requests(move |r| {
            let token: Value = serde_json::from_str(r.continuation_token().unwrap_or("null")).unwrap();
            r.job_id() == Some(job.as_str()) && check(&token, r.execution_details().and_then(|d| d.percent_complete()).unwrap_or(-1))
        })
        .then_output(|| PutJobSuccessResultOutput::builder().build())
}

pub fn expect_success(job: &str, vars: &'static [(&'static str, &'static str)]) -> Rule {
    let job = job.to_owned();
    mock!(aws_sdk_codepipeline::Client::put_job_success_result)
        .match_requests(move |r| {
            let got = r.output_variables().cloned().unwrap_or_default();
            r.job_id() == Some(job.as_str())
                && r.continuation_token().is_none()
                && vars.iter().all(|(k, v)| got.get(*k).map(String::as_str) == Some(*v))
        })
        .then_output(|| PutJobSuccessResultOutput::builder().build())
}

/// Expects a failure of `kind` whose message contains every one of `needles`.
pub fn expect_failure(job: &str, kind: &'static str, needles: &'static [&'static str]) -> Rule {
    let job = job.to_owned();
    mock!(aws_sdk_codepipeline::Client::put_job_failure_result)
        .match_requests(move |r| {
            let d = r.failure_details().unwrap();
            let ok = r.job_id() == Some(job.as_str()) && d.r#type().as_str() == kind && needles.iter().all(|n| d.message().contains(n));
            if !ok {
                eprintln!("unexpected failure report: {} {}", d.r#type().as_str(), d.message());
            }
            ok
        })
        .then_output(|| PutJobFailureResultOutput::builder().build())
}

// ---- Error responses as the services send them ----

pub fn autoscaling_error(status: u16, code: &str, message: &str) -> Response {
    Response::new(
        StatusCode::try_from(status).unwrap(),
        SdkBody::from(format!(
            r#"<ErrorResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>7a62c49f-347e-4fc4-9331-6e8eEXAMPLE</RequestId></ErrorResponse>"#
        )),
    )
}

pub fn json_error(status: u16, code: &str, message: &str) -> Response {
    Response::new(StatusCode::try_from(status).unwrap(), SdkBody::from(format!(r#"{{"__type":"{code}","message":"{message}"}}"#)))
}

pub fn autoscaling_throttled() -> Response {
    autoscaling_error(400, "Throttling", "Rate exceeded")
}

// ---- The sample events and how their jobs must end ----

/// Each sample, and how its job must end. A new file without a row here fails the test.
pub const SAMPLES: &[(&str, Expect)] = &[
    ("start.json", Expect::Valid),
    ("continue.json", Expect::Valid),
    ("partial-rollout.json", Expect::Valid),
    (
        "bad-preferences.json",
        Expect::Fails("ConfigurationError", &["UserParameters field `preferences.maxHealthyPercentage`: 250 is outside 100–200"]),
    ),
    ("unquoted-variable.json", Expect::Fails("ConfigurationError", &["not valid JSON", "inside quoted strings"])),
    ("no-release.json", Expect::Fails("ConfigurationError", &["no release to deploy", "release.commitId"])),
    ("malformed-job.json", Expect::Fails("JobFailed", &["malformed at `CodePipeline.job.data.inputArtifacts`", "expected a sequence"])),
];

pub enum Expect {
    Valid,
    Fails(&'static str, &'static [&'static str]),
}
