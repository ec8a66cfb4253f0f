//! Where a pipeline stands (`GetPipelineState`), reduced to what the functions read, and the
//! one rule for finding a manual approval's token: only for the execution that asked.

use aws_sdk_codepipeline::Client;

use crate::aws::AwsCallError;

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

/// An approval the event announced but `GetPipelineState` does not list yet: CodePipeline's
/// state can trail its events by a moment, and failing the invocation lets EventBridge deliver
/// the event again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the approval {stage}/{action} of pipeline {pipeline} execution {execution_id} has no token in GetPipelineState yet; \
     the invocation fails so that EventBridge delivers the event again"
)]
pub struct ApprovalNotListed {
    pub pipeline: String,
    pub stage: String,
    pub action: String,
    pub execution_id: String,
}

impl ApprovalNotListed {
    pub fn new(pipeline: &str, stage: &str, action: &str, execution_id: &str) -> Self {
        ApprovalNotListed { pipeline: pipeline.into(), stage: stage.into(), action: action.into(), execution_id: execution_id.into() }
    }
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

/// `GetPipelineState` of `pipeline`.
pub async fn read(client: &Client, pipeline: &str) -> Result<PipelineState, AwsCallError> {
    let out =
        client.get_pipeline_state().name(pipeline).send().await.map_err(|e| AwsCallError::from_sdk("codepipeline:GetPipelineState", e))?;
    let stages = out
        .stage_states()
        .iter()
        .map(|s| StageState {
            name: s.stage_name().unwrap_or_default().to_owned(),
            execution_id: s.latest_execution().map(|e| e.pipeline_execution_id().to_owned()),
            status: s.latest_execution().map(|e| e.status().as_str().to_owned()),
            actions: s
                .action_states()
                .iter()
                .map(|a| {
                    let latest = a.latest_execution();
                    ActionState {
                        name: a.action_name().unwrap_or_default().to_owned(),
                        status: latest.and_then(|l| l.status()).map(|st| st.as_str().to_owned()),
                        token: latest.and_then(|l| l.token()).map(str::to_owned),
                        summary: latest.and_then(|l| l.summary()).map(str::to_owned),
                        updated_by: latest.and_then(|l| l.last_updated_by()).map(str::to_owned),
                        error_message: latest.and_then(|l| l.error_details()).and_then(|d| d.message()).map(str::to_owned),
                    }
                })
                .collect(),
        })
        .collect();
    Ok(PipelineState { stages })
}

/// An execution's source revision: for Git sources the commit id, and for CodeConnections a
/// JSON `summary` with the commit message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Revision {
    pub id: Option<String>,
    pub summary: Option<String>,
    pub url: Option<String>,
}

/// The revision an execution carries: its first artifact revision.
pub async fn execution_revision(client: &Client, pipeline: &str, execution_id: &str) -> Result<Option<Revision>, AwsCallError> {
    let out = client
        .get_pipeline_execution()
        .pipeline_name(pipeline)
        .pipeline_execution_id(execution_id)
        .send()
        .await
        .map_err(|e| AwsCallError::from_sdk("codepipeline:GetPipelineExecution", e))?;
    Ok(out.pipeline_execution().and_then(|e| e.artifact_revisions().first()).map(|r| Revision {
        id: r.revision_id().map(str::to_owned),
        summary: r.revision_summary().map(str::to_owned),
        url: r.revision_url().map(str::to_owned),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::release_pipeline_state as state;

    #[test]
    fn an_approval_not_listed_yet_says_why_the_invocation_fails() {
        let err = ApprovalNotListed::new("release", "Approval", "QA", "x-1").to_string();
        assert_eq!(
            err,
            "the approval Approval/QA of pipeline release execution x-1 has no token in GetPipelineState yet; \
             the invocation fails so that EventBridge delivers the event again"
        );
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
}
