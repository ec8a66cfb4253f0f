//! lifecycle-health end to end through the handler, with AWS mocked by aws-smithy-mocks.

mod support;

use std::time::Duration;

use aws_sdk_autoscaling::operation::complete_lifecycle_action::CompleteLifecycleActionOutput;
use aws_sdk_autoscaling::operation::record_lifecycle_action_heartbeat::RecordLifecycleActionHeartbeatOutput;
use aws_sdk_ec2::types::InstanceStateName;
use aws_sdk_lambda::operation::invoke::InvokeOutput;
use aws_smithy_mocks::mock;
use lifecycle_health::clock::Clock;
use lifecycle_health::settings::Settings;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use support::*;

#[tokio::test]
async fn an_impaired_instance_is_abandoned_with_the_reason() {
    let (h, g, c) = (hook(300), group(&[]), complete("ABANDON"));
    let (s, t) = (status(InstanceStateName::Running, "impaired", "ok"), tags(None));
    let out =
        run(launch(Duration::ZERO), Mocks { autoscaling: &[&h, &g, &c], ec2: &[&s, &t], elb: NO_RULES, lambda: NO_RULES }, fast(), MINUTE)
            .await
            .unwrap();
    assert_eq!(out["reason"], "EC2 instance status check is impaired");
}

#[tokio::test]
async fn bootstrap_failed_abandons_without_waiting() {
    let (h, g, c) = (hook(300), group(&[]), complete("ABANDON"));
    let (s, t) = (status(InstanceStateName::Pending, "initializing", "initializing"), tags(Some("failed")));
    let out =
        run(launch(Duration::ZERO), Mocks { autoscaling: &[&h, &g, &c], ec2: &[&s, &t], elb: NO_RULES, lambda: NO_RULES }, fast(), MINUTE)
            .await
            .unwrap();
    assert_eq!(out["reason"], "user data reported bootstrap=failed");
}

#[tokio::test]
async fn bootstrap_failed_abandons_with_the_reason_user_data_tagged() {
    let (h, g, c) = (hook(300), group(&[]), complete("ABANDON"));
    let (s, t) = (status(InstanceStateName::Running, "ok", "ok"), failed_with_reason("downloading the release artifact - exit 1"));
    let out =
        run(launch(Duration::ZERO), Mocks { autoscaling: &[&h, &g, &c], ec2: &[&s, &t], elb: NO_RULES, lambda: NO_RULES }, fast(), MINUTE)
            .await
            .unwrap();
    assert_eq!(out["reason"], "user data reported bootstrap=failed: downloading the release artifact - exit 1");
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
    let s = statuses(&[(InstanceStateName::Running, "initializing", "ok"), (InstanceStateName::Running, "ok", "ok")]);
    let t = tags(None);
    // Started 25 s ago against a 30 s heartbeat timeout: a heartbeat is due before waiting.
    let out = run(
        launch(Duration::from_secs(25)),
        Mocks { autoscaling: &[&h, &g, &beat, &c], ec2: &[&s, &t], elb: NO_RULES, lambda: NO_RULES },
        fast(),
        MINUTE,
    )
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
    let out =
        run(launch(Duration::ZERO), Mocks { autoscaling: &[&h, &g, &c], ec2: &[&s, &t], elb: NO_RULES, lambda: NO_RULES }, fast(), MINUTE)
            .await
            .unwrap();
    assert_eq!(out["result"], "CONTINUE");
    assert_eq!(c.num_calls(), 3);
}

#[tokio::test]
async fn persistent_throttling_during_completion_fails_the_invocation_so_lambda_retries_it() {
    let (h, g) = (hook(300), group(&[]));
    let c = mock!(aws_sdk_autoscaling::Client::complete_lifecycle_action).sequence().http_response(throttled).times(3).build();
    let (s, t) = (status(InstanceStateName::Running, "ok", "ok"), tags(None));
    let err =
        run(launch(Duration::ZERO), Mocks { autoscaling: &[&h, &g, &c], ec2: &[&s, &t], elb: NO_RULES, lambda: NO_RULES }, fast(), MINUTE)
            .await
            .unwrap_err();
    assert!(err.to_string().contains("autoscaling:CompleteLifecycleAction failed: Throttling: Rate exceeded"), "{err}");
    assert_eq!(lambda_runtime::Diagnostic::from(err).error_type, "AwsCallFailed");
}

