//! lifecycle-health end to end through the handler, with AWS mocked by aws-smithy-mocks.

mod support;

use std::time::Duration;

use aws_sdk_autoscaling::operation::complete_lifecycle_action::CompleteLifecycleActionOutput;
use aws_sdk_autoscaling::operation::record_lifecycle_action_heartbeat::RecordLifecycleActionHeartbeatOutput;
use aws_sdk_ec2::types::InstanceStateName;
use aws_sdk_lambda::operation::invoke::InvokeOutput;
use aws_smithy_mocks::mock;
use lifecycle_health::settings::Settings;
use serde_json::Value;
use support::*;

#[tokio::test]
async fn an_impaired_instance_is_abandoned_with_the_reason() {
    let (h, g, c) = (hook(300), group(&[]), complete("ABANDON"));
    let (s, t) = (status(InstanceStateName::Running, "impaired", "ok"), tags(None));
    let out = run(launch(Duration::ZERO), Mocks { autoscaling: &[&h, &g, &c], ec2: &[&s, &t], elb: NO_RULES, lambda: NO_RULES }, fast(), MINUTE).await.unwrap();
    assert_eq!(out["reason"], "EC2 instance status check is impaired");
}

#[tokio::test]
async fn bootstrap_failed_abandons_without_waiting() {
    let (h, g, c) = (hook(300), group(&[]), complete("ABANDON"));
    let (s, t) = (status(InstanceStateName::Pending, "initializing", "initializing"), tags(Some("failed")));
    let out = run(launch(Duration::ZERO), Mocks { autoscaling: &[&h, &g, &c], ec2: &[&s, &t], elb: NO_RULES, lambda: NO_RULES }, fast(), MINUTE).await.unwrap();
    assert_eq!(out["reason"], "user data reported bootstrap=failed");
}

#[tokio::test]
async fn a_warming_instance_gets_a_heartbeat_through_throttling_then_is_continued() {
    let h = hook(30);
    let g = group(&[]);
    let beat = mock!(aws_sdk_autoscaling::Client::record_lifecycle_action_heartbeat)
        .sequence()
        .http_response(throttled)
        .times(2)
        .output(|| RecordLifecycleActionHeartbeatOutput::builder().build())
        .build();
    let c = complete("CONTINUE");
    let (s1, t1) = (status(InstanceStateName::Running, "initializing", "ok"), tags(None));
    let (s2, t2) = (status(InstanceStateName::Running, "ok", "ok"), tags(None));
    // Started 25 s ago against a 30 s heartbeat timeout: a heartbeat is due before waiting.
    let out = run(launch(Duration::from_secs(25)), Mocks { autoscaling: &[&h, &g, &beat, &c], ec2: &[&s1, &t1, &s2, &t2], elb: NO_RULES, lambda: NO_RULES }, fast(), MINUTE)
        .await
        .unwrap();
    assert_eq!(out["result"], "CONTINUE");
    assert_eq!(beat.num_calls(), 3, "two throttled heartbeats retried by the SDK, then recorded");
}

#[tokio::test]
async fn throttling_during_completion_is_retried_by_the_sdk() {
    let (h, g) = (hook(300), group(&[]));
    let c = mock!(aws_sdk_autoscaling::Client::complete_lifecycle_action)
        .sequence()
        .http_response(throttled)
        .times(2)
        .output(|| CompleteLifecycleActionOutput::builder().build())
        .build();
    let (s, t) = (status(InstanceStateName::Running, "ok", "ok"), tags(None));
    let out = run(launch(Duration::ZERO), Mocks { autoscaling: &[&h, &g, &c], ec2: &[&s, &t], elb: NO_RULES, lambda: NO_RULES }, fast(), MINUTE).await.unwrap();
    assert_eq!(out["result"], "CONTINUE");
    assert_eq!(c.num_calls(), 3);
}

#[tokio::test]
async fn persistent_throttling_during_completion_fails_the_invocation_so_lambda_retries_it() {
    let (h, g) = (hook(300), group(&[]));
    let c = mock!(aws_sdk_autoscaling::Client::complete_lifecycle_action).sequence().http_response(throttled).times(3).build();
    let (s, t) = (status(InstanceStateName::Running, "ok", "ok"), tags(None));
    let err = run(launch(Duration::ZERO), Mocks { autoscaling: &[&h, &g, &c], ec2: &[&s, &t], elb: NO_RULES, lambda: NO_RULES }, fast(), MINUTE).await.unwrap_err();
    assert!(err.to_string().contains("autoscaling:CompleteLifecycleAction failed: Throttling: Rate exceeded"), "{err}");
    assert_eq!(lambda_runtime::Diagnostic::from(err).error_type, "AwsCallFailed");
}

