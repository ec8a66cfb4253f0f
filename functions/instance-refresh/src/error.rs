//! Everything that can stop this action, each mapped to a message a person can act on.

use shared::aws::AwsCallError;
use shared::codepipeline::{FailureKind, JobFailure};
use shared::parameters::ParameterError;

use crate::continuation::ContinuationError;
use crate::desired::UnpinnableOverride;
use crate::release::ReleaseError;

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error(transparent)]
    Parameters(#[from] ParameterError),
    #[error(transparent)]
    Release(#[from] ReleaseError),
    #[error(transparent)]
    Continuation(#[from] ContinuationError),
    #[error(transparent)]
    Aws(#[from] AwsCallError),
    #[error(transparent)]
    UnpinnableOverride(#[from] UnpinnableOverride),
    #[error("Auto Scaling group `{0}` was not found in this account and region; check UserParameters `autoScalingGroupName` and the function's region")]
    GroupNotFound(String),
    #[error("Auto Scaling group `{0}` launches from a launch configuration; a release can only be pinned in a launch template. Migrate the group to a launch template")]
    NoLaunchTemplate(String),
    #[error("launch template version {version} used by group `{group}` was not found; fix the group's launch template before deploying")]
    TemplateVersionMissing { group: String, version: String },
    #[error("{0}")]
    RefreshRunning(String),
    #[error("instance refresh {refresh_id} of `{group}` is no longer listed by Auto Scaling (refreshes are kept for a limited time); check the group's activity history and re-run the action")]
    RefreshVanished { group: String, refresh_id: String },
    #[error("the refresh succeeded and the group runs launch template version {version}, but recording it in SSM parameter `{parameter}` failed ({source}); until it is recorded a stack update could point the group back at an older release. Re-run the action (skip matching makes it quick) or run: aws ssm put-parameter --overwrite --type String --name {parameter} --value {version}")]
    ReleaseStateNotRecorded { parameter: String, version: i64, source: AwsCallError },
}

impl From<RefreshError> for JobFailure {
    fn from(err: RefreshError) -> Self {
        match err {
            RefreshError::Aws(aws) => aws.into(),
            RefreshError::Parameters(p) => p.into(),
            RefreshError::Release(_)
            | RefreshError::GroupNotFound(_)
            | RefreshError::NoLaunchTemplate(_)
            | RefreshError::TemplateVersionMissing { .. }
            | RefreshError::UnpinnableOverride(_) => JobFailure::configuration(err.to_string()),
            RefreshError::Continuation(_)
            | RefreshError::RefreshRunning(_)
            | RefreshError::RefreshVanished { .. }
            | RefreshError::ReleaseStateNotRecorded { .. } => JobFailure::new(FailureKind::JobFailed, err.to_string()),
        }
    }
}
