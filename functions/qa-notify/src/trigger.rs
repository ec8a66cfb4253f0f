//! What a CodePipeline event means for qa-notify: a message to send, or nothing (and why).

use shared::codepipeline::state_change::{ExecutionState, PipelineEvent};

use crate::settings::Watch;

/// The kinds of message, named as subscribers filter on them (the `kind` attribute).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    ReadyForQa,
    ApprovalRejected,
    DeploymentFailed,
    Deployed,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ReadyForQa => "ready-for-qa",
            Kind::ApprovalRejected => "approval-rejected",
            Kind::DeploymentFailed => "deployment-failed",
            Kind::Deployed => "deployed",
        }
    }
}

/// An event that calls for a message, with what identifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    pub kind: Kind,
    pub pipeline: String,
    pub execution_id: String,
    /// When it happened (the event's `time`), RFC 3339.
    pub at: Option<String>,
    pub region: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Notify(Trigger),
    Ignore(String),
}

pub fn decide(event: &PipelineEvent, watch: &Watch) -> Decision {
    match event {
        PipelineEvent::Action(e) => {
            let d = &e.detail;
            if !watch.watches(&d.pipeline) {
                return Decision::Ignore(format!("pipeline {} is not watched", d.pipeline));
            }
            if !watch.is_approval(&d.stage, &d.action) {
                return Decision::Ignore(format!("action {}/{} is not the QA approval", d.stage, d.action));
            }
            let kind = match d.state {
                ExecutionState::Started => Kind::ReadyForQa,
                ExecutionState::Failed => Kind::ApprovalRejected,
                ref other => return Decision::Ignore(format!("the QA approval went {other:?}, nothing to tell")),
            };
            Decision::Notify(Trigger {
                kind,
                pipeline: d.pipeline.clone(),
                execution_id: d.execution_id.clone(),
                at: e.time.clone(),
                region: d.region.clone().or_else(|| e.region.clone()),
            })
        }
        PipelineEvent::Execution(e) => {
            let d = &e.detail;
            if !watch.watches(&d.pipeline) {
                return Decision::Ignore(format!("pipeline {} is not watched", d.pipeline));
            }
            if d.state != ExecutionState::Failed {
                return Decision::Ignore(format!("the execution went {:?}, only a failure is told", d.state));
            }
            Decision::Notify(Trigger {
                kind: Kind::DeploymentFailed,
                pipeline: d.pipeline.clone(),
                execution_id: d.execution_id.clone(),
                at: e.time.clone(),
                region: e.region.clone(),
            })
        }
        PipelineEvent::Other { detail_type } => Decision::Ignore(format!("`{detail_type}` events are not for qa-notify")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn watch() -> Watch {
        Watch {
            pipelines: vec!["release".into()],
            approval_stage: "Approval".into(),
            approval_action: "QA".into(),
            qa_environment: "staging".into(),
        }
    }

    fn action(pipeline: &str, stage: &str, action: &str, state: &str) -> PipelineEvent {
        let event: Value = json!({
            "detail-type": "CodePipeline Action Execution State Change", "source": "aws.codepipeline",
            "time": "2026-11-26T10:00:00Z", "region": "eu-west-1",
            "detail": {"pipeline": pipeline, "execution-id": "x-1", "stage": stage, "action": action, "state": state, "version": 3.0}
        });
        PipelineEvent::parse(&event).unwrap()
    }

    fn execution(pipeline: &str, state: &str) -> PipelineEvent {
        let event = json!({
            "detail-type": "CodePipeline Pipeline Execution State Change", "source": "aws.codepipeline",
            "detail": {"pipeline": pipeline, "execution-id": "x-1", "state": state}
        });
        PipelineEvent::parse(&event).unwrap()
    }

    fn kind(d: Decision) -> Option<Kind> {
        match d {
            Decision::Notify(t) => Some(t.kind),
            Decision::Ignore(_) => None,
        }
    }

    #[test]
    fn the_qa_approval_starting_is_ready_for_qa_and_failing_is_a_rejection() {
        let Decision::Notify(t) = decide(&action("release", "Approval", "QA", "STARTED"), &watch()) else { panic!() };
        assert_eq!((t.kind, t.pipeline.as_str(), t.execution_id.as_str()), (Kind::ReadyForQa, "release", "x-1"));
        assert_eq!((t.at.as_deref(), t.region.as_deref()), (Some("2026-11-26T10:00:00Z"), Some("eu-west-1")));
        assert_eq!(kind(decide(&action("release", "Approval", "QA", "FAILED"), &watch())), Some(Kind::ApprovalRejected));
    }

    #[test]
    fn other_states_actions_and_pipelines_are_ignored_saying_why() {
        for (event, why) in [
            (action("release", "Approval", "QA", "SUCCEEDED"), "went Succeeded"),
            (action("release", "Staging", "Refresh", "STARTED"), "not the QA approval"),
            (action("release", "Approval", "Other", "STARTED"), "not the QA approval"),
            (action("other", "Approval", "QA", "STARTED"), "pipeline other is not watched"),
            (execution("release", "SUCCEEDED"), "only a failure"),
            (execution("other", "FAILED"), "not watched"),
        ] {
            let Decision::Ignore(reason) = decide(&event, &watch()) else { panic!("{event:?}") };
            assert!(reason.contains(why), "{reason}");
        }
        let other = PipelineEvent::Other { detail_type: "CodePipeline Stage Execution State Change".into() };
        assert!(matches!(decide(&other, &watch()), Decision::Ignore(r) if r.contains("Stage Execution")));
    }

    #[test]
    fn a_failed_execution_is_a_deployment_failure() {
        assert_eq!(kind(decide(&execution("release", "FAILED"), &watch())), Some(Kind::DeploymentFailed));
    }

    #[test]
    fn kinds_are_named_as_subscribers_filter_on_them() {
        let names: Vec<_> = [Kind::ReadyForQa, Kind::ApprovalRejected, Kind::DeploymentFailed, Kind::Deployed].map(Kind::as_str).into();
        assert_eq!(names, ["ready-for-qa", "approval-rejected", "deployment-failed", "deployed"]);
    }
}
