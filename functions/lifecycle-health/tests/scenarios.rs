//! lifecycle-health end to end through the handler, with AWS mocked by aws-smithy-mocks.

mod support;

use std::time::Duration;

use aws_sdk_autoscaling::operation::complete_lifecycle_action::CompleteLifecycleActionOutput;
use aws_sdk_autoscaling::operation::record_lifecycle_action_heartbeat::RecordLifecycleActionHeartbeatOutput;
use aws_sdk_ec2::types::InstanceStateName;
use aws_smithy_mocks::mock;
use lifecycle_health::clock::Clock;
use lifecycle_health::settings::Settings;
use std::sync::{Arc, Mutex};
use support::*;

#[tokio::test]
async fn an_impaired_instance_is_abandoned_with_the_reason() {
    let (h, g, c) = (hook(300), group(&[]), complete("ABANDON"));
    let (s, t) = (status(InstanceStateName::Running, "impaired", "ok"), tags(None));
    let out =
        run(launch(Duration::ZERO), Mocks { autoscaling: &[&h, &g, &c], ec2: &[&s, &t], elb: NO_RULES }, fast(), MINUTE).await.unwrap();
    assert_eq!(out["reason"], "EC2 instance status check is impaired");
}

#[tokio::test]
async fn bootstrap_failed_abandons_without_waiting() {
    let (h, g, c) = (hook(300), group(&[]), complete("ABANDON"));
    let (s, t) = (status(InstanceStateName::Pending, "initializing", "initializing"), tags(Some("failed")));
    let out =
        run(launch(Duration::ZERO), Mocks { autoscaling: &[&h, &g, &c], ec2: &[&s, &t], elb: NO_RULES }, fast(), MINUTE).await.unwrap();
    assert_eq!(out["reason"], "user data reported bootstrap=failed");
}

#[tokio::test]
async fn bootstrap_failed_abandons_with_the_reason_user_data_tagged() {
    let (h, g, c) = (hook(300), group(&[]), complete("ABANDON"));
    let (s, t) = (status(InstanceStateName::Running, "ok", "ok"), failed_with_reason("downloading the release artifact - exit 1"));
    let out =
        run(launch(Duration::ZERO), Mocks { autoscaling: &[&h, &g, &c], ec2: &[&s, &t], elb: NO_RULES }, fast(), MINUTE).await.unwrap();
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
    let out =
        run(launch(Duration::from_secs(25)), Mocks { autoscaling: &[&h, &g, &beat, &c], ec2: &[&s, &t], elb: NO_RULES }, fast(), MINUTE)
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
        run(launch(Duration::ZERO), Mocks { autoscaling: &[&h, &g, &c], ec2: &[&s, &t], elb: NO_RULES }, fast(), MINUTE).await.unwrap();
    assert_eq!(out["result"], "CONTINUE");
    assert_eq!(c.num_calls(), 3);
}

#[tokio::test]
async fn persistent_throttling_during_completion_fails_the_invocation_so_lambda_retries_it() {
    let (h, g) = (hook(300), group(&[]));
    let c = mock!(aws_sdk_autoscaling::Client::complete_lifecycle_action).sequence().http_response(throttled).times(3).build();
    let (s, t) = (status(InstanceStateName::Running, "ok", "ok"), tags(None));
    let err =
        run(launch(Duration::ZERO), Mocks { autoscaling: &[&h, &g, &c], ec2: &[&s, &t], elb: NO_RULES }, fast(), MINUTE).await.unwrap_err();
    assert!(err.to_string().contains("autoscaling:CompleteLifecycleAction failed: Throttling: Rate exceeded"), "{err}");
    assert_eq!(lambda_runtime::Diagnostic::from(err).error_type, "AwsCallFailed");
}

#[tokio::test]
async fn an_action_completed_elsewhere_is_done_not_an_error() {
    let (h, g) = (hook(300), group(&[]));
    let c = mock!(aws_sdk_autoscaling::Client::complete_lifecycle_action).then_http_response(no_active_action);
    let (s, t) = (status(InstanceStateName::Running, "ok", "ok"), tags(None));
    let out =
        run(launch(Duration::ZERO), Mocks { autoscaling: &[&h, &g, &c], ec2: &[&s, &t], elb: NO_RULES }, fast(), MINUTE).await.unwrap();
    assert_eq!(out["alreadyClosed"], true);
}

