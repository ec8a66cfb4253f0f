//! A refresh's state as AWS reports it, mapped to the job's outcome.

use std::time::{Duration, SystemTime};

use aws_smithy_types::date_time::{DateTime, Format};
use shared::codepipeline::{JobFailure, JobOutcome, OutputVariables};

use crate::continuation::{ContinuationError, TrackedRefresh};
use crate::desired::TemplateRef;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshStatus {
    Pending,
    InProgress,
    Baking,
    Cancelling,
    RollbackInProgress,
    Successful,
    Failed,
    Cancelled,
    RollbackSuccessful,
    RollbackFailed,
    /// A status this build does not know; treated as still running.
    Unknown,
}

impl RefreshStatus {
    pub fn parse(status: &str) -> Self {
        match status {
            "Pending" => Self::Pending,
            "InProgress" => Self::InProgress,
            "Baking" => Self::Baking,
            "Cancelling" => Self::Cancelling,
            "RollbackInProgress" => Self::RollbackInProgress,
            "Successful" => Self::Successful,
            "Failed" => Self::Failed,
            "Cancelled" => Self::Cancelled,
            "RollbackSuccessful" => Self::RollbackSuccessful,
            "RollbackFailed" => Self::RollbackFailed,
            _ => Self::Unknown,
        }
    }

    /// Still running: blocks a new refresh on the same group.
    pub fn is_active(self) -> bool {
        !matches!(self, Self::Successful | Self::Failed | Self::Cancelled | Self::RollbackSuccessful | Self::RollbackFailed)
    }
}

/// One `DescribeInstanceRefreshes` entry, as plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshSnapshot {
    pub id: String,
    /// AWS's spelling, kept for messages (an unknown status is shown as AWS sent it).
    pub status_text: String,
    pub status: RefreshStatus,
    pub status_reason: Option<String>,
    pub percent_complete: Option<i32>,
    pub instances_to_update: Option<i32>,
    pub rollback_reason: Option<String>,
    pub percent_complete_on_rollback: Option<i32>,
    /// The launch template (and version) the refresh rolls out, when it names one.
    pub desired_template: Option<TemplateRef>,
    /// When Auto Scaling started it, RFC 3339.
    pub start_time: Option<String>,
    /// The last of its CheckpointPercentages: below 100 it stops with part of the group replaced.
    pub last_checkpoint: Option<i32>,
}

impl RefreshSnapshot {
    pub fn desired_version(&self) -> Option<&str> {
        self.desired_template.as_ref().and_then(|t| t.version.as_deref())
    }
}

/// Output variables a later action reads as `#{<namespace>.<name>}`.
pub const OUTPUT_REFRESH_ID: &str = "RefreshId";
pub const OUTPUT_LAUNCH_TEMPLATE_VERSION: &str = "LaunchTemplateVersion";
pub const OUTPUT_RELEASE_ID: &str = "ReleaseId";
/// How much of the group the refresh replaced, as AWS reports it ("100" for a whole group).
pub const OUTPUT_PERCENT_COMPLETE: &str = "PercentComplete";
pub const OUTPUT_INSTANCES_NOT_UPDATED: &str = "InstancesNotUpdated";
/// "true" when the refresh ended with part of the group left on the previous version.
pub const OUTPUT_PARTIAL_ROLLOUT: &str = "PartialRollout";