#[tokio::test]
async fn an_action_completed_elsewhere_is_done_not_an_error() {
    let (h, g) = (hook(300), group(&[]));
    let c = mock!(aws_sdk_autoscaling::Client::complete_lifecycle_action).then_http_response(no_active_action);
    let (s, t) = (status(InstanceStateName::Running, "ok", "ok"), tags(None));
    let out =
        run(launch(Duration::ZERO), Mocks { autoscaling: &[&h, &g, &c], ec2: &[&s, &t], elb: NO_RULES, lambda: NO_RULES }, fast(), MINUTE)
            .await
            .unwrap();
    assert_eq!(out["alreadyClosed"], true);
}

#[tokio::test]
async fn still_warming_at_the_maximum_wait_is_abandoned_naming_what_never_came() {
    let (h, g, c) = (hook(300), group(&["arn:tg/web"]), complete("ABANDON"));
    let (s, t, th) = (status(InstanceStateName::Running, "ok", "ok"), tags(None), target("initial", Some("Elb.InitialHealthChecking")));
    let settings = Settings { max_wait: Duration::from_secs(600), ..fast() };
    let out = run(
        launch(Duration::from_secs(601)),
        Mocks { autoscaling: &[&h, &g, &c], ec2: &[&s, &t], elb: &[&th], lambda: NO_RULES },
        settings,
        MINUTE,
    )
    .await
    .unwrap();
    let reason = out["reason"].as_str().unwrap();
    assert!(reason.starts_with("still not healthy after 601 s (maximum wait 600 s): initial in arn:tg/web"), "{reason}");
}

#[tokio::test]
async fn when_the_next_look_does_not_fit_the_check_waits_what_fits_then_continues_in_a_new_invocation() {
    // Finding 3: handing over without waiting made a hot loop of invocations.
    let (h, g, beat) = (hook(300), group(&[]), heartbeat());
    let (s, t) = (status(InstanceStateName::Pending, "initializing", "initializing"), tags(None));
    let invoke = mock!(aws_sdk_lambda::Client::invoke)
        .match_requests(|r| {
            let payload: Value = serde_json::from_slice(r.payload().unwrap().as_ref()).unwrap();
            r.function_name() == Some("lifecycle-health")
                && r.invocation_type().map(|t| t.as_str()) == Some("Event")
                && payload["continueCheck"]["detail"]["EC2InstanceId"] == INSTANCE
                && payload["progress"]["invocation"] == 1
                && payload["progress"]["startedAt"].is_string()
        })
        .then_output(|| InvokeOutput::builder().status_code(202).build());
    let clock = VirtualClock::new();
    // 20 s: the shortest workable invocation is 10 s margin + 3 s look + 5 s first poll.
    let out = run_on(
        &clock,
        launch(Duration::ZERO),
        Mocks { autoscaling: &[&h, &g, &beat], ec2: &[&s, &t], elb: NO_RULES, lambda: &[&invoke] },
        fast(),
        Duration::from_secs(20),
    )
    .await
    .unwrap();
    assert_eq!(out["result"], "CONTINUED_IN_NEW_INVOCATION");
    assert_eq!(invoke.num_calls(), 1);
    assert!(clock.slept() >= Duration::from_secs(7), "waited what fits before handing over: {:?}", clock.sleeps.lock().unwrap());
    assert!(clock.slept() <= Duration::from_secs(10), "and kept the margin: {:?}", clock.sleeps.lock().unwrap());
    assert_eq!(beat.num_calls(), 0, "a 300 s hook started seconds ago needs no heartbeat to reach the next invocation");
}

