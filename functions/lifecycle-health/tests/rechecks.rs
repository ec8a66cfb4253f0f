//! Batches from the recheck queue, as its event source mapping delivers them: each message
//! continues one check, and only the messages whose check failed are reported back.

mod support;

use std::time::Duration;

use aws_sdk_autoscaling::operation::complete_lifecycle_action::CompleteLifecycleActionOutput;
use aws_sdk_ec2::types::InstanceStateName;
use aws_smithy_mocks::mock;
use lifecycle_health::event::{continuation_payload, parse, Incoming, Progress};
use serde_json::{json, Value};
use support::*;

fn continuation() -> String {
    let Incoming::Launch(check) = parse(launch(Duration::ZERO), chrono::Utc::now()).unwrap() else { panic!("a launch") };
    continuation_payload(&check, &Progress { invocation: 1, looks: 1, ..check.progress.clone() }).to_string()
}

fn batch(bodies: &[String]) -> Value {
    let records: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| json!({"messageId": format!("m-{i}"), "receiptHandle": format!("r-{i}"), "body": body, "eventSource": "aws:sqs", "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}}))
        .collect();
    json!({"Records": records})
}

#[tokio::test]
async fn a_batch_reports_back_only_the_messages_whose_check_failed() {
    let (h, g) = (hook(300), group(&[]));
    // The first completion is recorded; the second is throttled past the SDK's retries.
    let c = mock!(aws_sdk_autoscaling::Client::complete_lifecycle_action)
        .sequence()
        .output(|| CompleteLifecycleActionOutput::builder().build())
        .http_response(throttled)
        .times(3)
        .build();
    let (s, t) = (status(InstanceStateName::Running, "ok", "ok"), tags(None));
    let queue = RecheckQueue::default();
    let event = batch(&[continuation(), "not a check".into(), continuation()]);
    let out = invoke(
        &VirtualClock::new(),
        event,
        Mocks { autoscaling: &[&h, &g, &c], ec2: &[&s, &t], elb: NO_RULES },
        &queue.rule(),
        fast(),
        MINUTE,
    )
    .await
    .unwrap();
    assert_eq!(out, json!({"batchItemFailures": [{"itemIdentifier": "m-1"}, {"itemIdentifier": "m-2"}]}));
    assert_eq!(c.num_calls(), 4, "one completion recorded, one throttled three times");
    assert!(queue.sent().is_empty());
}

#[tokio::test]
async fn a_recheck_of_a_still_warming_instance_sends_the_next_one_and_succeeds() {
    let (h, g) = (hook(300), group(&[]));
    let (s, t) = (status(InstanceStateName::Running, "initializing", "ok"), tags(None));
    let queue = RecheckQueue::default();
    let out = invoke(
        &VirtualClock::new(),
        batch(&[continuation()]),
        Mocks { autoscaling: &[&h, &g], ec2: &[&s, &t], elb: NO_RULES },
        &queue.rule(),
        fast(),
        MINUTE,
    )
    .await
    .unwrap();
    assert_eq!(out, json!({"batchItemFailures": []}));
    let [(body, delay)] = queue.sent().try_into().expect("the next recheck");
    assert_eq!((body["progress"]["invocation"].as_u64(), body["progress"]["looks"].as_u64()), (Some(2), Some(2)));
    // The second look's wait: 5 s × 1.5, jittered down to half, in whole seconds.
    assert!((4..=8).contains(&delay), "{delay}");
}

#[tokio::test]
async fn a_batch_that_is_not_from_sqs_fails_the_invocation_naming_the_problem() {
    let err = invoke(
        &VirtualClock::new(),
        json!({"Records": [{"body": 1}]}),
        Mocks { autoscaling: NO_RULES, ec2: NO_RULES, elb: NO_RULES },
        &RecheckQueue::default().rule(),
        fast(),
        MINUTE,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("not an SQS batch from the recheck queue"), "{err}");
    assert_eq!(lambda_runtime::Diagnostic::from(err).error_type, "InvalidLifecycleEvent");
}

#[tokio::test]
async fn a_recheck_left_by_the_version_before_the_queue_still_continues_its_check() {
    // In-flight hand-overs of the earlier version arrive as a direct `continueCheck` event.
    let (h, g, c) = (hook(300), group(&[]), complete("CONTINUE"));
    let (s, t) = (status(InstanceStateName::Running, "ok", "ok"), tags(None));
    let event: Value = serde_json::from_str(&continuation()).unwrap();
    let out = run(event, Mocks { autoscaling: &[&h, &g, &c], ec2: &[&s, &t], elb: NO_RULES }, fast(), MINUTE).await.unwrap();
    assert_eq!(out["result"], "CONTINUE");
}