/// Maps the refresh's current state, seen at `now`, to what CodePipeline is told.
pub fn outcome_for(snapshot: &RefreshSnapshot, tracked: &TrackedRefresh, now: SystemTime) -> Result<JobOutcome, ContinuationError> {
    let running_for = running_time(&tracked.started_at, now).map(|d| format!(", running for {}", human(d))).unwrap_or_default();
    let subject = format!(
        "Instance refresh {} of {} (release {}, launch template version {}{running_for})",
        snapshot.id, tracked.auto_scaling_group_name, tracked.release_id, tracked.launch_template_version
    );
    let reason = |r: &Option<String>| r.as_deref().filter(|r| !r.is_empty()).unwrap_or("AWS gave no reason").to_owned();
    let failed = |message: String| Ok(JobOutcome::Failed(JobFailure::job_failed(message)));
    match snapshot.status {
        RefreshStatus::Successful => {
            // A last checkpoint below 100 ends a refresh Successful with the rest of the group on
            // the previous version; only PercentageComplete and InstancesToUpdate tell.
            let percent = snapshot.percent_complete.unwrap_or(100).clamp(0, 100);
            let not_updated = snapshot.instances_to_update.unwrap_or(0).max(0);
            let partial = percent < 100 || not_updated > 0;
            let left = instances(not_updated);
            let summary = match (partial, tracked.partial_rollout) {
                (true, false) => {
                    return failed(format!(
                        "{subject} ended Successful with only {percent}% of the group replaced ({left} not updated): its checkpoints \
                         end below 100 and this action's partialRollout is not set. The group now runs two versions; re-run the action \
                         with checkpoints ending at 100 to finish the rollout, or set \"partialRollout\": true if a partial rollout is meant"
                    ))
                }
                (true, true) => format!(
                    "Release {} is live on {percent}% of {} (partial rollout; {left} not updated). {subject} succeeded",
                    tracked.release_id, tracked.auto_scaling_group_name
                ),
                (false, true) => format!("{subject} succeeded and replaced the whole group, although a partial rollout was asked for"),
                (false, false) => format!("{subject} succeeded"),
            };
            Ok(JobOutcome::Succeeded {
                summary,
                output_variables: OutputVariables::from([
                    (OUTPUT_REFRESH_ID.to_owned(), snapshot.id.clone()),
                    (OUTPUT_LAUNCH_TEMPLATE_VERSION.to_owned(), tracked.launch_template_version.to_string()),
                    (OUTPUT_RELEASE_ID.to_owned(), tracked.release_id.clone()),
                    (OUTPUT_PERCENT_COMPLETE.to_owned(), percent.to_string()),
                    (OUTPUT_INSTANCES_NOT_UPDATED.to_owned(), not_updated.to_string()),
                    (OUTPUT_PARTIAL_ROLLOUT.to_owned(), partial.to_string()),
                ]),
            })
        }
        RefreshStatus::Failed => failed(format!(
            "{subject} failed: {}. Instances already replaced keep the new version; fix the cause and re-run the action",
            reason(&snapshot.status_reason)
        )),
        RefreshStatus::Cancelled => failed(format!("{subject} was cancelled: {}", reason(&snapshot.status_reason))),
        RefreshStatus::RollbackSuccessful => failed(format!(
            "{subject} was rolled back, the group runs its previous launch template again. Rollback reason: {}",
            reason(if snapshot.rollback_reason.is_some() { &snapshot.rollback_reason } else { &snapshot.status_reason })
        )),
        RefreshStatus::RollbackFailed => failed(format!(
            "{subject}: the rollback failed ({}); the group may run a mix of versions, inspect it before re-running",
            reason(&snapshot.status_reason)
        )),
        _ => {
            // During a rollback PercentageComplete falls back toward 0 as instances return to
            // the previous configuration; RollbackDetails only keep the figure it fell from.
            let percent = snapshot.percent_complete.unwrap_or(0).clamp(0, 100) as u8;
            let mut summary = if snapshot.status == RefreshStatus::RollbackInProgress {
                let mut text = format!("{subject}: ROLLING BACK to the previous launch template, {percent}% of the release left in place");
                if let Some(from) = snapshot.percent_complete_on_rollback {
                    text.push_str(&format!(" (it was {from}% when the rollback started)"));
                }
                if let Some(left) = snapshot.instances_to_update {
                    text.push_str(&format!(", {left} instances to return"));
                }
                if let Some(r) = snapshot.rollback_reason.as_deref().filter(|r| !r.is_empty()) {
                    text.push_str(&format!("; rollback reason: {r}"));
                }
                text
            } else {
                let mut text = format!("{subject}: {} {percent}%", snapshot.status_text);
                if let Some(left) = snapshot.instances_to_update {
                    text.push_str(&format!(", {left} instances to update"));
                }
                text
            };
            if let Some(r) = snapshot.status_reason.as_deref().filter(|r| !r.is_empty()) {
                summary.push_str(&format!(" ({r})"));
            }
            Ok(JobOutcome::InProgress { summary, continuation_token: tracked.to_token()?, percent_complete: percent })
        }
    }
}

/// The release state to record for a job's outcome, `(parameter, version)`: only when the job
/// succeeded with the whole group on the new version and the action names a parameter.
pub fn release_state_to_record<'a>(outcome: &JobOutcome, tracked: &'a TrackedRefresh) -> Option<(&'a str, i64)> {
    let JobOutcome::Succeeded { output_variables, .. } = outcome else { return None };
    let whole_group = output_variables.get(OUTPUT_PARTIAL_ROLLOUT).map(String::as_str) == Some("false");
    let parameter = tracked.release_parameter.as_deref()?;
    whole_group.then_some((parameter, tracked.launch_template_version))
}

fn instances(n: i32) -> String {
    if n == 1 {
        "1 instance".to_owned()
    } else {
        format!("{n} instances")
    }
}

