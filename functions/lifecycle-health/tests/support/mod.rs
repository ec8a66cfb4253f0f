//! Mocked AWS for the lifecycle-health scenarios: canned outputs and one way to run an event.
#![allow(dead_code)]

use std::time::Duration;

use aws_sdk_autoscaling::operation::complete_lifecycle_action::CompleteLifecycleActionOutput;
use aws_sdk_autoscaling::operation::describe_auto_scaling_groups::DescribeAutoScalingGroupsOutput;
use aws_sdk_autoscaling::operation::describe_lifecycle_hooks::DescribeLifecycleHooksOutput;
use aws_sdk_autoscaling::operation::record_lifecycle_action_heartbeat::RecordLifecycleActionHeartbeatOutput;
use aws_sdk_autoscaling::types::{AutoScalingGroup, LifecycleHook};
use aws_sdk_ec2::operation::describe_instance_status::DescribeInstanceStatusOutput;
use aws_sdk_ec2::operation::describe_tags::DescribeTagsOutput;
use aws_sdk_ec2::types::{InstanceState, InstanceStateName, InstanceStatus, InstanceStatusSummary, SummaryStatus, TagDescription};
use aws_sdk_elasticloadbalancingv2::operation::describe_target_health::DescribeTargetHealthOutput;
use aws_sdk_elasticloadbalancingv2::types::{TargetDescription, TargetHealth, TargetHealthDescription, TargetHealthStateEnum};
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use lambda_runtime::{Context, LambdaEvent};
use lifecycle_health::aws::probe::Probe;
use lifecycle_health::settings::Settings;
use lifecycle_health::{HealthError, HealthGate};
use serde_json::Value;
use shared::testing::fast_retries;

pub const INSTANCE: &str = "i-0123456789abcdef0";
pub const TOKEN: &str = "87654321-4321-4321-4321-210987654321";

pub fn sample(name: &str) -> Value {
    let path = format!("{}/../../events/lifecycle-health/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The launch sample, started `ago` before now, without hook metadata.
pub fn launch(ago: Duration) -> Value {
    let mut event = sample("launch.json");
    event["time"] = Value::String((chrono::Utc::now() - chrono::Duration::from_std(ago).unwrap()).to_rfc3339());
    event["detail"].as_object_mut().unwrap().remove("NotificationMetadata");
    event
}

pub fn fast() -> Settings {
    Settings { first_poll: Duration::from_millis(5), max_poll: Duration::from_millis(5), deadline_margin: Duration::from_secs(1), ..Settings::default() }
}

pub struct Mocks<'a> {
    pub autoscaling: &'a [&'a Rule],
    pub ec2: &'a [&'a Rule],
    pub elb: &'a [&'a Rule],
    pub lambda: &'a [&'a Rule],
}

pub async fn run(event: Value, mocks: Mocks<'_>, settings: Settings, remaining: Duration) -> Result<Value, HealthError> {
    let gate = HealthGate::from_clients(
        Probe {
            autoscaling: mock_client!(aws_sdk_autoscaling, RuleMode::Sequential, mocks.autoscaling, |c| c.retry_config(fast_retries())),
            ec2: mock_client!(aws_sdk_ec2, RuleMode::Sequential, mocks.ec2, |c| c.retry_config(fast_retries())),
            elb: mock_client!(aws_sdk_elasticloadbalancingv2, RuleMode::Sequential, mocks.elb, |c| c.retry_config(fast_retries())),
        },
        mock_client!(aws_sdk_lambda, RuleMode::Sequential, mocks.lambda, |c| c.retry_config(fast_retries())),
        settings,
        Some("lifecycle-health".into()),
    );
    let mut context = Context::default();
    context.deadline = u64::try_from((chrono::Utc::now() + chrono::Duration::from_std(remaining).unwrap()).timestamp_millis()).unwrap();
    gate.handle(LambdaEvent::new(event, context)).await
}

