//! From the checks to one decision, and the words that explain it.

use jiff::Timestamp;

use crate::checks::window::{Window, WindowState};
use crate::checks::Check;

pub const WINDOW: &str = "deployment window";
/// PutApprovalResult's limit on `summary`.
pub const MAX_SUMMARY_CHARS: usize = 512;
/// CodePipeline fails an action still in progress 24 h after it started; the last re-check
/// must come before that, and re-invocations are not instant.
pub const ACTION_LIMIT_SECONDS: i64 = 24 * 3600;
pub const RECHECK_MARGIN_SECONDS: i64 = 30 * 60;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every check passed.
    Pass { checks: Vec<Check> },
    /// At least one check failed: the summary names each with its evidence.
    Reject { summary: String, checks: Vec<Check> },
    /// Invoke mode, only the window closed, and it opens in time: answer in progress.
    Wait { until: Timestamp, summary: String, checks: Vec<Check> },
}

/// How the gate was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The QA approval started: reject it or leave it.
    Approval,
    /// An Invoke action that started at this instant: a closed window can be waited for.
    Action { started: Timestamp },
}

pub fn decide(mut checks: Vec<Check>, window: Option<&Window>, now: Timestamp, mode: Mode) -> Verdict {
    let others_failed = checks.iter().any(|c| !c.passed);
    if let Some(w) = window {
        match w.state_at(now) {
            WindowState::Open => checks.push(Check::pass(WINDOW, format!("open at {}", w.local(now)))),
            WindowState::Closed { why, opens_at } => {
                let opens =
                    opens_at.map(|t| format!("; opens {}", w.local(t))).unwrap_or_else(|| "; it does not open within a year".to_owned());
                if let (Mode::Action { started }, false, Some(until)) = (mode, others_failed, opens_at) {
                    if until.as_second() <= started.as_second() + ACTION_LIMIT_SECONDS - RECHECK_MARGIN_SECONDS {
                        checks.push(Check::fail(WINDOW, format!("closed: {why}{opens}")));
                        return Verdict::Wait { until, summary: format!("Waiting for the deployment window: {why}{opens}"), checks };
                    }
                    checks.push(Check::fail(WINDOW, format!("closed: {why}{opens}, after CodePipeline's 24 h limit for this action")));
                } else {
                    checks.push(Check::fail(WINDOW, format!("closed: {why}{opens}")));
                }
            }
        }
    }
    if checks.iter().all(|c| c.passed) {
        return Verdict::Pass { checks };
    }
    Verdict::Reject { summary: summary(&checks), checks }
}

/// "approval-gate: staging fleet: …; alarms: …", cut to 512 characters.
pub fn summary(checks: &[Check]) -> String {
    let failed: Vec<String> = checks.iter().filter(|c| !c.passed).map(|c| format!("{}: {}", c.name, c.evidence)).collect();
    let text = format!("approval-gate rejected: {}", failed.join(" | "));
    if text.chars().count() <= MAX_SUMMARY_CHARS {
        return text;
    }
    let kept: String = text.chars().take(MAX_SUMMARY_CHARS - 1).collect();
    format!("{kept}…")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::window::{WeeklySpec, WindowSpec};

    fn office_hours() -> Window {
        WindowSpec {
            time_zone: "UTC".into(),
            weekly: vec![WeeklySpec {
                days: vec!["Mon".into(), "Tue".into(), "Wed".into(), "Thu".into()],
                from: "09:00".into(),
                to: "16:00".into(),
            }],
            freezes: vec![],
        }
        .build()
        .unwrap()
    }

    fn at(ts: &str) -> Timestamp {
        ts.parse().unwrap()
    }

    #[test]
    fn all_checks_passing_in_an_open_window_pass() {
        let v = decide(vec![Check::pass("alarms", "1 alarm OK")], Some(&office_hours()), at("2026-11-26T10:00:00Z"), Mode::Approval);
        let Verdict::Pass { checks } = v else { panic!("{v:?}") };
        assert_eq!(checks[1], Check::pass(WINDOW, "open at Thu 2026-11-26 10:00 UTC"));
    }

    #[test]
    fn a_failed_check_rejects_naming_it_and_its_evidence() {
        let v = decide(
            vec![Check::fail("alarms", "alarm 5xx is ALARM"), Check::pass("staging fleet", "ok")],
            None,
            at("2026-11-26T10:00:00Z"),
            Mode::Approval,
        );
        assert_eq!(
            v,
            Verdict::Reject {
                summary: "approval-gate rejected: alarms: alarm 5xx is ALARM".into(),
                checks: match &v {
                    Verdict::Reject { checks, .. } => checks.clone(),
                    _ => unreachable!(),
                }
            }
        );
    }

    #[test]
    fn a_closed_window_rejects_an_approval_but_an_action_waits_for_it() {
        let friday = at("2026-11-27T12:00:00Z");
        let approval = decide(vec![], Some(&office_hours()), friday, Mode::Approval);
        let Verdict::Reject { summary, .. } = approval else { panic!("{approval:?}") };
        assert!(
            summary.contains("deployment window: closed: Fri 12:00 UTC is outside the weekly windows; opens Mon 2026-11-30 09:00 UTC"),
            "{summary}"
        );
        // Started Sunday 12:00: Monday 09:00 is 21 h later, inside the 24 h limit less the margin.
        let action =
            decide(vec![], Some(&office_hours()), at("2026-11-29T12:00:00Z"), Mode::Action { started: at("2026-11-29T12:00:00Z") });
        let Verdict::Wait { until, summary, .. } = action else { panic!("{action:?}") };
        assert_eq!(until, at("2026-11-30T09:00:00Z"));
        assert!(summary.starts_with("Waiting for the deployment window"), "{summary}");
    }

    #[test]
    fn a_window_opening_after_the_actions_24_hours_fails_naming_when_it_would_have_opened() {
        let v = decide(vec![], Some(&office_hours()), at("2026-11-27T12:00:00Z"), Mode::Action { started: at("2026-11-27T12:00:00Z") });
        let Verdict::Reject { summary, .. } = v else { panic!("{v:?}") };
        assert!(summary.contains("opens Mon 2026-11-30 09:00 UTC, after CodePipeline's 24 h limit"), "{summary}");
        // 30 minutes of margin: an opening 23 h 30 min after the start is still waited for, one minute later is not.
        let started = at("2026-11-29T09:30:00Z");
        assert!(matches!(decide(vec![], Some(&office_hours()), started, Mode::Action { started }), Verdict::Wait { .. }));
        let started = at("2026-11-29T09:29:00Z");
        assert!(matches!(decide(vec![], Some(&office_hours()), started, Mode::Action { started }), Verdict::Reject { .. }));
    }

    #[test]
    fn with_another_failure_a_closed_window_does_not_wait() {
        let now = at("2026-11-29T12:00:00Z");
        let v = decide(vec![Check::fail("alarms", "alarm 5xx is ALARM")], Some(&office_hours()), now, Mode::Action { started: now });
        let Verdict::Reject { summary, .. } = v else { panic!("{v:?}") };
        assert!(summary.contains("alarms: alarm 5xx is ALARM | deployment window: closed"), "{summary}");
    }

    #[test]
    fn the_summary_fits_put_approval_results_512_characters() {
        let long = vec![Check::fail("staging fleet", "i-0123456789abcdef0 Unhealthy; ".repeat(40))];
        let s = summary(&long);
        assert_eq!(s.chars().count(), MAX_SUMMARY_CHARS);
        assert!(s.ends_with('…'));
    }
}