#[tokio::test]
async fn an_invocation_too_short_to_wait_in_fails_before_any_aws_call_naming_the_timeout_to_set() {
    // Finding 3: SAM's default 3 s timeout would hand over hundreds of times a minute.
    let err = run(
        launch(Duration::ZERO),
        Mocks { autoscaling: NO_RULES, ec2: NO_RULES, elb: NO_RULES, lambda: NO_RULES },
        fast(),
        Duration::from_secs(3),
    )
    .await
    .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("raise the function's Timeout to at least 18 s"), "{message}");
    assert_eq!(lambda_runtime::Diagnostic::from(err).error_type, "Misconfigured");
}

#[tokio::test]
async fn heartbeats_never_lapse_against_a_30_second_hook_however_long_the_polls() {
    // Finding 1: the gap from one heartbeat (or the action's start) to the next call on the
    // action must stay well inside 30 s, even with HEALTH_MAX_POLL_SECONDS=30.
    let clock = VirtualClock::new();
    let calls = Arc::new(Mutex::new(Vec::new()));
    let (c1, c2) = (clock.clone(), clock.clone());
    let (k1, k2) = (calls.clone(), calls.clone());
    let beat = mock!(aws_sdk_autoscaling::Client::record_lifecycle_action_heartbeat).then_output(move || {
        k1.lock().unwrap().push(c1.now());
        RecordLifecycleActionHeartbeatOutput::builder().build()
    });
    let done = mock!(aws_sdk_autoscaling::Client::complete_lifecycle_action).then_output(move || {
        k2.lock().unwrap().push(c2.now());
        CompleteLifecycleActionOutput::builder().build()
    });
    let mut looks: Vec<(InstanceStateName, &str, &str)> = vec![(InstanceStateName::Running, "initializing", "ok"); 12];
    looks.push((InstanceStateName::Running, "ok", "ok"));
    let (h, g, s, t) = (hook(30), group(&[]), statuses(&looks), tags(None));
    let started = clock.now();
    let out = run_on(
        &clock,
        launch(Duration::ZERO),
        Mocks { autoscaling: &[&h, &g, &beat, &done], ec2: &[&s, &t], elb: NO_RULES, lambda: NO_RULES },
        fast(),
        Duration::from_secs(900),
    )
    .await
    .unwrap();
    assert_eq!(out["result"], "CONTINUE");
    let calls = calls.lock().unwrap();
    assert!(beat.num_calls() >= 3, "{} heartbeats over {:?}", beat.num_calls(), clock.slept());
    let mut previous = started;
    for at in calls.iter() {
        let gap = (*at - previous).to_std().unwrap();
        assert!(gap <= Duration::from_secs(20), "{gap:?} between calls on a 30 s hook; sleeps {:?}", clock.sleeps.lock().unwrap());
        previous = *at;
    }
}

#[tokio::test]
async fn an_instance_ec2_does_not_list_yet_is_waited_for_not_abandoned() {
    // Finding 2: InvalidInstanceID.NotFound right after launch is eventual consistency.
    let (h, g, c) = (hook(300), group(&[]), complete("CONTINUE"));
    let (s, t) = (unknown_then_ok(2), tags(None));
    let out =
        run(launch(Duration::ZERO), Mocks { autoscaling: &[&h, &g, &c], ec2: &[&s, &t], elb: NO_RULES, lambda: NO_RULES }, fast(), MINUTE)
            .await
            .unwrap();
    assert_eq!(out["result"], "CONTINUE", "{out}");
    assert_eq!(s.num_calls(), 3);
}

#[tokio::test]
async fn a_hand_over_spends_no_heartbeat_when_the_action_outlives_the_maximum_wait_anyway() {
    // Finding 4: a heartbeat at every hand-over extended the action a whole timeout past the
    // bound. 900 s hook (600 s safe), 400 s in, 420 s maximum wait.
    let (h, g, beat) = (hook(900), group(&[]), heartbeat());
    let (s, t) = (status(InstanceStateName::Pending, "initializing", "initializing"), tags(None));
    let invoke = mock!(aws_sdk_lambda::Client::invoke).then_output(|| InvokeOutput::builder().status_code(202).build());
    let settings = Settings { max_wait: Duration::from_secs(420), ..fast() };
    let out = run(
        launch(Duration::from_secs(400)),
        Mocks { autoscaling: &[&h, &g, &beat], ec2: &[&s, &t], elb: NO_RULES, lambda: &[&invoke] },
        settings,
        Duration::from_secs(20),
    )
    .await
    .unwrap();
    assert_eq!(out["result"], "CONTINUED_IN_NEW_INVOCATION");
    assert_eq!((beat.num_calls(), invoke.num_calls()), (0, 1));
}