#[tokio::test]
async fn still_warming_at_the_maximum_wait_is_abandoned_naming_what_never_came() {
    let (h, g, c) = (hook(300), group(&["arn:tg/web"]), complete("ABANDON"));
    let (s, t, th) = (status(InstanceStateName::Running, "ok", "ok"), tags(None), target("initial", Some("Elb.InitialHealthChecking")));
    let settings = Settings { max_wait: Duration::from_secs(600), ..fast() };
    let out = run(launch(Duration::from_secs(601)), Mocks { autoscaling: &[&h, &g, &c], ec2: &[&s, &t], elb: &[&th] }, settings, MINUTE)
        .await
        .unwrap();
    let reason = out["reason"].as_str().unwrap();
    assert!(reason.starts_with("still not healthy after 601 s (maximum wait 600 s): initial in arn:tg/web"), "{reason}");
}

#[tokio::test]
async fn a_warming_instance_is_looked_at_again_after_a_delay_with_no_invocation_waiting() {
    let (h, g, beat) = (hook(300), group(&[]), heartbeat());
    let (s, t) = (status(InstanceStateName::Pending, "initializing", "initializing"), tags(None));
    let clock = VirtualClock::new();
    let queue = RecheckQueue::default();
    let out = invoke(
        &clock,
        launch(Duration::ZERO),
        Mocks { autoscaling: &[&h, &g, &beat], ec2: &[&s, &t], elb: NO_RULES },
        &queue.rule(),
        fast(),
        MINUTE,
    )
    .await
    .unwrap();
    assert_eq!(out["result"], "RECHECK_SCHEDULED");
    assert_eq!(clock.slept(), Duration::ZERO, "no waiting inside the invocation");
    let [(body, delay)] = queue.sent().try_into().expect("one recheck");
    // The first wait: the first poll (5 s) with jitter down to half, in whole seconds.
    assert!((3..=5).contains(&delay), "{delay}");
    assert_eq!(out["delaySeconds"], delay);
    assert_eq!(body["continueCheck"]["detail"]["EC2InstanceId"], INSTANCE);
    assert_eq!((body["progress"]["invocation"].as_u64(), body["progress"]["looks"].as_u64()), (Some(1), Some(1)));
    assert!(body["progress"]["startedAt"].is_string());
    assert_eq!(beat.num_calls(), 0, "a 300 s hook started seconds ago needs no heartbeat to reach the next look");
}

#[tokio::test]
async fn the_wait_between_looks_grows_across_rechecks_until_the_instance_is_healthy() {
    let (h, g, c) = (hook(3600), group(&[]), complete("CONTINUE"));
    let mut looks = vec![(InstanceStateName::Running, "initializing", "ok"); 5];
    looks.push((InstanceStateName::Running, "ok", "ok"));
    let (s, t) = (statuses(&looks), tags(None));
    let clock = VirtualClock::new();
    let out = run_on(&clock, launch(Duration::ZERO), Mocks { autoscaling: &[&h, &g, &c], ec2: &[&s, &t], elb: NO_RULES }, fast(), MINUTE)
        .await
        .unwrap();
    assert_eq!(out["result"], "CONTINUE", "{out}");
    let delays = clock.delays();
    assert_eq!(delays.len(), 5, "one recheck per warming look: {delays:?}");
    assert_eq!(clock.slept(), Duration::ZERO);
    // Backoff from 5 s by 1.5× a look, jittered down to half: the fifth wait (5 × 1.5⁴ ≈ 25 s,
    // at least 13 s) is longer than the first could be (at most 5 s).
    assert!(delays[0] <= Duration::from_secs(5) && delays[4] >= Duration::from_secs(13), "{delays:?}");
    assert_eq!(h.num_calls(), 6, "each invocation reads the hook");
}