pub fn hook(timeout: i32) -> Rule {
    mock!(aws_sdk_autoscaling::Client::describe_lifecycle_hooks).then_output(move || {
        DescribeLifecycleHooksOutput::builder().lifecycle_hooks(LifecycleHook::builder().heartbeat_timeout(timeout).build()).build()
    })
}

pub fn group(target_groups: &'static [&'static str]) -> Rule {
    mock!(aws_sdk_autoscaling::Client::describe_auto_scaling_groups).then_output(move || {
        DescribeAutoScalingGroupsOutput::builder()
            .auto_scaling_groups(
                AutoScalingGroup::builder()
                    .auto_scaling_group_name("web-staging")
                    .set_target_group_arns(Some(target_groups.iter().map(|s| (*s).to_owned()).collect()))
                    .build(),
            )
            .build()
    })
}

pub fn complete(result: &'static str) -> Rule {
    mock!(aws_sdk_autoscaling::Client::complete_lifecycle_action)
        .match_requests(move |r| r.lifecycle_action_result() == Some(result) && r.lifecycle_action_token() == Some(TOKEN))
        .then_output(|| CompleteLifecycleActionOutput::builder().build())
}

pub fn heartbeat() -> Rule {
    mock!(aws_sdk_autoscaling::Client::record_lifecycle_action_heartbeat)
        .match_requests(|r| r.lifecycle_action_token() == Some(TOKEN))
        .then_output(|| RecordLifecycleActionHeartbeatOutput::builder().build())
}

pub fn status(state: InstanceStateName, instance: &'static str, system: &'static str) -> Rule {
    mock!(aws_sdk_ec2::Client::describe_instance_status)
        .match_requests(|r| r.instance_ids() == [INSTANCE] && r.include_all_instances() == Some(true))
        .then_output(move || {
            DescribeInstanceStatusOutput::builder()
                .instance_statuses(
                    InstanceStatus::builder()
                        .instance_id(INSTANCE)
                        .instance_state(InstanceState::builder().name(state.clone()).build())
                        .instance_status(InstanceStatusSummary::builder().status(SummaryStatus::from(instance)).build())
                        .system_status(InstanceStatusSummary::builder().status(SummaryStatus::from(system)).build())
                        .build(),
                )
                .build()
        })
}

pub fn tags(bootstrap: Option<&'static str>) -> Rule {
    mock!(aws_sdk_ec2::Client::describe_tags).then_output(move || {
        DescribeTagsOutput::builder()
            .set_tags(bootstrap.map(|v| vec![TagDescription::builder().key("bootstrap").value(v).resource_id(INSTANCE).build()]))
            .build()
    })
}

pub fn target(state: &'static str, reason: Option<&'static str>) -> Rule {
    mock!(aws_sdk_elasticloadbalancingv2::Client::describe_target_health).then_output(move || {
        let mut health = TargetHealth::builder().state(TargetHealthStateEnum::from(state));
        if let Some(r) = reason {
            health = health.reason(aws_sdk_elasticloadbalancingv2::types::TargetHealthReasonEnum::from(r));
        }
        DescribeTargetHealthOutput::builder()
            .target_health_descriptions(
                TargetHealthDescription::builder().target(TargetDescription::builder().id(INSTANCE).build()).target_health(health.build()).build(),
            )
            .build()
    })
}

pub fn throttled() -> Response {
    Response::new(
        StatusCode::try_from(400).unwrap(),
        SdkBody::from(r#"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>1</RequestId></ErrorResponse>"#),
    )
}

pub fn no_active_action() -> Response {
    Response::new(
        StatusCode::try_from(400).unwrap(),
        SdkBody::from(format!(r#"<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code><Message>No active Lifecycle Action found with token {TOKEN}</Message></Error><RequestId>1</RequestId></ErrorResponse>"#)),
    )
}

pub const MINUTE: Duration = Duration::from_secs(60);
pub const NO_RULES: &[&Rule] = &[];