#[tokio::test]
async fn the_maximum_wait_is_clamped_to_what_auto_scaling_keeps_the_action() {
    // Finding 4: 100 × a 30 s heartbeat timeout is 3000 s, whatever HEALTH_MAX_WAIT_SECONDS says.
    let (h, g, c) = (hook(30), group(&[]), complete("ABANDON"));
    let (s, t) = (status(InstanceStateName::Running, "initializing", "ok"), tags(None));
    let settings = Settings { max_wait: Duration::from_secs(7200), ..fast() };
    let out = run(
        launch(Duration::from_secs(2995)),
        Mocks { autoscaling: &[&h, &g, &c], ec2: &[&s, &t], elb: NO_RULES, lambda: NO_RULES },
        settings,
        MINUTE,
    )
    .await
    .unwrap();
    let reason = out["reason"].as_str().unwrap();
    // Less a look (3 s) and the completion (3 s): 2994 s.
    assert!(reason.contains("(maximum wait 2994 s)"), "{reason}");
}

#[tokio::test]
async fn the_private_ip_is_read_once_per_invocation_however_many_looks() {
    // Finding 5: DescribeInstances on every look was a call the answer never changes.
    let (port, requests) = health_server(&["503 Service Unavailable", "503 Service Unavailable", "200 OK"]);
    let (h, g, c) = (hook(300), group(&[]), complete("CONTINUE"));
    let (s, t, ip) = (status(InstanceStateName::Running, "ok", "ok"), tags(None), private_ip("127.0.0.1"));
    let settings = Settings {
        http: Some(lifecycle_health::settings::HttpCheck { port, path: "/health".into(), timeout: Duration::from_secs(2) }),
        ..fast()
    };
    let out = run(
        launch(Duration::ZERO),
        Mocks { autoscaling: &[&h, &g, &c], ec2: &[&s, &t, &ip], elb: NO_RULES, lambda: NO_RULES },
        settings,
        MINUTE,
    )
    .await
    .unwrap();
    assert_eq!(out["result"], "CONTINUE", "{out}");
    assert_eq!(requests.try_iter().count(), 3, "three looks");
    assert_eq!(ip.num_calls(), 1);
}

#[tokio::test]
async fn a_test_notification_is_acknowledged_without_any_aws_call() {
    let out = run(
        sample("test-notification.json"),
        Mocks { autoscaling: NO_RULES, ec2: NO_RULES, elb: NO_RULES, lambda: NO_RULES },
        fast(),
        MINUTE,
    )
    .await
    .unwrap();
    assert_eq!(out["result"], "ignored");
}

#[tokio::test]
async fn a_malformed_event_fails_the_invocation_naming_the_field() {
    let err =
        run(sample("malformed.json"), Mocks { autoscaling: NO_RULES, ec2: NO_RULES, elb: NO_RULES, lambda: NO_RULES }, fast(), MINUTE)
            .await
            .unwrap_err();
    assert!(err.to_string().contains("missing field `EC2InstanceId`"), "{err}");
    assert_eq!(lambda_runtime::Diagnostic::from(err).error_type, "InvalidLifecycleEvent");
}

#[test]
fn every_sample_event_is_parsed() {
    let dir = format!("{}/../../events/lifecycle-health", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "launch.json",
            "malformed.json",
            "root-volume-replacement.json",
            "test-notification.json",
            "warm-pool-entry.json",
            "warm-pool-promotion.json"
        ],
        "a new sample needs a test"
    );
    for name in names {
        let parsed = lifecycle_health::event::parse(sample(&name), chrono::Utc::now());
        assert_eq!(parsed.is_ok(), name != "malformed.json", "{name}: {parsed:?}");
    }
}
