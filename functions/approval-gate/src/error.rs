//! Why the gate could not decide, in words a person can act on.

use shared::aws::AwsCallError;
use shared::codepipeline::pipeline_state::ApprovalNotListed;
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
    #[error(transparent)]
    ApprovalNotListed(#[from] ApprovalNotListed),
    #[error("the continuation token is not one approval-gate wrote ({0}); re-run the action")]
    Token(String),
}

impl From<GateError> for JobFailure {
    fn from(err: GateError) -> Self {
        match err {
            GateError::Aws(aws) => JobFailure::from(aws),
            GateError::Settings(_) | GateError::Parameters(_) => JobFailure::new(FailureKind::ConfigurationError, err.to_string()),
            GateError::Event(_) | GateError::ApprovalNotListed(_) | GateError::Token(_) => JobFailure::job_failed(err.to_string()),
        }
    }
}