#[tokio::test]
async fn a_recheck_the_queue_cannot_take_fails_the_invocation_so_it_is_retried() {
    let (h, g) = (hook(300), group(&[]));
    let (s, t) = (status(InstanceStateName::Pending, "initializing", "initializing"), tags(None));
    let refused = mock!(aws_sdk_sqs::Client::send_message).then_http_response(|| {
        aws_smithy_runtime_api::http::Response::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(400).unwrap(),
            aws_smithy_types::body::SdkBody::from(
                r#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."}"#,
            ),
        )
    });
    let err = invoke(
        &VirtualClock::new(),
        launch(Duration::ZERO),
        Mocks { autoscaling: &[&h, &g], ec2: &[&s, &t], elb: NO_RULES },
        &refused,
        fast(),
        MINUTE,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().starts_with("sqs:SendMessage failed"), "{err}");
    assert_eq!(lambda_runtime::Diagnostic::from(err).error_type, "AwsCallFailed");
}

#[tokio::test]
async fn an_invocation_too_short_to_wait_in_fails_before_any_aws_call_naming_the_timeout_to_set() {
    // Finding 3: SAM's default 3 s timeout would hand over hundreds of times a minute.
    let err = run(launch(Duration::ZERO), Mocks { autoscaling: NO_RULES, ec2: NO_RULES, elb: NO_RULES }, fast(), Duration::from_secs(3))
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
        Mocks { autoscaling: &[&h, &g, &beat, &done], ec2: &[&s, &t], elb: NO_RULES },
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
        run(launch(Duration::ZERO), Mocks { autoscaling: &[&h, &g, &c], ec2: &[&s, &t], elb: NO_RULES }, fast(), MINUTE).await.unwrap();
    assert_eq!(out["result"], "CONTINUE", "{out}");
    assert_eq!(s.num_calls(), 3);
}

#[tokio::test]
async fn a_recheck_spends_no_heartbeat_when_the_action_outlives_the_maximum_wait_anyway() {
    // Finding 4: a heartbeat at every hand-over extended the action a whole timeout past the
    // bound. 900 s hook (600 s safe), 400 s in, 420 s maximum wait.
    let (h, g, beat) = (hook(900), group(&[]), heartbeat());
    let (s, t) = (status(InstanceStateName::Pending, "initializing", "initializing"), tags(None));
    let settings = Settings { max_wait: Duration::from_secs(420), ..fast() };
    let queue = RecheckQueue::default();
    let out = invoke(
        &VirtualClock::new(),
        launch(Duration::from_secs(400)),
        Mocks { autoscaling: &[&h, &g, &beat], ec2: &[&s, &t], elb: NO_RULES },
        &queue.rule(),
        settings,
        Duration::from_secs(20),
    )
    .await
    .unwrap();
    assert_eq!(out["result"], "RECHECK_SCHEDULED");
    assert_eq!((beat.num_calls(), queue.sent().len()), (0, 1));
}

