//! Health checks as plain data, and the decision over them.

use std::time::Duration;

use aws_sdk_ec2::types::{InstanceStateName, SummaryStatus};
use aws_sdk_elasticloadbalancingv2::types::{TargetHealthReasonEnum, TargetHealthStateEnum};
use serde::{Serialize, Serializer};

pub use crate::bootstrap::BootstrapCheck;
pub use crate::release::ReleaseCheck;
use crate::settings::Settings;

/// What EC2 says about the instance (`DescribeInstanceStatus`, all instances included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "lifecycle", rename_all = "kebab-case")]
pub enum InstanceCheck {
    Pending,
    Running {
        #[serde(serialize_with = "as_str")]
        instance_status: SummaryStatus,
        #[serde(serialize_with = "as_str")]
        system_status: SummaryStatus,
    },
    /// shutting-down, terminated, stopping, stopped (or a state this build does not know).
    Gone {
        #[serde(serialize_with = "as_str")]
        state: InstanceStateName,
    },
    /// EC2 does not list the instance: not yet (eventual consistency) or not any more.
    NotFound,
}

/// One target group's view of the instance (`DescribeTargetHealth`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetCheck {
    pub target_group: String,
    #[serde(serialize_with = "as_str")]
    pub state: TargetHealthStateEnum,
    #[serde(serialize_with = "opt_as_str")]
    pub reason: Option<TargetHealthReasonEnum>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum HttpCheckResult {
    NotConfigured,
    Passed { status: u16 },
    Failed { detail: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Checks {
    pub instance: InstanceCheck,
    pub targets: Vec<TargetCheck>,
    pub http: HttpCheckResult,
    pub bootstrap: BootstrapCheck,
    pub release: ReleaseCheck,
}

/// One look at the instance: what the checks said, or that they did not answer in time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "look", rename_all = "kebab-case")]
pub enum Look {
    Answered(Checks),
    /// The look's AWS calls and HTTP check did not finish within their budget.
    TimedOut {
        budget_ms: u64,
    },
}

/// The outcome of one look at the instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Healthy,
    /// Definitive: the instance will not become healthy.
    Unhealthy(String),
    /// Not yet: each reason names what is still pending.
    Warming(Vec<String>),
}

/// What to do with the lifecycle action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Continue,
    Abandon(String),
    Wait(Vec<String>),
}

