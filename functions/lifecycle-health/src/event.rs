//! The events this function receives, parsed at the edge.
//!
//! - `EC2 Instance-launch Lifecycle Action` from EventBridge (`aws_lambda_events` types the
//!   envelope; the Auto Scaling detail is typed here, the crate leaves it an untyped map);
//! - the same event wrapped with the check's progress, when a look found the instance still
//!   warming: this function sends it to its recheck queue with a delay, and the queue's event
//!   source mapping delivers it back as an SQS batch (one continuation per message);
//! - `autoscaling:TEST_NOTIFICATION`, acknowledged and ignored.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::SqsEvent;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const LAUNCH_DETAIL_TYPE: &str = "EC2 Instance-launch Lifecycle Action";
const LAUNCHING: &str = "autoscaling:EC2_INSTANCE_LAUNCHING";
const TEST_NOTIFICATION: &str = "autoscaling:TEST_NOTIFICATION";

/// The `detail` of a lifecycle action event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LifecycleActionDetail {
    pub lifecycle_action_token: String,
    pub auto_scaling_group_name: String,
    pub lifecycle_hook_name: String,
    #[serde(rename = "EC2InstanceId")]
    pub ec2_instance_id: String,
    pub lifecycle_transition: String,
    #[serde(default)]
    pub notification_metadata: Option<String>,
    #[serde(default)]
    pub origin: Option<String>,
    #[serde(default)]
    pub destination: Option<String>,
    /// `ReplaceRootVolume` on the events of a root volume replacement.
    #[serde(default)]
    pub action: Option<String>,
}

/// Where the launch takes the instance, from the event's `Origin` and `Destination`: each
/// gets the checks that fit it (see [`crate::settings::Settings::for_transition`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transition {
    /// `EC2 → AutoScalingGroup`: a new instance joins the group (`Pending:Wait`).
    IntoGroup,
    /// `EC2 → WarmPool`: a new instance is prepared, then stopped or hibernated in the warm pool
    /// (`Warmed:Pending:Wait`). The app will not serve from here.
    IntoWarmPool,
    /// `WarmPool → AutoScalingGroup`: a prepared instance leaves the pool for the group
    /// (`Pending:Wait`); it may have been prepared before the current release.
    FromWarmPool,
    /// `AutoScalingGroup → AutoScalingGroup`: a ReplaceRootVolume refresh gave the instance a new
    /// root volume (`ReplacingRootVolume:Wait`); same id, same tags, a new boot.
    RootVolumeReplacement,
}

const WARM_POOL: &str = "WarmPool";
const GROUP: &str = "AutoScalingGroup";

impl LifecycleActionDetail {
    /// Events without `Origin` / `Destination` (older ones, hand-written ones) are launches into
    /// the group: the full check is the safe reading.
    pub fn transition(&self) -> Transition {
        if self.action.as_deref() == Some("ReplaceRootVolume") {
            return Transition::RootVolumeReplacement;
        }
        match (self.origin.as_deref(), self.destination.as_deref()) {
            (_, Some(WARM_POOL)) => Transition::IntoWarmPool,
            (Some(WARM_POOL), _) => Transition::FromWarmPool,
            (Some(GROUP), Some(GROUP)) => Transition::RootVolumeReplacement,
            _ => Transition::IntoGroup,
        }
    }
}

/// One lifecycle action to decide, and how far earlier invocations got with it.
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchCheck {
    pub action: LifecycleActionDetail,
    /// When Auto Scaling started the action: the maximum wait counts from here.
    pub started_at: DateTime<Utc>,
    pub progress: Progress,
    /// The original event, handed on unchanged when the check continues elsewhere.
    pub original: Value,
}

