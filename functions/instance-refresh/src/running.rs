//! What to do when the group already has a refresh running (a retried job, a duplicate
//! invocation, or someone else's refresh). Never start a second one.

use crate::parameters::InProgressPolicy;
use crate::tracking::RefreshSnapshot;

/// The description of the launch template version a job makes. It names the job, so that the
/// job delivered again (a Lambda retry, a duplicate) after its refresh ended recognises that
/// refresh as its own: its outcome is the answer, and no second refresh replaces the group.
pub fn version_description(release: &str, stage: &str, from: i64, job_id: &str) -> String {
    format!("release {release} for {stage} (from version {from}; job {job_id})")
}

/// Whether a version with `description` was made by job `job_id`.
pub fn made_by_job(description: Option<&str>, job_id: &str) -> bool {
    description.is_some_and(|d| d.ends_with(&format!("; job {job_id})")))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunningDecision {
    /// Track the running refresh as this job's own.
    Adopt { launch_template_version: i64 },
    /// Fail the job with this message.
    Refuse(String),
}

/// `running_release` is the release tagged on the launch template version the running
/// refresh rolls out (none when it names no version or one we did not make);
/// `partial_rollout` is whether this action allows the refresh to stop short of the whole group.
pub fn decide_on_running(
    running: &RefreshSnapshot,
    running_release: Option<&str>,
    our_release: &str,
    group: &str,
    policy: InProgressPolicy,
    partial_rollout: bool,
) -> RunningDecision {
    let described = format!(
        "instance refresh {} ({}, {}% complete) is already running on {group}",
        running.id,
        running.status_text,
        running.percent_complete.unwrap_or(0)
    );
    let version = running.desired_version().and_then(|v| v.parse::<i64>().ok());
    match (policy, running_release, version) {
        (InProgressPolicy::AdoptSameRelease, Some(release), Some(version)) if release == our_release => {
            match running.last_checkpoint {
                // Known now, not only when it ends: say so before tracking it for hours.
                Some(last) if last < 100 && !partial_rollout => RunningDecision::Refuse(format!(
                    "{described} for this release, but its last checkpoint is {last}%, so it will stop with part of the group on the old release, \
                     and this action does not set \"partialRollout\": true. Set it if a partial rollout is meant, or cancel the refresh \
                     (aws autoscaling cancel-instance-refresh --auto-scaling-group-name {group}) and retry"
                )),
                _ => RunningDecision::Adopt { launch_template_version: version },
            }
        }
        (InProgressPolicy::AdoptSameRelease, Some(release), _) => RunningDecision::Refuse(format!(
            "{described} for release {release}, not {our_release}. Wait for it to finish or cancel it (aws autoscaling cancel-instance-refresh --auto-scaling-group-name {group}), then retry"
        )),
        (InProgressPolicy::AdoptSameRelease, None, _) => RunningDecision::Refuse(format!(
            "{described} and was not started by this pipeline (its launch template version carries no release tag). Wait for it to finish or cancel it, then retry"
        )),
        (InProgressPolicy::Fail, _, _) => RunningDecision::Refuse(format!(
            "{described}; whenRefreshInProgress is \"fail\". Wait for it to finish or cancel it, then retry"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::TemplateRef;
    use crate::tracking::RefreshStatus;

    fn running() -> RefreshSnapshot {
        RefreshSnapshot {
            id: "r-9".into(),
            status_text: "InProgress".into(),
            status: RefreshStatus::InProgress,
            status_reason: None,
            percent_complete: Some(30),
            instances_to_update: Some(2),
            rollback_reason: None,
            percent_complete_on_rollback: None,
            desired_template: Some(TemplateRef { id: Some("lt-1".into()), name: None, version: Some("12".into()) }),
            start_time: None,
            last_checkpoint: None,
        }
    }

    #[test]
    fn a_running_refresh_of_the_same_release_is_adopted() {
        let d = decide_on_running(&running(), Some("c1"), "c1", "web", InProgressPolicy::AdoptSameRelease, false);
        assert_eq!(d, RunningDecision::Adopt { launch_template_version: 12 });
    }

    #[test]
    fn a_running_refresh_of_another_release_is_named_in_the_failure() {
        let RunningDecision::Refuse(m) = decide_on_running(&running(), Some("old"), "c1", "web", InProgressPolicy::AdoptSameRelease, false)
        else {
            panic!()
        };
        assert!(m.contains("instance refresh r-9 (InProgress, 30% complete)") && m.contains("release old, not c1"), "{m}");
    }

    #[test]
    fn a_refresh_not_started_by_us_is_refused() {
        let d = decide_on_running(&running(), None, "c1", "web", InProgressPolicy::AdoptSameRelease, false);
        assert!(matches!(d, RunningDecision::Refuse(m) if m.contains("not started by this pipeline")));
    }

    #[test]
    fn the_fail_policy_refuses_even_our_own_release() {
        let d = decide_on_running(&running(), Some("c1"), "c1", "web", InProgressPolicy::Fail, false);
        assert!(matches!(d, RunningDecision::Refuse(m) if m.contains("\"fail\"")));
    }

    #[test]
    fn a_same_release_refresh_without_an_explicit_version_is_not_adopted() {
        let mut r = running();
        r.desired_template.as_mut().unwrap().version = Some("$Latest".into());
        assert!(matches!(
            decide_on_running(&r, Some("c1"), "c1", "web", InProgressPolicy::AdoptSameRelease, false),
            RunningDecision::Refuse(_)
        ));
    }

    #[test]
    fn a_same_release_refresh_that_will_stop_short_is_adopted_only_when_a_partial_rollout_is_meant() {
        let r = RefreshSnapshot { last_checkpoint: Some(50), ..running() };
        let RunningDecision::Refuse(m) = decide_on_running(&r, Some("c1"), "c1", "web", InProgressPolicy::AdoptSameRelease, false) else {
            panic!()
        };
        assert!(m.contains("its last checkpoint is 50%") && m.contains("\"partialRollout\": true"), "{m}");
        let meant = decide_on_running(&r, Some("c1"), "c1", "web", InProgressPolicy::AdoptSameRelease, true);
        assert_eq!(meant, RunningDecision::Adopt { launch_template_version: 12 });
        let whole = RefreshSnapshot { last_checkpoint: Some(100), ..running() };
        let full = decide_on_running(&whole, Some("c1"), "c1", "web", InProgressPolicy::AdoptSameRelease, false);
        assert_eq!(full, RunningDecision::Adopt { launch_template_version: 12 }, "a last checkpoint of 100 replaces the whole group");
    }

    #[test]
    fn a_version_names_the_job_that_made_it() {
        let description = version_description("abc1234", "staging", 4, "5b3f6f8f-2fc0-4e44-b362-4cc78482d701");
        assert_eq!(description, "release abc1234 for staging (from version 4; job 5b3f6f8f-2fc0-4e44-b362-4cc78482d701)");
        assert!(made_by_job(Some(&description), "5b3f6f8f-2fc0-4e44-b362-4cc78482d701"));
        assert!(!made_by_job(Some(&description), "5b3f6f8f"), "the whole id");
        assert!(!made_by_job(Some("release abc1234 for staging (from version 4)"), "5b3f6f8f"), "made before jobs were named");
        assert!(!made_by_job(None, "x"));
        assert!(description.len() < 255, "a version description is at most 255 characters");
    }
}
