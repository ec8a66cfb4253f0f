//! Health checks as plain data, and the decision over them.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::settings::Settings;

/// What EC2 says about the instance (`DescribeInstanceStatus`, all instances included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "lifecycle", rename_all = "kebab-case")]
pub enum InstanceCheck {
    Pending,
    Running { instance_status: String, system_status: String },
    /// shutting-down, terminated, stopping, stopped.
    Gone { state: String },
    NotFound,
}

/// One target group's view of the instance (`DescribeTargetHealth`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetCheck {
    pub target_group: String,
    pub state: String,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum HttpCheckResult {
    NotConfigured,
    Passed { status: u16 },
    Failed { detail: String },
}

/// The instance's bootstrap tag, as user data left it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "tag", rename_all = "kebab-case")]
pub enum BootstrapCheck {
    Complete,
    Failed,
    Absent,
    Other { value: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Checks {
    pub instance: InstanceCheck,
    pub targets: Vec<TargetCheck>,
    pub http: HttpCheckResult,
    pub bootstrap: BootstrapCheck,
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

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::Continue => f.write_str("CONTINUE"),
            Decision::Abandon(_) => f.write_str("ABANDON"),
            Decision::Wait(_) => f.write_str("WAIT"),
        }
    }
}

pub fn verdict(checks: &Checks, elapsed: Duration, settings: &Settings) -> Verdict {
    let mut warming = Vec::new();
    match &checks.bootstrap {
        BootstrapCheck::Failed => {
            return Verdict::Unhealthy(format!("user data reported {}=failed", settings.bootstrap_tag))
        }
        BootstrapCheck::Complete => {}
        other if settings.require_bootstrap_complete => {
            let seen = match other {
                BootstrapCheck::Other { value } => format!("`{value}`"),
                _ => "no tag".into(),
            };
            warming.push(format!("waiting for {}=complete (seen {seen})", settings.bootstrap_tag));
        }
        _ => {}
    }
    match &checks.instance {
        InstanceCheck::Gone { state } => return Verdict::Unhealthy(format!("the instance is {state}")),
        InstanceCheck::NotFound => return Verdict::Unhealthy("EC2 does not know the instance".into()),
        InstanceCheck::Pending => warming.push("the instance is pending".into()),
        InstanceCheck::Running { instance_status, system_status } => {
            for (what, status) in [("instance", instance_status), ("system", system_status)] {
                match status.as_str() {
                    "ok" => {}
                    "impaired" => return Verdict::Unhealthy(format!("EC2 {what} status check is impaired")),
                    other => warming.push(format!("EC2 {what} status is {other}")),
                }
            }
        }
    }
    if settings.check_targets {
        for target in &checks.targets {
            let reason = target.reason.as_deref().unwrap_or("no reason given");
            match target.state.as_str() {
                "healthy" => {}
                // Auto Scaling registers an instance with its target groups only after the
                // launch hook completes: not being registered yet is the normal case here.
                "unused" if target.reason.as_deref() == Some("Target.NotRegistered") => {}
                "unhealthy" if elapsed >= settings.target_grace => {
                    return Verdict::Unhealthy(format!(
                        "unhealthy in {} ({reason}) after the {} s grace period",
                        target.target_group,
                        settings.target_grace.as_secs()
                    ))
                }
                state => warming.push(format!("{state} in {} ({reason})", target.target_group)),
            }
        }
    }
    if let HttpCheckResult::Failed { detail } = &checks.http {
        warming.push(format!("HTTP health check: {detail}"));
    }
    if warming.is_empty() { Verdict::Healthy } else { Verdict::Warming(warming) }
}