/// How long since `started_at` (RFC 3339), when it can be read.
fn running_time(started_at: &str, now: SystemTime) -> Option<Duration> {
    let started = SystemTime::try_from(DateTime::from_str(started_at, Format::DateTime).ok()?).ok()?;
    now.duration_since(started).ok()
}

/// "42 s", "12 min", "3 h 05 min".
fn human(d: Duration) -> String {
    match d.as_secs() {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::continuation::TOKEN_VERSION;
    use shared::codepipeline::FailureKind;

    fn tracked() -> TrackedRefresh {
        TrackedRefresh {
            v: TOKEN_VERSION,
            refresh_id: "r-1".into(),
            auto_scaling_group_name: "web".into(),
            launch_template_version: 7,
            release_id: "c0ffee".into(),
            started_at: "2026-11-25T10:00:00Z".into(),
            partial_rollout: false,
            release_parameter: None,
        }
    }

    fn snapshot(status: &str) -> RefreshSnapshot {
        RefreshSnapshot {
            id: "r-1".into(),
            status_text: status.into(),
            status: RefreshStatus::parse(status),
            status_reason: None,
            percent_complete: Some(40),
            instances_to_update: Some(3),
            rollback_reason: None,
            percent_complete_on_rollback: None,
            desired_template: Some(TemplateRef { id: Some("lt-1".into()), name: None, version: Some("7".into()) }),
            start_time: None,
            last_checkpoint: None,
        }
    }

    /// `minutes` after the tracked refresh started (2026-11-25T10:00:00Z).
    fn at_minute(minutes: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_600_800 + minutes * 60)
    }

    fn failure_message(outcome: JobOutcome) -> String {
        match outcome {
            JobOutcome::Failed(JobFailure { kind: FailureKind::JobFailed, message }) => message,
            other => panic!("expected a job failure, got {other:?}"),
        }
    }

    /// A refresh that ended Successful having replaced `percent` % and left `left` instances.
    fn ended(percent: i32, left: i32) -> RefreshSnapshot {
        RefreshSnapshot { percent_complete: Some(percent), instances_to_update: Some(left), ..snapshot("Successful") }
    }

    fn partial() -> TrackedRefresh {
        TrackedRefresh { partial_rollout: true, ..tracked() }
    }

    #[test]
    fn a_successful_refresh_succeeds_the_job_with_output_variables() {
        let JobOutcome::Succeeded { output_variables, summary } = outcome_for(&ended(100, 0), &tracked(), at_minute(7)).unwrap() else {
            panic!()
        };
        assert_eq!(output_variables["RefreshId"], "r-1");
        assert_eq!(output_variables["LaunchTemplateVersion"], "7");
        assert_eq!(output_variables["ReleaseId"], "c0ffee");
        assert_eq!(output_variables["PercentComplete"], "100");
        assert_eq!(output_variables["InstancesNotUpdated"], "0");
        assert_eq!(output_variables["PartialRollout"], "false");
        assert!(summary.ends_with("succeeded"), "{summary}");
    }

    #[test]
    fn a_partial_rollout_that_was_meant_succeeds_saying_how_much_of_the_group_runs_the_release() {
        let JobOutcome::Succeeded { output_variables, summary } = outcome_for(&ended(50, 2), &partial(), at_minute(7)).unwrap() else {
            panic!()
        };
        assert!(summary.starts_with("Release c0ffee is live on 50% of web (partial rollout; 2 instances not updated)."), "{summary}");
        assert!(summary.ends_with("succeeded"), "{summary}");
        assert_eq!(output_variables["PercentComplete"], "50");
        assert_eq!(output_variables["InstancesNotUpdated"], "2");
        assert_eq!(output_variables["PartialRollout"], "true");
        assert_eq!(output_variables["ReleaseId"], "c0ffee");
    }

    #[test]
    fn an_end_short_of_the_whole_group_counts_as_partial_by_either_figure() {
        // AWS rounds PercentageComplete down: either figure short of the whole group means some was left.
        for (percent, left, says) in [(99, 1, "1 instance not updated"), (100, 1, "1 instance not updated"), (75, 0, "0 instances")] {
            let JobOutcome::Succeeded { output_variables, summary } = outcome_for(&ended(percent, left), &partial(), at_minute(7)).unwrap()
            else {
                panic!()
            };
            assert_eq!(output_variables["PartialRollout"], "true", "{percent} {left}");
            assert!(summary.contains(says), "{summary}");
        }
    }

    #[test]
    fn a_partial_end_nobody_asked_for_fails_the_job_saying_how_much_was_replaced() {
        // e.g. an adopted refresh someone started with checkpoints ending below 100.
        let message = failure_message(outcome_for(&ended(50, 2), &tracked(), at_minute(7)).unwrap());
        assert!(message.contains("ended Successful with only 50% of the group replaced (2 instances not updated)"), "{message}");
        assert!(message.contains(r#"set "partialRollout": true if a partial rollout is meant"#), "{message}");
    }

    #[test]
    fn a_whole_group_replaced_where_a_partial_rollout_was_asked_for_succeeds_and_says_so() {
        let JobOutcome::Succeeded { output_variables, summary } = outcome_for(&ended(100, 0), &partial(), at_minute(7)).unwrap() else {
            panic!()
        };
        assert!(summary.contains("replaced the whole group, although a partial rollout was asked for"), "{summary}");
        assert_eq!(output_variables["PartialRollout"], "false");
        let unknown = RefreshSnapshot { percent_complete: None, instances_to_update: None, ..snapshot("Successful") };
        let JobOutcome::Succeeded { output_variables, .. } = outcome_for(&unknown, &tracked(), at_minute(7)).unwrap() else { panic!() };
        assert_eq!((output_variables["PercentComplete"].as_str(), output_variables["InstancesNotUpdated"].as_str()), ("100", "0"));
    }

    #[test]
    fn running_states_keep_the_job_in_progress_with_the_same_token() {
        for status in ["Pending", "InProgress", "Baking", "Cancelling", "SomethingNew"] {
            let JobOutcome::InProgress { continuation_token, percent_complete, summary } =
                outcome_for(&snapshot(status), &tracked(), at_minute(7)).unwrap()
            else {
                panic!("{status}")
            };
            assert_eq!(TrackedRefresh::from_token(&continuation_token).unwrap(), tracked());
            assert_eq!(percent_complete, 40);
            assert!(summary.contains(status) && summary.contains("3 instances to update"), "{summary}");
        }
    }

    #[test]
    fn every_status_aws_documents_is_recognised_and_only_terminal_ones_end_a_refresh() {
        let running = ["Pending", "InProgress", "Baking", "Cancelling", "RollbackInProgress"];
        let terminal = ["Successful", "Failed", "Cancelled", "RollbackSuccessful", "RollbackFailed"];
        for status in running.iter().chain(&terminal) {
            assert_ne!(RefreshStatus::parse(status), RefreshStatus::Unknown, "{status}");
            assert_eq!(RefreshStatus::parse(status).is_active(), running.contains(status), "{status}");
        }
        assert_eq!(RefreshStatus::parse("Pending"), RefreshStatus::Pending);
        assert_eq!(RefreshStatus::parse("InProgress"), RefreshStatus::InProgress);
        assert_eq!(RefreshStatus::parse("Baking"), RefreshStatus::Baking);
        assert_eq!(RefreshStatus::parse("Cancelling"), RefreshStatus::Cancelling);
        assert!(RefreshStatus::parse("SomethingNew").is_active(), "an unknown status is treated as still running");
    }

    #[test]
    fn a_running_refresh_summary_carries_aws_status_reason_when_there_is_one() {
        let mut s = snapshot("InProgress");
        s.status_reason = Some("Waiting for instances to warm up".into());
        let JobOutcome::InProgress { summary, .. } = outcome_for(&s, &tracked(), at_minute(7)).unwrap() else { panic!() };
        assert!(summary.ends_with("(Waiting for instances to warm up)"), "{summary}");
        s.status_reason = Some(String::new());
        let JobOutcome::InProgress { summary, .. } = outcome_for(&s, &tracked(), at_minute(7)).unwrap() else { panic!() };
        assert!(summary.ends_with("instances to update"), "an empty reason adds nothing: {summary}");
    }

    #[test]
    fn summaries_say_how_long_the_refresh_has_been_running() {
        let JobOutcome::InProgress { summary, .. } = outcome_for(&snapshot("InProgress"), &tracked(), at_minute(7)).unwrap() else {
            panic!()
        };
        assert!(summary.contains("running for 7 min"), "{summary}");
        let JobOutcome::Succeeded { summary, .. } = outcome_for(&ended(100, 0), &tracked(), at_minute(125)).unwrap() else { panic!() };
        assert!(summary.contains("running for 2 h 05 min"), "{summary}");
        let mut unreadable = tracked();
        unreadable.started_at = "yesterday".into();
        let JobOutcome::InProgress { summary, .. } = outcome_for(&snapshot("InProgress"), &unreadable, at_minute(7)).unwrap() else {
            panic!()
        };
        assert!(!summary.contains("running for"), "{summary}");
        assert_eq!(human(Duration::from_secs(42)), "42 s");
        assert_eq!(human(Duration::from_secs(60)), "1 min");
        assert_eq!(human(Duration::from_secs(3600)), "1 h 00 min");
    }

    #[test]
    fn a_rolling_back_refresh_reports_the_falling_percentage_and_says_it_is_a_rollback() {
        // AWS: PercentageComplete falls during a rollback; PercentageCompleteOnRollback is frozen.
        let mut s = snapshot("RollbackInProgress");
        (s.percent_complete, s.percent_complete_on_rollback, s.instances_to_update) = (Some(25), Some(60), Some(1));
        s.rollback_reason = Some("Alarm 5xx went into ALARM".into());
        let JobOutcome::InProgress { percent_complete, summary, .. } = outcome_for(&s, &tracked(), at_minute(7)).unwrap() else { panic!() };
        assert_eq!(percent_complete, 25);
        assert!(summary.contains("ROLLING BACK to the previous launch template, 25% of the release left in place"), "{summary}");
        assert!(summary.contains("(it was 60% when the rollback started), 1 instances to return"), "{summary}");
        assert!(summary.contains("rollback reason: Alarm 5xx went into ALARM"), "{summary}");
        s.rollback_reason = None;
        let JobOutcome::InProgress { summary, .. } = outcome_for(&s, &tracked(), at_minute(7)).unwrap() else { panic!() };
        assert!(!summary.contains("rollback reason"), "{summary}");
    }

    #[test]
    fn a_failed_refresh_fails_the_job_with_aws_reason() {
        let mut s = snapshot("Failed");
        s.status_reason = Some("Instance i-1 failed its health check".into());
        assert!(
            failure_message(outcome_for(&s, &tracked(), at_minute(7)).unwrap()).contains("failed: Instance i-1 failed its health check")
        );
    }

    #[test]
    fn a_refresh_that_rolls_back_fails_the_job_with_the_rollback_reason() {
        let mut s = snapshot("RollbackSuccessful");
        s.status_reason = Some("status reason".into());
        s.rollback_reason = Some("Alarm 5xx went into ALARM".into());
        let message = failure_message(outcome_for(&s, &tracked(), at_minute(7)).unwrap());
        assert!(message.contains("rolled back") && message.contains("Alarm 5xx went into ALARM"), "{message}");
        s.rollback_reason = None;
        assert!(failure_message(outcome_for(&s, &tracked(), at_minute(7)).unwrap()).contains("status reason"));
    }

    #[test]
    fn cancelled_and_rollback_failed_fail_the_job() {
        let mut s = snapshot("Cancelled");
        s.status_reason = Some("Cancelled by ops".into());
        assert!(failure_message(outcome_for(&s, &tracked(), at_minute(7)).unwrap()).contains("cancelled: Cancelled by ops"));
        let s = snapshot("RollbackFailed");
        assert!(failure_message(outcome_for(&s, &tracked(), at_minute(7)).unwrap()).contains("rollback failed (AWS gave no reason)"));
    }

    #[test]
    fn a_refresh_that_replaced_the_whole_group_records_its_version_as_the_release_state() {
        let recorded = TrackedRefresh { release_parameter: Some("/deploy/release/web".into()), ..tracked() };
        let whole = outcome_for(&ended(100, 0), &recorded, at_minute(7)).unwrap();
        assert_eq!(release_state_to_record(&whole, &recorded), Some(("/deploy/release/web", 7)));
        assert_eq!(release_state_to_record(&whole, &tracked()), None, "no parameter named, nothing recorded");
    }

    #[test]
    fn a_partial_rollout_a_failure_or_a_refresh_in_progress_records_nothing() {
        let partial = TrackedRefresh { release_parameter: Some("/p".into()), ..partial() };
        let half = outcome_for(&ended(50, 2), &partial, at_minute(7)).unwrap();
        assert!(matches!(half, JobOutcome::Succeeded { .. }));
        assert_eq!(release_state_to_record(&half, &partial), None, "most of the group still runs the old release");
        let whole = outcome_for(&ended(100, 0), &partial, at_minute(7)).unwrap();
        assert_eq!(release_state_to_record(&whole, &partial), Some(("/p", 7)), "a partial rollout that reached everyone counts");
        let recorded = TrackedRefresh { release_parameter: Some("/p".into()), ..tracked() };
        for status in ["Failed", "RollbackSuccessful", "InProgress"] {
            let outcome = outcome_for(&snapshot(status), &recorded, at_minute(7)).unwrap();
            assert_eq!(release_state_to_record(&outcome, &recorded), None, "{status}");
        }
    }
}
