//! Why the gate could not decide, in words a person can act on.

use shared::aws::AwsCallError;
use shared::codepipeline::state_change::PipelineEventError;
use shared::codepipeline::{FailureKind, JobFailure};
use shared::parameters::ParameterError;

use crate::settings::SettingsError;

#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error("approval-gate is misconfigured: {0}")]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Event(#[from] PipelineEventError),
    #[error(transparent)]
    Parameters(#[from] ParameterError),
    #[error("{0}")]
    Aws(#[from] AwsCallError),
    /// CodePipeline's state can trail its events by a moment: failing lets EventBridge retry.
    #[error("the approval {stage}/{action} of pipeline {pipeline} execution {execution_id} has no token in GetPipelineState yet; the invocation fails so that EventBridge delivers the event again")]
    ApprovalNotListed { pipeline: String, stage: String, action: String, execution_id: String },
    #[error("the continuation token is not one approval-gate wrote ({0}); re-run the action")]
    Token(String),
}

impl From<GateError> for JobFailure {
    fn from(err: GateError) -> Self {
        match err {
            GateError::Aws(aws) => JobFailure::from(aws),
            GateError::Settings(_) | GateError::Parameters(_) => JobFailure::new(FailureKind::ConfigurationError, err.to_string()),
            GateError::Event(_) | GateError::ApprovalNotListed { .. } | GateError::Token(_) => JobFailure::job_failed(err.to_string()),
        }
    }
}
