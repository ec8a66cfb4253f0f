//! Reading the facts a message needs out of CodePipeline's state, as plain functions.

use crate::notice::Failure;

/// `GetPipelineState`, reduced to what qa-notify reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PipelineState {
    pub stages: Vec<StageState>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageState {
    pub name: String,
    /// The execution the stage last ran (`latestExecution.pipelineExecutionId`).
    pub execution_id: Option<String>,
    pub status: Option<String>,
    pub actions: Vec<ActionState>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionState {
    pub name: String,
    pub status: Option<String>,
    /// A waiting manual approval's token.
    pub token: Option<String>,
    pub summary: Option<String>,
    pub updated_by: Option<String>,
    pub error_message: Option<String>,
}

/// Where a manual approval of one execution stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalLookup {
    Waiting {
        token: String,
    },
    Answered {
        status: String,
        summary: Option<String>,
        by: Option<String>,
        error: Option<String>,
    },
    /// The stage has moved on to another execution: this one's approval is stale.
    Superseded {
        current: Option<String>,
    },
    /// The stage runs this execution but the approval shows no token yet.
    NotListed,
}

pub fn approval(state: &PipelineState, stage: &str, action: &str, execution_id: &str) -> ApprovalLookup {
    let Some(stage) = state.stages.iter().find(|s| s.name == stage) else { return ApprovalLookup::NotListed };
    if stage.execution_id.as_deref() != Some(execution_id) {
        return ApprovalLookup::Superseded { current: stage.execution_id.clone() };
    }
    let Some(action) = stage.actions.iter().find(|a| a.name == action) else { return ApprovalLookup::NotListed };
    match (action.status.as_deref(), &action.token) {
        (Some("InProgress"), Some(token)) => ApprovalLookup::Waiting { token: token.clone() },
        (Some(status @ ("Succeeded" | "Failed" | "Abandoned")), _) => ApprovalLookup::Answered {
            status: status.to_owned(),
            summary: action.summary.clone(),
            by: action.updated_by.clone(),
            error: action.error_message.clone(),
        },
        _ => ApprovalLookup::NotListed,
    }
}

/// The stage and action that failed `execution_id`, with what they said.
pub fn failure(state: &PipelineState, execution_id: &str) -> Option<Failure> {
    let stage = state.stages.iter().find(|s| s.execution_id.as_deref() == Some(execution_id) && s.status.as_deref() == Some("Failed"))?;
    let action = stage.actions.iter().find(|a| a.status.as_deref() == Some("Failed"));
    Some(Failure {
        stage: stage.name.clone(),
        action: action.map(|a| a.name.clone()),
        summary: action.and_then(|a| a.error_message.clone().or_else(|| a.summary.clone())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(execution: &str, status: &str, token: Option<&str>) -> PipelineState {
        PipelineState {
            stages: vec![
                StageState {
                    name: "Staging".into(),
                    execution_id: Some(execution.into()),
                    status: Some("Succeeded".into()),
                    actions: vec![ActionState { name: "Refresh".into(), status: Some("Succeeded".into()), ..Default::default() }],
                },
                StageState {
                    name: "Approval".into(),
                    execution_id: Some(execution.into()),
                    status: Some(status.into()),
                    actions: vec![ActionState {
                        name: "QA".into(),
                        status: Some(status.into()),
                        token: token.map(str::to_owned),
                        summary: Some("staging looks wrong".into()),
                        updated_by: Some("arn:aws:iam::123456789012:user/qa-anna".into()),
                        error_message: None,
                    }],
                },
            ],
        }
    }

    #[test]
    fn a_waiting_approval_of_this_execution_gives_its_token() {
        assert_eq!(
            approval(&state("x-1", "InProgress", Some("t-1")), "Approval", "QA", "x-1"),
            ApprovalLookup::Waiting { token: "t-1".into() }
        );
    }

    #[test]
    fn an_approval_the_stage_has_moved_past_is_superseded() {
        let lookup = approval(&state("x-2", "InProgress", Some("t-2")), "Approval", "QA", "x-1");
        assert_eq!(lookup, ApprovalLookup::Superseded { current: Some("x-2".into()) }, "never hand out another execution's token");
    }

    #[test]
    fn an_answered_approval_says_who_and_why() {
        let ApprovalLookup::Answered { status, summary, by, .. } = approval(&state("x-1", "Failed", None), "Approval", "QA", "x-1") else {
            panic!()
        };
        assert_eq!((status.as_str(), summary.as_deref()), ("Failed", Some("staging looks wrong")));
        assert_eq!(by.as_deref(), Some("arn:aws:iam::123456789012:user/qa-anna"));
    }

    #[test]
    fn no_token_yet_or_no_such_stage_or_action_is_not_listed() {
        assert_eq!(approval(&state("x-1", "InProgress", None), "Approval", "QA", "x-1"), ApprovalLookup::NotListed);
        assert_eq!(approval(&state("x-1", "InProgress", Some("t")), "Nope", "QA", "x-1"), ApprovalLookup::NotListed);
        assert_eq!(approval(&state("x-1", "InProgress", Some("t")), "Approval", "Nope", "x-1"), ApprovalLookup::NotListed);
    }

    #[test]
    fn the_failed_stage_and_action_of_the_execution_are_found_with_the_error() {
        let mut s = state("x-1", "Succeeded", None);
        s.stages[0].status = Some("Failed".into());
        s.stages[0].actions[0].status = Some("Failed".into());
        s.stages[0].actions[0].error_message = Some("instance refresh r-1 failed: Alarm 5xx is in ALARM state.".into());
        let f = failure(&s, "x-1").unwrap();
        assert_eq!((f.stage.as_str(), f.action.as_deref()), ("Staging", Some("Refresh")));
        assert_eq!(f.summary.as_deref(), Some("instance refresh r-1 failed: Alarm 5xx is in ALARM state."));
        assert_eq!(failure(&s, "x-9"), None, "another execution's failure is not this one's");
        s.stages[0].actions[0].error_message = None;
        assert_eq!(failure(&s, "x-1").unwrap().summary, None);
    }
}
