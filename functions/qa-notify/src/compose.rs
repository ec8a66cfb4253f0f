//! From a trigger and the facts gathered for it to the [`Notice`] every format renders.

use crate::links;
use crate::notice::{expiry, ApprovalRequest, Failure, Notice, Rejection, Release};
use crate::settings::Settings;
use crate::trigger::{Kind, Trigger};
use shared::codepipeline::pipeline_state::ApprovalLookup;

/// CodePipeline's default for a manual approval without `timeoutInMinutes`: 7 days.
pub const DEFAULT_APPROVAL_TIMEOUT_MINUTES: i64 = 7 * 24 * 60;

/// Which execution a message is about, and when.
struct Origin<'a> {
    pipeline: &'a str,
    region: &'a str,
    execution_id: Option<&'a str>,
    at: Option<&'a str>,
}

impl<'a> Origin<'a> {
    fn of(t: &'a Trigger, region: &'a str) -> Self {
        Origin { pipeline: &t.pipeline, region, execution_id: Some(&t.execution_id), at: t.at.as_deref() }
    }
}

fn base(kind: Kind, origin: Origin<'_>, environment: Option<&str>, settings: &Settings, release: Release) -> Notice {
    let Origin { pipeline, region, execution_id, at } = origin;
    let environment_url =
        environment.and_then(|e| settings.environment_urls.get(e).or_else(|| settings.environment_urls.get(&e.to_lowercase())).cloned());
    Notice {
        kind,
        pipeline: pipeline.to_owned(),
        region: region.to_owned(),
        execution_id: execution_id.map(str::to_owned),
        environment: environment.map(str::to_owned),
        environment_url,
        release,
        approval: None,
        rejection: None,
        failure: None,
        occurred_at: at.map(str::to_owned),
    }
}

pub fn ready_for_qa(t: &Trigger, settings: &Settings, region: &str, release: Release, token: &str, timeout_minutes: Option<i32>) -> Notice {
    let w = &settings.watch;
    let mut n = base(Kind::ReadyForQa, Origin::of(t, region), Some(&w.qa_environment), settings, release);
    let minutes = timeout_minutes.map_or(DEFAULT_APPROVAL_TIMEOUT_MINUTES, i64::from);
    n.approval = Some(ApprovalRequest {
        review_url: links::approval_review(region, &t.pipeline, &w.approval_stage, &w.approval_action, token),
        expires: t.at.as_deref().and_then(|at| expiry(at, minutes)),
    });
    n
}

pub fn rejected(t: &Trigger, settings: &Settings, region: &str, release: Release, lookup: &ApprovalLookup) -> Notice {
    let mut n = base(Kind::ApprovalRejected, Origin::of(t, region), Some(&settings.watch.qa_environment), settings, release);
    n.rejection = Some(match lookup {
        ApprovalLookup::Answered { summary, by, error, .. } => Rejection {
            by: by.clone(),
            // An approval that expired has an error and nobody who answered it.
            expired: error.is_some() && by.is_none(),
            summary: summary.clone().or_else(|| error.clone()),
        },
        _ => Rejection { by: None, summary: None, expired: false },
    });
    n
}

pub fn failed(t: &Trigger, settings: &Settings, region: &str, release: Release, failure: Option<Failure>) -> Notice {
    let stage = failure.as_ref().map(|f| f.stage.clone());
    let mut n = base(Kind::DeploymentFailed, Origin::of(t, region), stage.as_deref(), settings, release);
    n.failure = failure;
    n
}

pub fn deployed(pipeline: &str, stage: &str, execution_id: Option<&str>, settings: &Settings, region: &str, release: Release) -> Notice {
    base(Kind::Deployed, Origin { pipeline, region, execution_id, at: None }, Some(stage), settings, release)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Watch;

    fn settings() -> Settings {
        Settings {
            topic_arn: "arn:aws:sns:eu-west-1:123456789012:releases".into(),
            watch: Watch {
                pipelines: vec![],
                approval_stage: "Approval".into(),
                approval_action: "QA".into(),
                qa_environment: "staging".into(),
            },
            environment_urls: [("staging".to_owned(), "https://staging.example.com".to_owned())].into(),
            sent_table: None,
        }
    }

    fn trigger(kind: Kind) -> Trigger {
        Trigger { kind, pipeline: "release".into(), execution_id: "x-1".into(), at: Some("2026-11-26T10:00:00Z".into()), region: None }
    }

    #[test]
    fn ready_for_qa_links_the_approval_and_the_qa_environment_and_says_when_it_expires() {
        let n = ready_for_qa(&trigger(Kind::ReadyForQa), &settings(), "eu-west-1", Release::default(), "t-1", Some(60));
        let approval = n.approval.unwrap();
        assert!(approval.review_url.ends_with("#/view/release/Approval/QA/approve/t-1"), "{}", approval.review_url);
        assert_eq!(approval.expires.as_deref(), Some("2026-11-26T11:00:00Z"));
        assert_eq!((n.environment.as_deref(), n.environment_url.as_deref()), (Some("staging"), Some("https://staging.example.com")));
        let default = ready_for_qa(&trigger(Kind::ReadyForQa), &settings(), "eu-west-1", Release::default(), "t-1", None);
        assert_eq!(default.approval.unwrap().expires.as_deref(), Some("2026-12-03T10:00:00Z"), "7 days by default");
    }

    #[test]
    fn a_rejection_names_who_and_why_and_an_expiry_is_told_apart() {
        let answered = ApprovalLookup::Answered {
            status: "Failed".into(),
            summary: Some("checkout broken".into()),
            by: Some("qa-anna".into()),
            error: None,
        };
        let r = rejected(&trigger(Kind::ApprovalRejected), &settings(), "eu-west-1", Release::default(), &answered).rejection.unwrap();
        assert_eq!((r.by.as_deref(), r.summary.as_deref(), r.expired), (Some("qa-anna"), Some("checkout broken"), false));
        let expired = ApprovalLookup::Answered {
            status: "Failed".into(),
            summary: None,
            by: None,
            error: Some("The approval request expired".into()),
        };
        let r = rejected(&trigger(Kind::ApprovalRejected), &settings(), "eu-west-1", Release::default(), &expired).rejection.unwrap();
        assert!(r.expired && r.summary.as_deref() == Some("The approval request expired"));
        let answered_with_an_error =
            ApprovalLookup::Answered { status: "Failed".into(), summary: None, by: Some("qa-anna".into()), error: Some("e".into()) };
        let r = rejected(&trigger(Kind::ApprovalRejected), &settings(), "eu-west-1", Release::default(), &answered_with_an_error)
            .rejection
            .unwrap();
        assert!(!r.expired, "someone answered it: not an expiry");
        let unknown = rejected(&trigger(Kind::ApprovalRejected), &settings(), "eu-west-1", Release::default(), &ApprovalLookup::NotListed);
        assert_eq!(unknown.rejection.unwrap(), Rejection { by: None, summary: None, expired: false });
    }

    #[test]
    fn a_failure_is_about_the_failing_stage_whose_url_is_found_case_blind() {
        let failure = Failure { stage: "Staging".into(), action: Some("Refresh".into()), summary: Some("boom".into()) };
        let n = failed(&trigger(Kind::DeploymentFailed), &settings(), "eu-west-1", Release::default(), Some(failure));
        assert_eq!((n.environment.as_deref(), n.environment_url.as_deref()), (Some("Staging"), Some("https://staging.example.com")));
        let d = deployed("dev", "production", None, &settings(), "eu-west-1", Release::default());
        assert_eq!((d.kind, d.environment_url), (Kind::Deployed, None));
    }
}
