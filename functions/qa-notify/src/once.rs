//! Telling QA once. EventBridge and Lambda deliver at least once (a duplicate event, a retried
//! invocation, a retried job), and an SNS standard topic cannot deduplicate: so each notice has
//! a record, claimed before it is published and marked sent after.
//!
//! - The key: the EventBridge event's `id` (a redelivery carries the same id) or the job's id.
//! - A claim holds until the claiming invocation's deadline: after it, Lambda has ended that
//!   invocation, so a claim still "sending" was left by one that died, and may be taken over.
//! - A delivery that finds the notice sent is done; one that finds it being sent by a live
//!   invocation fails, so Lambda retries it later, by when it is sent (done), released after a
//!   failure (sent now), or abandoned (taken over).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a record is kept: longer than any redelivery (EventBridge retries for up to 24 h,
/// Lambda's asynchronous retries for up to 6 h).
pub const KEEP_FOR: Duration = Duration::from_secs(7 * 24 * 3600);

/// The longest an invocation can run: a claim with no known deadline holds this long.
pub const LONGEST_INVOCATION: Duration = Duration::from_secs(15 * 60);

/// The record's key for an EventBridge event; None when the event has no id (then nothing is
/// recorded and duplicates cannot be told apart).
pub fn event_key(event: &serde_json::Value) -> Option<String> {
    let id = event.get("id")?.as_str()?.trim();
    (!id.is_empty()).then(|| format!("event:{id}"))
}

pub fn job_key(job_id: &str) -> String {
    format!("job:{job_id}")
}

/// A record as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Sending { holds_until: i64 },
    Sent,
}

/// What a delivery may do with a notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This delivery publishes it.
    Ours,
    /// Published already: nothing to do.
    Sent,
    /// Another invocation is publishing it now.
    InFlight,
}

/// What a claim that DynamoDB refused means, from the record found (None: it vanished since,
/// released by a failed attempt: try again).
pub fn refused_claim(found: Option<&Record>) -> Option<Claim> {
    match found? {
        Record::Sent => Some(Claim::Sent),
        Record::Sending { .. } => Some(Claim::InFlight),
    }
}

/// Seconds since the epoch, as the record stores times.
pub fn epoch_seconds(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// Until when a claim made now holds: the invocation's deadline, or the longest an invocation
/// can run when it has none.
pub fn holds_until(now: SystemTime, deadline: Option<SystemTime>) -> i64 {
    epoch_seconds(deadline.unwrap_or(now + LONGEST_INVOCATION))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_record_outlives_every_redelivery() {
        // EventBridge retries for up to 24 hours, Lambda's asynchronous retries for up to 6.
        assert!(KEEP_FOR > Duration::from_secs(24 * 3600), "{KEEP_FOR:?}");
        assert_eq!(KEEP_FOR, Duration::from_secs(604_800));
    }

    #[test]
    fn an_event_is_known_by_its_id_and_a_job_by_its_own() {
        assert_eq!(event_key(&json!({"id": "6f3c1f0e"})), Some("event:6f3c1f0e".into()));
        assert_eq!(event_key(&json!({"id": "  "})), None);
        assert_eq!(event_key(&json!({"id": 7})), None);
        assert_eq!(event_key(&json!({})), None);
        assert_eq!(job_key("a1b2"), "job:a1b2");
    }

    #[test]
    fn a_refused_claim_is_sent_or_in_flight_as_the_record_says_and_retried_when_it_is_gone() {
        assert_eq!(refused_claim(Some(&Record::Sent)), Some(Claim::Sent));
        assert_eq!(refused_claim(Some(&Record::Sending { holds_until: 5 })), Some(Claim::InFlight));
        assert_eq!(refused_claim(None), None);
    }

    #[test]
    fn a_claim_holds_until_the_deadline_or_the_longest_invocation() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        assert_eq!(holds_until(now, Some(now + Duration::from_secs(30))), 1_030);
        assert_eq!(holds_until(now, None), 1_000 + 900);
        assert_eq!(epoch_seconds(UNIX_EPOCH - Duration::from_secs(5)), 0);
    }
}