/// Carried from one invocation to the next when the check outlives an invocation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// When the action started, fixed by the first invocation: the maximum wait counts from
    /// here in every later one, whatever the event's `time` says or lacks.
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    pub invocation: u32,
    pub last_heartbeat_at: Option<DateTime<Utc>>,
    pub heartbeats: u32,
    /// Looks made so far, in every invocation: the wait before the next one grows with it.
    #[serde(default)]
    pub looks: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    Launch(Box<LaunchCheck>),
    TestNotification,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("not an EventBridge event ({0}); this function takes \"EC2 Instance-launch Lifecycle Action\" events")]
    NotEventBridge(String),
    #[error("unexpected detail-type `{0}`; route only \"EC2 Instance-launch Lifecycle Action\" events from source aws.autoscaling to this function")]
    WrongDetailType(String),
    #[error("the lifecycle action detail is malformed at `detail.{path}`: {reason}")]
    BadDetail { path: String, reason: String },
    #[error("lifecycle transition `{0}` is not a launch; this function only checks autoscaling:EC2_INSTANCE_LAUNCHING hooks")]
    NotLaunching(String),
    #[error("not an SQS batch from the recheck queue ({0}); only the queue's event source mapping should send this function `Records`")]
    BadBatch(String),
    #[error("recheck message {message_id} holds no check of this function ({reason}); after its last delivery the queue moves it to its dead-letter queue")]
    BadRecheck { message_id: String, reason: String },
}

/// One message of a batch from the recheck queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recheck {
    pub message_id: String,
    pub body: String,
}

/// The messages of `event` when it is a batch from the recheck queue (it has `Records`);
/// `None` for any other event.
pub fn recheck_batch(event: &Value) -> Option<Result<Vec<Recheck>, EventError>> {
    event.get("Records")?;
    let batch = match SqsEvent::deserialize(event) {
        Ok(batch) => batch,
        Err(err) => return Some(Err(EventError::BadBatch(err.to_string()))),
    };
    Some(
        batch
            .records
            .into_iter()
            .map(|record| match (record.message_id, record.body) {
                (Some(message_id), Some(body)) => Ok(Recheck { message_id, body }),
                (id, _) => Err(EventError::BadBatch(format!("message {} has no messageId or no body", id.unwrap_or_default()))),
            })
            .collect(),
    )
}

impl Recheck {
    /// The check this message continues.
    pub fn parse(&self, now: DateTime<Utc>) -> Result<Incoming, EventError> {
        let bad = |reason: String| EventError::BadRecheck { message_id: self.message_id.clone(), reason };
        let event: Value = serde_json::from_str(&self.body).map_err(|e| bad(format!("the body is not JSON: {e}")))?;
        if event.get("continueCheck").is_none() {
            return Err(bad("the body has no `continueCheck`".into()));
        }
        parse(event, now).map_err(|e| bad(e.to_string()))
    }
}

/// A check to continue: the body of each recheck message (and, from the version before the
/// recheck queue, the event it invoked itself with).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Continuation {
    continue_check: Value,
    progress: Progress,
}

pub fn continuation_payload(check: &LaunchCheck, progress: &Progress) -> Value {
    serde_json::to_value(Continuation { continue_check: check.original.clone(), progress: progress.clone() })
        .expect("plain data serialises")
}

