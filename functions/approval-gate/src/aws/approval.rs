//! codepipeline:PutApprovalResult, where "already answered" and "expired" are outcomes, not errors.

use aws_sdk_codepipeline::types::{ApprovalResult, ApprovalStatus};
use shared::aws::AwsCallError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answered {
    /// Our answer was recorded.
    Recorded,
    /// Someone (QA, or a duplicate delivery of this event) answered first:
    /// ApprovalAlreadyCompletedException.
    AlreadyAnswered,
    /// The token expired or a newer execution superseded it: InvalidApprovalTokenException.
    NoLongerWaiting,
}

pub struct Approval<'a> {
    pub pipeline: &'a str,
    pub stage: &'a str,
    pub action: &'a str,
    pub token: &'a str,
}

pub async fn answer(
    client: &aws_sdk_codepipeline::Client,
    a: &Approval<'_>,
    approve: bool,
    summary: &str,
) -> Result<Answered, AwsCallError> {
    let status = if approve { ApprovalStatus::Approved } else { ApprovalStatus::Rejected };
    let result = ApprovalResult::builder().status(status).summary(summary).build().map_err(|e| AwsCallError {
        operation: "codepipeline:PutApprovalResult",
        code: None,
        detail: e.to_string(),
    })?;
    let sent = client
        .put_approval_result()
        .pipeline_name(a.pipeline)
        .stage_name(a.stage)
        .action_name(a.action)
        .token(a.token)
        .result(result)
        .send()
        .await;
    match sent {
        Ok(_) => Ok(Answered::Recorded),
        Err(err) => {
            let err = AwsCallError::from_sdk("codepipeline:PutApprovalResult", err);
            if err.is("ApprovalAlreadyCompletedException") {
                Ok(Answered::AlreadyAnswered)
            } else if err.is("InvalidApprovalTokenException") {
                Ok(Answered::NoLongerWaiting)
            } else {
                Err(err)
            }
        }
    }
}