/// The decision, with the maximum wait applied: an instance is never left waiting past it.
pub fn decide(checks: &Checks, elapsed: Duration, settings: &Settings) -> Decision {
    match verdict(checks, elapsed, settings) {
        Verdict::Healthy => Decision::Continue,
        Verdict::Unhealthy(reason) => Decision::Abandon(reason),
        Verdict::Warming(reasons) if elapsed >= settings.max_wait => Decision::Abandon(format!(
            "still not healthy after {} s (maximum wait {} s): {}",
            elapsed.as_secs(),
            settings.max_wait.as_secs(),
            reasons.join("; ")
        )),
        Verdict::Warming(reasons) => Decision::Wait(reasons),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy() -> Checks {
        Checks {
            instance: InstanceCheck::Running { instance_status: "ok".into(), system_status: "ok".into() },
            targets: vec![TargetCheck { target_group: "tg-web".into(), state: "healthy".into(), reason: None }],
            http: HttpCheckResult::Passed { status: 200 },
            bootstrap: BootstrapCheck::Complete,
        }
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
        let checks = Checks { bootstrap: BootstrapCheck::Failed, instance: InstanceCheck::Pending, ..healthy() };
        assert_eq!(decide(&checks, secs(1), &Settings::default()), Decision::Abandon("user data reported bootstrap=failed".into()));
    }

    #[test]
    fn a_gone_or_unknown_instance_abandons() {
        let gone = Checks { instance: InstanceCheck::Gone { state: "terminated".into() }, ..healthy() };
        assert_eq!(decide(&gone, secs(1), &Settings::default()), Decision::Abandon("the instance is terminated".into()));
        let unknown = Checks { instance: InstanceCheck::NotFound, ..healthy() };
        assert!(matches!(decide(&unknown, secs(1), &Settings::default()), Decision::Abandon(_)));
    }

    #[test]
    fn an_impaired_status_check_abandons() {
        let checks = Checks { instance: InstanceCheck::Running { instance_status: "impaired".into(), system_status: "ok".into() }, ..healthy() };
        assert_eq!(decide(&checks, secs(1), &Settings::default()), Decision::Abandon("EC2 instance status check is impaired".into()));
    }

    #[test]
    fn initializing_status_waits_and_names_what_is_pending() {
        let checks = Checks { instance: InstanceCheck::Running { instance_status: "initializing".into(), system_status: "ok".into() }, ..healthy() };
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
            targets: vec![TargetCheck { target_group: "tg-web".into(), state: "unhealthy".into(), reason: Some("Target.FailedHealthChecks".into()) }],
            ..healthy()
        };
        assert!(matches!(decide(&checks, secs(299), &Settings::default()), Decision::Wait(_)));
        let Decision::Abandon(reason) = decide(&checks, secs(300), &Settings::default()) else { panic!() };
        assert!(reason.contains("tg-web (Target.FailedHealthChecks)"), "{reason}");
    }

    #[test]
    fn a_target_not_yet_registered_does_not_block_a_launch() {
        let checks = Checks {
            targets: vec![TargetCheck { target_group: "tg-web".into(), state: "unused".into(), reason: Some("Target.NotRegistered".into()) }],
            ..healthy()
        };
        assert_eq!(decide(&checks, secs(5), &Settings::default()), Decision::Continue);
        let initial = Checks { targets: vec![TargetCheck { target_group: "tg".into(), state: "initial".into(), reason: Some("Elb.InitialHealthChecking".into()) }], ..healthy() };
        assert!(matches!(decide(&initial, secs(5), &Settings::default()), Decision::Wait(_)));
    }

    #[test]
    fn target_checks_can_be_switched_off() {
        let checks = Checks { targets: vec![TargetCheck { target_group: "tg".into(), state: "unhealthy".into(), reason: None }], ..healthy() };
        let settings = Settings { check_targets: false, ..Settings::default() };
        assert_eq!(decide(&checks, secs(600), &settings), Decision::Continue);
    }

    #[test]
    fn a_failing_http_check_waits_and_a_required_bootstrap_tag_waits() {
        let checks = Checks { http: HttpCheckResult::Failed { detail: "connection refused".into() }, bootstrap: BootstrapCheck::Absent, ..healthy() };
        let settings = Settings { require_bootstrap_complete: true, ..Settings::default() };
        let Decision::Wait(reasons) = decide(&checks, secs(5), &settings) else { panic!() };
        assert_eq!(reasons, vec!["waiting for bootstrap=complete (seen no tag)".to_owned(), "HTTP health check: connection refused".to_owned()]);
    }
}
