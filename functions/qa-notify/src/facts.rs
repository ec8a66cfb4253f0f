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
}