#[tokio::test]
async fn an_action_completed_elsewhere_is_done_not_an_error() {
    let (h, g) = (hook(300), group(&[]));
    let c = mock!(aws_sdk_autoscaling::Client::complete_lifecycle_action).then_http_response(no_active_action);
    let (s, t) = (status(InstanceStateName::Running, "ok", "ok"), tags(None));
    let out = run(launch(Duration::ZERO), Mocks { autoscaling: &[&h, &g, &c], ec2: &[&s, &t], elb: NO_RULES, lambda: NO_RULES }, fast(), MINUTE).await.unwrap();
    assert_eq!(out["alreadyClosed"], true);
}

#[tokio::test]
async fn still_warming_at_the_maximum_wait_is_abandoned_naming_what_never_came() {
    let (h, g, c) = (hook(300), group(&["arn:tg/web"]), complete("ABANDON"));
    let (s, t, th) = (status(InstanceStateName::Running, "ok", "ok"), tags(None), target("initial", Some("Elb.InitialHealthChecking")));
    let settings = Settings { max_wait: Duration::from_secs(600), ..fast() };
    let out = run(launch(Duration::from_secs(601)), Mocks { autoscaling: &[&h, &g, &c], ec2: &[&s, &t], elb: &[&th], lambda: NO_RULES }, settings, MINUTE).await.unwrap();
    let reason = out["reason"].as_str().unwrap();
    assert!(reason.starts_with("still not healthy after 601 s (maximum wait 600 s): initial in arn:tg/web"), "{reason}");
}

#[tokio::test]
async fn when_the_invocation_runs_out_of_time_the_check_continues_in_a_new_invocation() {
    let (h, g, beat) = (hook(300), group(&[]), heartbeat());
    let (s, t) = (status(InstanceStateName::Pending, "initializing", "initializing"), tags(None));
    let invoke = mock!(aws_sdk_lambda::Client::invoke)
        .match_requests(|r| {
            let payload: Value = serde_json::from_slice(r.payload().unwrap().as_ref()).unwrap();
            r.function_name() == Some("lifecycle-health")
                && r.invocation_type().map(|t| t.as_str()) == Some("Event")
                && payload["continueCheck"]["detail"]["EC2InstanceId"] == INSTANCE
                && payload["progress"]["invocation"] == 1
                && payload["progress"]["heartbeats"] == 1
        })
        .then_output(|| InvokeOutput::builder().status_code(202).build());
    // 500 ms left against a 1 s margin: no time to wait here.
    let out = run(launch(Duration::ZERO), Mocks { autoscaling: &[&h, &g, &beat], ec2: &[&s, &t], elb: NO_RULES, lambda: &[&invoke] }, fast(), Duration::from_millis(500))
        .await
        .unwrap();
    assert_eq!(out["result"], "CONTINUED_IN_NEW_INVOCATION");
    assert_eq!((beat.num_calls(), invoke.num_calls()), (1, 1));
}

#[tokio::test]
async fn a_test_notification_is_acknowledged_without_any_aws_call() {
    let out = run(sample("test-notification.json"), Mocks { autoscaling: NO_RULES, ec2: NO_RULES, elb: NO_RULES, lambda: NO_RULES }, fast(), MINUTE).await.unwrap();
    assert_eq!(out["result"], "ignored");
}

#[tokio::test]
async fn a_malformed_event_fails_the_invocation_naming_the_field() {
    let err = run(sample("malformed.json"), Mocks { autoscaling: NO_RULES, ec2: NO_RULES, elb: NO_RULES, lambda: NO_RULES }, fast(), MINUTE).await.unwrap_err();
    assert!(err.to_string().contains("missing field `EC2InstanceId`"), "{err}");
    assert_eq!(lambda_runtime::Diagnostic::from(err).error_type, "InvalidLifecycleEvent");
}

#[test]
fn every_sample_event_is_parsed() {
    let dir = format!("{}/../../events/lifecycle-health", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["launch.json", "malformed.json", "test-notification.json"], "a new sample needs a test");
    for name in names {
        let parsed = lifecycle_health::event::parse(sample(&name), chrono::Utc::now());
        assert_eq!(parsed.is_ok(), name != "malformed.json", "{name}: {parsed:?}");
    }
}