/// `elapsed`: since the lifecycle action started.
pub fn verdict(look: &Look, elapsed: Duration, settings: &Settings) -> Verdict {
    let checks = match look {
        Look::Answered(checks) => checks,
        Look::TimedOut { budget_ms } => {
            return Verdict::Warming(vec![format!("the checks did not answer within {budget_ms} ms (AWS slow or throttled)")])
        }
    };
    let mut warming = Vec::new();
    match &checks.release {
        ReleaseCheck::Stale { reason } => return Verdict::Unhealthy(reason.clone()),
        ReleaseCheck::Unknown { detail } => warming.push(format!("release check: {detail}")),
        ReleaseCheck::Current | ReleaseCheck::NotChecked { .. } => {}
    }
    match &checks.bootstrap {
        BootstrapCheck::Failed { reason } => {
            let tag = &settings.bootstrap_tag;
            return Verdict::Unhealthy(match reason {
                Some(reason) => format!("user data reported {tag}=failed: {reason}"),
                None => format!("user data reported {tag}=failed"),
            });
        }
        BootstrapCheck::Complete => {}
        other if settings.require_bootstrap_complete => {
            let seen = match other {
                BootstrapCheck::Other { value } => format!("`{value}`"),
                BootstrapCheck::EarlierBoot { value, set_at: Some(at) } => {
                    format!("`{value}` set at {at}, before the instance's root volume was attached: an earlier boot's")
                }
                BootstrapCheck::EarlierBoot { value, set_at: None } => {
                    format!(
                        "`{value}` without a {}-at time, after a root volume replacement: maybe an earlier boot's",
                        settings.bootstrap_tag
                    )
                }
                _ => "no tag".into(),
            };
            warming.push(format!("waiting for {}=complete (seen {seen})", settings.bootstrap_tag));
        }
        _ => {}
    }
    match &checks.instance {
        InstanceCheck::Gone { state } => return Verdict::Unhealthy(format!("the instance is {}", state.as_str())),
        // Right after launch EC2 may not list the instance yet: that is not a verdict.
        InstanceCheck::NotFound if elapsed < settings.not_found_grace => warming.push(format!(
            "EC2 does not list the instance yet (eventual consistency; waiting up to {} s)",
            settings.not_found_grace.as_secs()
        )),
        InstanceCheck::NotFound => {
            return Verdict::Unhealthy(format!("EC2 still does not know the instance {} s after its launch", elapsed.as_secs()))
        }
        InstanceCheck::Pending => warming.push("the instance is pending".into()),
        InstanceCheck::Running { instance_status, system_status } => {
            for (what, status) in [("instance", instance_status), ("system", system_status)] {
                match status {
                    SummaryStatus::Ok => {}
                    SummaryStatus::Impaired => return Verdict::Unhealthy(format!("EC2 {what} status check is impaired")),
                    SummaryStatus::Initializing | SummaryStatus::InsufficientData | SummaryStatus::NotApplicable => {
                        warming.push(format!("EC2 {what} status is {}", status.as_str()))
                    }
                    // A status this build does not know: not a reason to abandon.
                    other => warming.push(format!("EC2 {what} status is {}", other.as_str())),
                }
            }
        }
    }
    if settings.check_targets {
        for target in &checks.targets {
            let reason = target.reason.as_ref().map_or("no reason given", |r| r.as_str());
            let in_group = format!("in {} ({reason})", target.target_group);
            match &target.state {
                TargetHealthStateEnum::Healthy => {}
                // Auto Scaling registers an instance with its target groups only after the
                // launch hook completes: not being registered yet is the normal case here.
                TargetHealthStateEnum::Unused if target.reason == Some(TargetHealthReasonEnum::NotRegistered) => {}
                TargetHealthStateEnum::Unhealthy if elapsed >= settings.target_grace => {
                    return Verdict::Unhealthy(format!("unhealthy {in_group} after the {} s grace period", settings.target_grace.as_secs()))
                }
                TargetHealthStateEnum::Unhealthy
                | TargetHealthStateEnum::Initial
                | TargetHealthStateEnum::Draining
                | TargetHealthStateEnum::UnhealthyDraining
                | TargetHealthStateEnum::Unavailable
                | TargetHealthStateEnum::Unused => warming.push(format!("{} {in_group}", target.state.as_str())),
                other => warming.push(format!("{} {in_group}", other.as_str())),
            }
        }
    }
    if let HttpCheckResult::Failed { detail } = &checks.http {
        warming.push(format!("HTTP health check: {detail}"));
    }
    if warming.is_empty() {
        Verdict::Healthy
    } else {
        Verdict::Warming(warming)
    }
}

/// The decision, with the maximum wait applied: an instance is never left waiting past it.
/// `max_wait` is the settings' bound already clamped to what Auto Scaling allows.
pub fn decide(look: &Look, elapsed: Duration, max_wait: Duration, settings: &Settings) -> Decision {
    match verdict(look, elapsed, settings) {
        Verdict::Healthy => Decision::Continue,
        Verdict::Unhealthy(reason) => Decision::Abandon(reason),
        Verdict::Warming(reasons) if elapsed >= max_wait => Decision::Abandon(format!(
            "still not healthy after {} s (maximum wait {} s): {}",
            elapsed.as_secs(),
            max_wait.as_secs(),
            reasons.join("; ")
        )),
        Verdict::Warming(reasons) => Decision::Wait(reasons),
    }
}

/// The SDK enums' AWS spelling, for the decision log.
fn as_str<S: Serializer, T: AsRef<str>>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(value.as_ref())
}

