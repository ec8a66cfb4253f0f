//! Why a notification could not be sent, in words a person can act on.

use shared::aws::AwsCallError;
use shared::codepipeline::pipeline_state::ApprovalNotListed;
use shared::codepipeline::state_change::PipelineEventError;
use shared::codepipeline::{FailureKind, JobFailure};
use shared::parameters::ParameterError;

use crate::settings::SettingsError;

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("qa-notify is misconfigured: {0}")]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Event(#[from] PipelineEventError),
    #[error(transparent)]
    Parameters(#[from] ParameterError),
    #[error("SNS topic {topic} does not exist (sns:Publish answered NotFound): create it, or point QA_NOTIFY_TOPIC_ARN at the right one")]
    TopicMissing { topic: String },
    #[error("{0}")]
    Aws(#[from] AwsCallError),
    #[error(transparent)]
    ApprovalNotListed(#[from] ApprovalNotListed),
    #[error(
        "another invocation is sending notice {key} and had not finished within this one's time: Lambda retries this delivery, \
         which then finds it sent (or sends it, if that invocation failed)"
    )]
    InFlight { key: String },
}

impl From<NotifyError> for JobFailure {
    fn from(err: NotifyError) -> Self {
        match err {
            NotifyError::Aws(aws) => JobFailure::from(aws),
            NotifyError::Settings(_) | NotifyError::Parameters(_) | NotifyError::TopicMissing { .. } => {
                JobFailure::new(FailureKind::ConfigurationError, err.to_string())
            }
            NotifyError::Event(_) | NotifyError::ApprovalNotListed(_) | NotifyError::InFlight { .. } => {
                JobFailure::job_failed(err.to_string())
            }
        }
    }
}
