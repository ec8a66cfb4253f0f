//! The failed stage and action of an execution, read out of CodePipeline's state.

use shared::codepipeline::pipeline_state::PipelineState;

use crate::notice::Failure;

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

/// Whether the execution failed at the QA approval itself (rejected or expired): QA hears of
/// that from the approval-rejected notice, so a second "deployment failed" would only repeat it.
pub fn is_the_qa_approval(failure: Option<&Failure>, approval_stage: &str, approval_action: &str) -> bool {
    failure.is_some_and(|f| f.stage == approval_stage && f.action.as_deref().is_none_or(|a| a == approval_action))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::testing::release_pipeline_state as state;

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

    #[test]
    fn a_failure_at_the_qa_approval_is_told_by_the_rejection_notice_and_no_other_is() {
        let at = |stage: &str, action: Option<&str>| Failure { stage: stage.into(), action: action.map(Into::into), summary: None };
        assert!(is_the_qa_approval(Some(&at("Approval", Some("QA"))), "Approval", "QA"));
        assert!(is_the_qa_approval(Some(&at("Approval", None)), "Approval", "QA"), "the stage failed without a failed action listed");
        assert!(!is_the_qa_approval(Some(&at("Approval", Some("Sign-off"))), "Approval", "QA"), "another approval of that stage");
        assert!(!is_the_qa_approval(Some(&at("Staging", Some("QA"))), "Approval", "QA"));
        assert!(!is_the_qa_approval(None, "Approval", "QA"), "a failure nobody can place is still told");
    }
}