fn opt_as_str<S: Serializer, T: AsRef<str>>(value: &Option<T>, serializer: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => serializer.serialize_str(v.as_ref()),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy() -> Checks {
        Checks {
            instance: running(SummaryStatus::Ok, SummaryStatus::Ok),
            targets: vec![target("tg-web", TargetHealthStateEnum::Healthy, None)],
            http: HttpCheckResult::Passed { status: 200 },
            bootstrap: BootstrapCheck::Complete,
            release: ReleaseCheck::Current,
        }
    }

    fn running(instance_status: SummaryStatus, system_status: SummaryStatus) -> InstanceCheck {
        InstanceCheck::Running { instance_status, system_status }
    }

    fn target(group: &str, state: TargetHealthStateEnum, reason: Option<TargetHealthReasonEnum>) -> TargetCheck {
        TargetCheck { target_group: group.into(), state, reason }
    }

    /// The decision for `checks` with the default settings and maximum wait.
    fn decide(checks: &Checks, elapsed: Duration, settings: &Settings) -> Decision {
        super::decide(&Look::Answered(checks.clone()), elapsed, settings.max_wait, settings)
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn all_checks_passing_continues() {
        assert_eq!(decide(&healthy(), secs(30), &Settings::default()), Decision::Continue);
    }

    #[test]
    fn bootstrap_failed_abandons_at_once_whatever_else_says() {
        let checks = Checks { bootstrap: BootstrapCheck::Failed { reason: None }, instance: InstanceCheck::Pending, ..healthy() };
        assert_eq!(decide(&checks, secs(1), &Settings::default()), Decision::Abandon("user data reported bootstrap=failed".into()));
        let reason = Some("reading secret web/staging from Secrets Manager - exit 254".to_owned());
        let checks = Checks { bootstrap: BootstrapCheck::Failed { reason }, ..healthy() };
        assert_eq!(
            decide(&checks, secs(1), &Settings::default()),
            Decision::Abandon("user data reported bootstrap=failed: reading secret web/staging from Secrets Manager - exit 254".into())
        );
    }

    #[test]
    fn a_gone_instance_abandons() {
        let gone = Checks { instance: InstanceCheck::Gone { state: InstanceStateName::Terminated }, ..healthy() };
        assert_eq!(decide(&gone, secs(1), &Settings::default()), Decision::Abandon("the instance is terminated".into()));
    }

    #[test]
    fn an_instance_ec2_does_not_list_yet_waits_through_the_grace_then_abandons() {
        // Finding 2: right after launch, DescribeInstanceStatus may not know the instance.
        let unknown = Checks { instance: InstanceCheck::NotFound, ..healthy() };
        let Decision::Wait(reasons) = decide(&unknown, secs(1), &Settings::default()) else { panic!() };
        assert_eq!(reasons, ["EC2 does not list the instance yet (eventual consistency; waiting up to 120 s)"]);
        assert!(matches!(decide(&unknown, secs(119), &Settings::default()), Decision::Wait(_)));
        assert_eq!(
            decide(&unknown, secs(120), &Settings::default()),
            Decision::Abandon("EC2 still does not know the instance 120 s after its launch".into())
        );
    }

    #[test]
    fn a_look_that_timed_out_waits_and_counts_toward_the_maximum() {
        let look = Look::TimedOut { budget_ms: 5000 };
        assert_eq!(
            super::decide(&look, secs(5), secs(900), &Settings::default()),
            Decision::Wait(vec!["the checks did not answer within 5000 ms (AWS slow or throttled)".into()])
        );
        assert!(matches!(super::decide(&look, secs(900), secs(900), &Settings::default()), Decision::Abandon(_)));
    }

    #[test]
    fn the_clamped_maximum_wait_is_the_one_applied() {
        let checks = Checks { instance: InstanceCheck::Pending, ..healthy() };
        let Decision::Abandon(reason) = super::decide(&Look::Answered(checks), secs(300), secs(300), &Settings::default()) else {
            panic!()
        };
        assert!(reason.contains("(maximum wait 300 s)"), "{reason}");
    }

    #[test]
    fn unknown_status_values_wait_rather_than_abandon() {
        let checks = Checks { instance: running(SummaryStatus::from("degraded"), SummaryStatus::NotApplicable), ..healthy() };
        assert_eq!(
            decide(&checks, secs(1), &Settings::default()),
            Decision::Wait(vec!["EC2 instance status is degraded".into(), "EC2 system status is not-applicable".into()])
        );
        let odd = Checks { targets: vec![target("tg", TargetHealthStateEnum::from("paused"), None)], ..healthy() };
        assert_eq!(decide(&odd, secs(1), &Settings::default()), Decision::Wait(vec!["paused in tg (no reason given)".into()]));
    }

    #[test]
    fn the_checks_serialise_with_aws_spellings_for_the_decision_log() {
        let json = serde_json::to_value(Look::Answered(Checks {
            targets: vec![target("tg", TargetHealthStateEnum::Unused, Some(TargetHealthReasonEnum::NotRegistered))],
            ..healthy()
        }))
        .unwrap();
        assert_eq!(json["instance"], serde_json::json!({"lifecycle": "running", "instance_status": "ok", "system_status": "ok"}));
        assert_eq!(json["targets"][0], serde_json::json!({"target_group": "tg", "state": "unused", "reason": "Target.NotRegistered"}));
        assert_eq!(json["look"], "answered");
    }

    #[test]
    fn an_impaired_status_check_abandons() {
        let checks = Checks { instance: running(SummaryStatus::Impaired, SummaryStatus::Ok), ..healthy() };
        assert_eq!(decide(&checks, secs(1), &Settings::default()), Decision::Abandon("EC2 instance status check is impaired".into()));
    }

    #[test]
    fn initializing_status_waits_and_names_what_is_pending() {
        let checks = Checks { instance: running(SummaryStatus::Initializing, SummaryStatus::Ok), ..healthy() };
        assert_eq!(decide(&checks, secs(10), &Settings::default()), Decision::Wait(vec!["EC2 instance status is initializing".into()]));
    }

    #[test]
    fn still_warming_at_the_maximum_wait_abandons_with_the_reasons() {
        let checks = Checks { instance: InstanceCheck::Pending, ..healthy() };
        let Decision::Abandon(reason) = decide(&checks, secs(900), &Settings::default()) else { panic!() };
        assert_eq!(reason, "still not healthy after 900 s (maximum wait 900 s): the instance is pending");
    }

    #[test]
    fn an_unhealthy_target_waits_through_its_grace_period_then_abandons() {
        let checks = Checks {
            targets: vec![target("tg-web", TargetHealthStateEnum::Unhealthy, Some(TargetHealthReasonEnum::FailedHealthChecks))],
            ..healthy()
        };
        assert!(matches!(decide(&checks, secs(299), &Settings::default()), Decision::Wait(_)));
        let Decision::Abandon(reason) = decide(&checks, secs(300), &Settings::default()) else { panic!() };
        assert!(reason.contains("tg-web (Target.FailedHealthChecks)"), "{reason}");
    }

    #[test]
    fn a_target_not_yet_registered_does_not_block_a_launch() {
        let checks = Checks {
            targets: vec![target("tg-web", TargetHealthStateEnum::Unused, Some(TargetHealthReasonEnum::NotRegistered))],
            ..healthy()
        };
        assert_eq!(decide(&checks, secs(5), &Settings::default()), Decision::Continue);
        let initial = Checks {
            targets: vec![target("tg", TargetHealthStateEnum::Initial, Some(TargetHealthReasonEnum::InitialHealthChecking))],
            ..healthy()
        };
        assert!(matches!(decide(&initial, secs(5), &Settings::default()), Decision::Wait(_)));
    }

    #[test]
    fn a_required_bootstrap_tag_that_says_complete_lets_the_instance_in() {
        let settings = Settings { require_bootstrap_complete: true, ..Settings::default() };
        assert_eq!(decide(&healthy(), secs(5), &settings), Decision::Continue);
        let other = Checks { bootstrap: BootstrapCheck::Other { value: "running".into() }, ..healthy() };
        assert_eq!(decide(&other, secs(5), &settings), Decision::Wait(vec!["waiting for bootstrap=complete (seen `running`)".into()]));
    }

    #[test]
    fn an_unused_target_for_another_reason_than_not_registered_waits() {
        let not_in_use =
            Checks { targets: vec![target("tg", TargetHealthStateEnum::Unused, Some(TargetHealthReasonEnum::NotInUse))], ..healthy() };
        assert_eq!(decide(&not_in_use, secs(5), &Settings::default()), Decision::Wait(vec!["unused in tg (Target.NotInUse)".into()]));
    }

    #[test]
    fn target_checks_can_be_switched_off() {
        let checks = Checks { targets: vec![target("tg", TargetHealthStateEnum::Unhealthy, None)], ..healthy() };
        let settings = Settings { check_targets: false, ..Settings::default() };
        assert_eq!(decide(&checks, secs(600), &settings), Decision::Continue);
    }

    #[test]
    fn a_failing_http_check_waits_and_a_required_bootstrap_tag_waits() {
        let checks = Checks {
            http: HttpCheckResult::Failed { detail: "connection refused".into() },
            bootstrap: BootstrapCheck::Absent,
            ..healthy()
        };
        let settings = Settings { require_bootstrap_complete: true, ..Settings::default() };
        let Decision::Wait(reasons) = decide(&checks, secs(5), &settings) else { panic!() };
        assert_eq!(
            reasons,
            vec!["waiting for bootstrap=complete (seen no tag)".to_owned(), "HTTP health check: connection refused".to_owned()]
        );
    }

    #[test]
    fn a_stale_release_abandons_at_once_whatever_else_says() {
        let stale = ReleaseCheck::Stale { reason: "stale instance: it runs release a (lt-1 version 3), but ...".into() };
        let checks = Checks { release: stale, instance: InstanceCheck::Pending, bootstrap: BootstrapCheck::Absent, ..healthy() };
        assert_eq!(
            decide(&checks, secs(1), &Settings::default()),
            Decision::Abandon("stale instance: it runs release a (lt-1 version 3), but ...".into())
        );
    }

    #[test]
    fn launch_tags_not_visible_yet_wait_and_a_skipped_release_check_does_not() {
        let unknown = Checks { release: ReleaseCheck::Unknown { detail: "tags not visible yet".into() }, ..healthy() };
        assert_eq!(decide(&unknown, secs(1), &Settings::default()), Decision::Wait(vec!["release check: tags not visible yet".into()]));
        let skipped = Checks { release: ReleaseCheck::NotChecked { why: "warm pool".into() }, ..healthy() };
        assert_eq!(decide(&skipped, secs(1), &Settings::default()), Decision::Continue);
    }

    #[test]
    fn an_earlier_boots_bootstrap_tag_neither_lets_in_nor_abandons() {
        let required = Settings { require_bootstrap_complete: true, ..Settings::default() };
        let timed = BootstrapCheck::EarlierBoot { value: "complete".into(), set_at: Some("2026-11-25T10:01:00Z".into()) };
        assert_eq!(
            decide(&Checks { bootstrap: timed.clone(), ..healthy() }, secs(5), &required),
            Decision::Wait(vec![
                "waiting for bootstrap=complete (seen `complete` set at 2026-11-25T10:01:00Z, before the instance's root volume was attached: an earlier boot's)"
                    .into()
            ])
        );
        let untimed = BootstrapCheck::EarlierBoot { value: "failed".into(), set_at: None };
        assert_eq!(
            decide(&Checks { bootstrap: untimed.clone(), ..healthy() }, secs(5), &required),
            Decision::Wait(vec![
                "waiting for bootstrap=complete (seen `failed` without a bootstrap-at time, after a root volume replacement: maybe an earlier boot's)"
                    .into()
            ])
        );
        assert_eq!(decide(&Checks { bootstrap: untimed, ..healthy() }, secs(5), &Settings::default()), Decision::Continue, "not required");
    }
}