pub fn parse(event: Value, now: DateTime<Utc>) -> Result<Incoming, EventError> {
    if event.get("continueCheck").is_some() {
        let continuation: Continuation =
            serde_json::from_value(event).map_err(|e| EventError::NotEventBridge(format!("unreadable continuation: {e}")))?;
        return match parse(continuation.continue_check, now)? {
            Incoming::Launch(mut check) => {
                // Older continuations carry no start: the event's time (or now) it is.
                check.started_at = continuation.progress.started_at.unwrap_or(check.started_at);
                check.progress = Progress { started_at: Some(check.started_at), ..continuation.progress };
                Ok(Incoming::Launch(check))
            }
            other => Ok(other),
        };
    }
    let original = event.clone();
    let envelope: EventBridgeEvent<Value> = serde_json::from_value(event).map_err(|e| EventError::NotEventBridge(e.to_string()))?;
    let is_test = |d: &Value| [d.get("Event"), d.get("LifecycleTransition")].into_iter().flatten().any(|v| v == TEST_NOTIFICATION);
    if is_test(&envelope.detail) {
        return Ok(Incoming::TestNotification);
    }
    if envelope.detail_type != LAUNCH_DETAIL_TYPE {
        return Err(EventError::WrongDetailType(envelope.detail_type));
    }
    let action: LifecycleActionDetail = serde_path_to_error::deserialize(&envelope.detail)
        .map_err(|e| EventError::BadDetail { path: e.path().to_string(), reason: e.inner().to_string() })?;
    if action.lifecycle_transition != LAUNCHING {
        return Err(EventError::NotLaunching(action.lifecycle_transition));
    }
    // A missing time, or one ahead of our clock (skew), starts the wait now: never later.
    let started_at = envelope.time.map_or(now, |t| t.min(now));
    Ok(Incoming::Launch(Box::new(LaunchCheck {
        action,
        started_at,
        progress: Progress { started_at: Some(started_at), ..Progress::default() },
        original,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn launch() -> Value {
        json!({
            "version": "0", "id": "1", "detail-type": LAUNCH_DETAIL_TYPE, "source": "aws.autoscaling",
            "account": "123456789012", "time": "2026-11-25T10:00:00Z", "region": "us-east-1", "resources": [],
            "detail": {"LifecycleActionToken": "87654321-4321-4321-4321-210987654321", "AutoScalingGroupName": "web",
                       "LifecycleHookName": "health", "EC2InstanceId": "i-0123456789abcdef0",
                       "LifecycleTransition": LAUNCHING, "NotificationMetadata": "{\"http\":{\"port\":8080}}",
                       "Origin": "EC2", "Destination": "AutoScalingGroup"}
        })
    }

    #[test]
    fn a_launch_event_parses_with_its_start_time() {
        let Incoming::Launch(check) = parse(launch(), Utc::now()).unwrap() else { panic!() };
        assert_eq!(check.action.ec2_instance_id, "i-0123456789abcdef0");
        assert_eq!(check.started_at.to_rfc3339(), "2026-11-25T10:00:00+00:00");
        assert_eq!(check.progress, Progress { started_at: Some(check.started_at), ..Progress::default() });
    }

    #[test]
    fn the_start_survives_rechecks_of_an_event_without_a_time() {
        // Finding 4: each re-parse used to restart the clock at "now".
        let mut event = launch();
        event.as_object_mut().unwrap().remove("time");
        let first_seen = "2026-11-25T10:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let Incoming::Launch(first) = parse(event, first_seen).unwrap() else { panic!() };
        assert_eq!(first.started_at, first_seen);
        let later = first_seen + chrono::Duration::minutes(10);
        let Incoming::Launch(again) = parse(continuation_payload(&first, &first.progress), later).unwrap() else { panic!() };
        assert_eq!(again.started_at, first_seen);
    }

    #[test]
    fn a_continuation_from_before_starts_were_carried_gets_one_to_hand_on() {
        let Incoming::Launch(first) = parse(launch(), Utc::now()).unwrap() else { panic!() };
        let mut payload = continuation_payload(&first, &Progress { invocation: 1, ..Progress::default() });
        payload["progress"].as_object_mut().unwrap().remove("startedAt");
        let Incoming::Launch(again) = parse(payload, Utc::now()).unwrap() else { panic!() };
        assert_eq!(again.started_at.to_rfc3339(), "2026-11-25T10:00:00+00:00");
        assert_eq!(again.progress.started_at, Some(again.started_at), "the next recheck carries it");
        assert_eq!(again.progress.invocation, 1);
    }

    #[test]
    fn an_event_time_ahead_of_our_clock_starts_the_wait_now() {
        let now = "2026-11-25T09:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let Incoming::Launch(check) = parse(launch(), now).unwrap() else { panic!() };
        assert_eq!(check.started_at, now, "an hour of skew must not add an hour to the maximum wait");
    }

    #[test]
    fn a_continuation_keeps_the_original_action_and_its_progress() {
        let Incoming::Launch(first) = parse(launch(), Utc::now()).unwrap() else { panic!() };
        let progress =
            Progress { started_at: Some(first.started_at), invocation: 2, last_heartbeat_at: Some(Utc::now()), heartbeats: 3, looks: 5 };
        let Incoming::Launch(again) = parse(continuation_payload(&first, &progress), Utc::now()).unwrap() else { panic!() };
        assert_eq!(again.action, first.action);
        assert_eq!(again.progress, progress);
    }

    #[test]
    fn origin_and_destination_name_the_transition() {
        let detail = |origin: Option<&str>, destination: Option<&str>| {
            let Incoming::Launch(check) = parse(launch(), Utc::now()).unwrap() else { panic!() };
            LifecycleActionDetail { origin: origin.map(str::to_owned), destination: destination.map(str::to_owned), ..check.action }
        };
        assert_eq!(detail(Some("EC2"), Some("AutoScalingGroup")).transition(), Transition::IntoGroup);
        assert_eq!(detail(Some("EC2"), Some("WarmPool")).transition(), Transition::IntoWarmPool);
        assert_eq!(detail(Some("WarmPool"), Some("AutoScalingGroup")).transition(), Transition::FromWarmPool);
        assert_eq!(detail(Some("AutoScalingGroup"), Some("AutoScalingGroup")).transition(), Transition::RootVolumeReplacement);
        assert_eq!(detail(None, None).transition(), Transition::IntoGroup, "the full check when the event does not say");
        assert_eq!(detail(Some("EC2"), Some("Elsewhere")).transition(), Transition::IntoGroup);
        let replaced = LifecycleActionDetail { action: Some("ReplaceRootVolume".into()), ..detail(None, None) };
        assert_eq!(replaced.transition(), Transition::RootVolumeReplacement, "the event's Action says so too");
    }

    fn batch(bodies: &[&str]) -> Value {
        let records: Vec<Value> = bodies
            .iter()
            .enumerate()
            .map(|(i, body)| json!({"messageId": format!("m{i}"), "receiptHandle": "r", "body": body, "eventSource": "aws:sqs", "attributes": {}, "messageAttributes": {}}))
            .collect();
        json!({"Records": records})
    }

    #[test]
    fn a_recheck_from_the_queue_continues_the_check_with_its_progress() {
        let Incoming::Launch(first) = parse(launch(), Utc::now()).unwrap() else { panic!() };
        let progress = Progress { looks: 3, invocation: 2, ..first.progress.clone() };
        let body = continuation_payload(&first, &progress).to_string();
        let rechecks = recheck_batch(&batch(&[&body])).expect("a batch").unwrap();
        assert_eq!(rechecks, vec![Recheck { message_id: "m0".into(), body }]);
        let Incoming::Launch(again) = rechecks[0].parse(Utc::now()).unwrap() else { panic!() };
        assert_eq!((again.action, again.progress), (first.action, progress));
    }

    #[test]
    fn a_recheck_that_is_not_ours_is_named_by_its_message_id() {
        let rechecks = recheck_batch(&batch(&["not json", "{\"hello\": 1}"])).unwrap().unwrap();
        let errors: Vec<String> = rechecks.iter().map(|r| r.parse(Utc::now()).unwrap_err().to_string()).collect();
        assert!(errors[0].starts_with("recheck message m0 holds no check of this function (the body is not JSON"), "{}", errors[0]);
        assert!(errors[1].contains("m1") && errors[1].contains("no `continueCheck`"), "{}", errors[1]);
        // A lifecycle event sent to the queue by hand is not a continuation either.
        let rechecks = recheck_batch(&batch(&[&launch().to_string()])).unwrap().unwrap();
        assert!(rechecks[0].parse(Utc::now()).is_err());
    }

    #[test]
    fn only_an_event_with_records_is_a_batch_and_a_broken_one_is_an_error() {
        assert_eq!(recheck_batch(&launch()), None);
        assert!(matches!(recheck_batch(&json!({"Records": "no"})), Some(Err(EventError::BadBatch(_)))));
        let no_body = json!({"Records": [{"messageId": "m9"}]});
        let err = recheck_batch(&no_body).unwrap().unwrap_err();
        assert!(err.to_string().contains("message m9 has no messageId or no body"), "{err}");
    }

    #[test]
    fn test_notifications_are_recognised() {
        let mut event = launch();
        event["detail"] = json!({"Event": TEST_NOTIFICATION, "AutoScalingGroupName": "web"});
        assert_eq!(parse(event, Utc::now()).unwrap(), Incoming::TestNotification);
    }

    #[test]
    fn a_missing_field_is_named() {
        let mut event = launch();
        event["detail"].as_object_mut().unwrap().remove("EC2InstanceId");
        let err = parse(event, Utc::now()).unwrap_err();
        assert!(err.to_string().contains("missing field `EC2InstanceId`"), "{err}");
    }

    #[test]
    fn other_events_are_refused_with_the_routing_fix() {
        let mut event = launch();
        event["detail-type"] = json!("EC2 Instance Launch Successful");
        assert!(matches!(parse(event, Utc::now()), Err(EventError::WrongDetailType(_))));
        assert!(matches!(parse(json!({"hello": 1}), Utc::now()), Err(EventError::NotEventBridge(_))));
        let mut event = launch();
        event["detail"]["LifecycleTransition"] = json!("autoscaling:EC2_INSTANCE_TERMINATING");
        assert!(matches!(parse(event, Utc::now()), Err(EventError::NotLaunching(_))));
    }
}
