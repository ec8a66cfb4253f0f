//! The one place that tells CodePipeline how a job went.

use aws_sdk_codepipeline::types::{ExecutionDetails, FailureDetails, FailureType};
use aws_sdk_codepipeline::Client;
use tracing::{info, warn};

use super::outcome::{truncate_chars, MAX_FAILURE_MESSAGE_CHARS, MAX_SUMMARY_CHARS};
use super::{FailureKind, JobOutcome, MAX_CONTINUATION_TOKEN_CHARS};
use crate::aws::AwsCallError;

/// How a report ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reported {
    Recorded,
    /// CodePipeline already had an answer for this job, or no longer knows it (a duplicate
    /// delivery, a retried invocation, a job that timed out): nothing is left to answer.
    AlreadyAnswered,
}

/// CodePipeline's answers that mean the job needs no answer from us any more.
const ALREADY_ANSWERED: [&str; 2] = ["InvalidJobStateException", "JobNotFoundException"];

/// Reporting failed even after the SDK's retries: the job is still unanswered.
#[derive(Debug, thiserror::Error)]
#[error("could not report the outcome of CodePipeline job {job_id}: {source}")]
pub struct ReportError {
    pub job_id: String,
    #[source]
    pub source: AwsCallError,
}

#[derive(Clone, Debug)]
pub struct JobReporter {
    client: Client,
}

impl JobReporter {
    pub fn new(client: Client) -> Self {
        JobReporter { client }
    }

    /// Sends `outcome` with `PutJobSuccessResult` or `PutJobFailureResult`.
    ///
    /// An in-progress outcome whose token is over CodePipeline's limit is a bug of ours; it
    /// is reported as a failure rather than sent and rejected, so the job still ends.
    pub async fn report(&self, job_id: &str, outcome: JobOutcome) -> Result<Reported, ReportError> {
        let outcome = match outcome {
            JobOutcome::InProgress { continuation_token, .. }
                if continuation_token.is_empty() || continuation_token.chars().count() > MAX_CONTINUATION_TOKEN_CHARS =>
            {
                JobOutcome::Failed(super::JobFailure::job_failed(format!(
                    "internal error: continuation token of {} characters is outside CodePipeline's 1..={MAX_CONTINUATION_TOKEN_CHARS}",
                    continuation_token.chars().count()
                )))
            }
            other => other,
        };
        let result = match outcome {
            JobOutcome::Succeeded { summary, output_variables } => {
                info!(result = "succeeded", %summary, ?output_variables, "reporting job result");
                self.client
                    .put_job_success_result()
                    .job_id(job_id)
                    .execution_details(details(&summary, None))
                    .set_output_variables((!output_variables.is_empty()).then(|| output_variables.into_iter().collect()))
                    .send()
                    .await
                    .map(drop)
                    .map_err(|e| AwsCallError::from_sdk("codepipeline:PutJobSuccessResult", e))
            }
            JobOutcome::InProgress { summary, continuation_token, percent_complete } => {
                info!(result = "in_progress", %summary, percent_complete, "reporting job result");
                self.client
                    .put_job_success_result()
                    .job_id(job_id)
                    .continuation_token(continuation_token)
                    .execution_details(details(&summary, Some(percent_complete)))
                    .send()
                    .await
                    .map(drop)
                    .map_err(|e| AwsCallError::from_sdk("codepipeline:PutJobSuccessResult", e))
            }
            JobOutcome::Failed(failure) => {
                let message = truncate_chars(&failure.message, MAX_FAILURE_MESSAGE_CHARS);
                info!(result = "failed", failure_type = %failure.kind, %message, "reporting job result");
                self.client
                    .put_job_failure_result()
                    .job_id(job_id)
                    .failure_details(
                        FailureDetails::builder()
                            .r#type(failure_type(failure.kind))
                            .message(message)
                            .build()
                            .expect("type and message are set"),
                    )
                    .send()
                    .await
                    .map(drop)
                    .map_err(|e| AwsCallError::from_sdk("codepipeline:PutJobFailureResult", e))
            }
        };
        match result {
            Ok(()) => Ok(Reported::Recorded),
            Err(err) if ALREADY_ANSWERED.iter().any(|code| err.is(code)) => {
                warn!(error = %err, "CodePipeline already has an answer for this job (or no longer knows it); nothing to do");
                Ok(Reported::AlreadyAnswered)
            }
            Err(source) => Err(ReportError { job_id: job_id.to_owned(), source }),
        }
    }
}

fn details(summary: &str, percent_complete: Option<u8>) -> ExecutionDetails {
    ExecutionDetails::builder()
        .summary(truncate_chars(summary, MAX_SUMMARY_CHARS))
        .set_percent_complete(percent_complete.map(|p| i32::from(p.min(100))))
        .build()
}

fn failure_type(kind: FailureKind) -> FailureType {
    match kind {
        FailureKind::JobFailed => FailureType::JobFailed,
        FailureKind::ConfigurationError => FailureType::ConfigurationError,
        FailureKind::PermissionError => FailureType::PermissionError,
        FailureKind::SystemUnavailable => FailureType::SystemUnavailable,
    }
}
