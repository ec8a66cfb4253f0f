//! Runs one CodePipeline job from raw event to reported outcome.
//!
//! This is where invariant 1 lives: whatever the handler does (returns a failure, hits an
//! AWS error, panics), the job gets exactly one answer. A Lambda error return is not an
//! answer: CodePipeline invokes asynchronously and would wait for its own timeout.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use serde_json::Value;
use tracing::{error, field, info_span, Instrument};

use super::{CodePipelineJob, JobEventError, JobFailure, JobOutcome, JobReporter};

/// Parses `event`, runs `handle` on the job inside a span carrying the job id (and the
/// pipeline execution id when the parameters pass it), and reports the outcome.
///
/// Returns an error only when nobody can be told: the event has no job id, or CodePipeline
/// could not be reached even after the SDK's retries. Lambda then records a failed
/// asynchronous invocation and retries it, which our idempotent handlers tolerate.
pub async fn run_job<F, Fut>(reporter: &JobReporter, event: Value, handle: F) -> Result<(), lambda_runtime::Error>
where
    F: FnOnce(CodePipelineJob) -> Fut,
    Fut: Future<Output = Result<JobOutcome, JobFailure>>,
{
    let job = match CodePipelineJob::from_event(&event) {
        Ok(job) => job,
        Err(err @ JobEventError::NotAJob(_)) => {
            error!(error = %err, "event rejected");
            return Err(err.into());
        }
        Err(err) => {
            let job_id = err.job_id().unwrap_or_default().to_owned();
            let span = info_span!("job", job_id = %job_id);
            let failure = JobFailure::job_failed(err.to_string());
            return report(reporter, &job_id, failure.into()).instrument(span).await;
        }
    };
    drop(event);

    let span = info_span!("job", job_id = %job.id, pipeline_execution_id = field::Empty);
    if let Some(execution) = job.pipeline_execution_id() {
        span.record("pipeline_execution_id", execution.as_str());
    }
    let job_id = job.id.clone();
    async move {
        let outcome = match AssertUnwindSafe(handle(job)).catch_unwind().await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(failure)) => failure.into(),
            Err(panic) => {
                let what = panic_message(panic.as_ref());
                error!(panic = %what, "handler panicked");
                JobFailure::job_failed(format!(
                    "internal error in the function ({what}); the job was failed rather than left waiting. Retry the action; if it repeats, report it with the function's logs"
                ))
                .into()
            }
        };
        report(reporter, &job_id, outcome).await
    }
    .instrument(span)
    .await
}

async fn report(reporter: &JobReporter, job_id: &str, outcome: JobOutcome) -> Result<(), lambda_runtime::Error> {
    reporter.report(job_id, outcome).await.map_err(|err| {
        error!(error = %err, "job left unanswered");
        err.into()
    })
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic without a message".to_owned())
}