/// An instance still warming 50 s into a 120 s hook (80 s safe), looked at with a 30 s first
/// poll: a delay of 15 to 30 s, the delivery (10 s), the next invocation's first call (3 s) and
/// a look would end past the safe gap, so the heartbeat (answered by `beat`) is due before the
/// recheck goes to `queue`.
async fn heartbeat_due_before_the_recheck(beat: &aws_smithy_mocks::Rule, queue: &RecheckQueue) -> serde_json::Value {
    let (h, g) = (hook(120), group(&[]));
    let (s, t) = (status(InstanceStateName::Pending, "initializing", "initializing"), tags(None));
    let settings = Settings { first_poll: Duration::from_secs(30), check_targets: false, ..fast() };
    invoke(
        &VirtualClock::new(),
        launch(Duration::from_secs(50)),
        Mocks { autoscaling: &[&h, &g, beat], ec2: &[&s, &t], elb: NO_RULES },
        &queue.rule(),
        settings,
        MINUTE,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_recheck_due_after_a_long_wait_is_sent_after_a_heartbeat_that_covers_the_delivery() {
    let (beat, queue) = (heartbeat(), RecheckQueue::default());
    let out = heartbeat_due_before_the_recheck(&beat, &queue).await;
    assert_eq!(out["result"], "RECHECK_SCHEDULED", "{out}");
    assert_eq!(beat.num_calls(), 1);
    let [(body, _)] = queue.sent().try_into().expect("one recheck");
    assert_eq!(body["progress"]["heartbeats"], 1, "the next invocation knows when the last heartbeat was");
    assert!(body["progress"]["lastHeartbeatAt"].is_string());
}

#[tokio::test]
async fn a_heartbeat_that_finds_the_action_closed_ends_the_check_without_a_recheck() {
    // Auto Scaling answers the heartbeat that the action is gone (completed elsewhere, or timed out).
    let gone = mock!(aws_sdk_autoscaling::Client::record_lifecycle_action_heartbeat).then_http_response(no_active_action);
    let queue = RecheckQueue::default();
    let out = heartbeat_due_before_the_recheck(&gone, &queue).await;
    assert_eq!(out["result"], "ALREADY_CLOSED", "{out}");
    assert_eq!(gone.num_calls(), 1);
    assert!(queue.sent().is_empty(), "nothing left to look at again");
}

#[tokio::test]
async fn the_maximum_wait_is_clamped_to_what_auto_scaling_keeps_the_action() {
    // Finding 4: 100 × a 30 s heartbeat timeout is 3000 s, whatever HEALTH_MAX_WAIT_SECONDS says.
    let (h, g, c) = (hook(30), group(&[]), complete("ABANDON"));
    let (s, t) = (status(InstanceStateName::Running, "initializing", "ok"), tags(None));
    let settings = Settings { max_wait: Duration::from_secs(7200), ..fast() };
    let out = run(launch(Duration::from_secs(2995)), Mocks { autoscaling: &[&h, &g, &c], ec2: &[&s, &t], elb: NO_RULES }, settings, MINUTE)
        .await
        .unwrap();
    let reason = out["reason"].as_str().unwrap();
    // Less a look (3 s) and the completion (3 s): 2994 s.
    assert!(reason.contains("(maximum wait 2994 s)"), "{reason}");
}

#[tokio::test]
async fn the_private_ip_is_read_once_per_invocation_however_many_looks() {
    // Finding 5: DescribeInstances on every look was a call the answer never changes. A 30 s
    // hook is too short for a delivered recheck, so the looks happen in one invocation.
    let (port, requests) = health_server(&["503 Service Unavailable", "503 Service Unavailable", "200 OK"]);
    let (h, g, c) = (hook(30), group(&[]), complete("CONTINUE"));
    let (s, t, ip) = (status(InstanceStateName::Running, "ok", "ok"), tags(None), private_ip("127.0.0.1"));
    let settings = Settings {
        http: Some(lifecycle_health::settings::HttpCheck { port, path: "/health".into(), timeout: Duration::from_secs(2) }),
        ..fast()
    };
    let out = run(launch(Duration::ZERO), Mocks { autoscaling: &[&h, &g, &c], ec2: &[&s, &t, &ip], elb: NO_RULES }, settings, MINUTE)
        .await
        .unwrap();
    assert_eq!(out["result"], "CONTINUE", "{out}");
    assert_eq!(requests.try_iter().count(), 3, "three looks");
    assert_eq!(ip.num_calls(), 1);
}

#[tokio::test]
async fn a_test_notification_is_acknowledged_without_any_aws_call() {
    let out =
        run(sample("test-notification.json"), Mocks { autoscaling: NO_RULES, ec2: NO_RULES, elb: NO_RULES }, fast(), MINUTE).await.unwrap();
    assert_eq!(out["result"], "ignored");
}

#[tokio::test]
async fn a_malformed_event_fails_the_invocation_naming_the_field() {
    let err =
        run(sample("malformed.json"), Mocks { autoscaling: NO_RULES, ec2: NO_RULES, elb: NO_RULES }, fast(), MINUTE).await.unwrap_err();
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
