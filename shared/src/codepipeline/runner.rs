//! Runs one CodePipeline job from raw event to reported outcome.
//!
//! This is where invariant 1 lives: whatever the handler does (returns a failure, hits an
//! AWS error, panics, or runs out of time), the job gets exactly one answer. A Lambda error
//! return is not an answer: CodePipeline invokes asynchronously and would wait for its own
//! timeout.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use lambda_runtime::LambdaEvent;
use serde_json::Value;
use tracing::{error, field, info, info_span, warn, Instrument};

use super::{CodePipelineJob, JobEventError, JobFailure, JobOutcome, JobReporter};
use crate::deadline::{self, time_before};

/// Time kept free at the end of an invocation to report the outcome (one PutJob* call,
/// with the SDK's retries).
pub const ANSWER_MARGIN: Duration = Duration::from_secs(5);

/// The handler's AWS calls end this long before the runner stops waiting for it, so a call that
/// hangs fails with its own name and cause, and the handler has time to say so.
const HANDLER_SLACK: Duration = Duration::from_secs(1);

/// The answer's own call ends this long before the invocation does.
const REPORT_KEEP: Duration = Duration::from_millis(500);

/// What a handler decided, and best-effort work to do once CodePipeline has been told.
pub struct Answer<'a> {
    pub outcome: JobOutcome,
    /// Runs after the answer is sent, within what is left of the invocation; its failure
    /// or panic is logged and never changes the job's outcome.
    pub after_answer: Option<BoxFuture<'a, ()>>,
}

impl From<JobOutcome> for Answer<'_> {
    fn from(outcome: JobOutcome) -> Self {
        Answer { outcome, after_answer: None }
    }
}

/// The answer to give if the invocation's time runs out before the handler decides. A
/// handler sets it as soon as the job has a state worth keeping (a refresh started: "in
/// progress" with its token); until then, running out of time fails the job.
#[derive(Clone, Default, Debug)]
pub struct Fallback(Arc<Mutex<Option<JobOutcome>>>);

impl Fallback {
    pub fn set(&self, outcome: JobOutcome) {
        *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(outcome);
    }

    /// What would be answered now if time ran out.
    pub fn current(&self) -> Option<JobOutcome> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    fn take(&self) -> Option<JobOutcome> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take()
    }
}

/// Parses the event, runs `handle` on the job inside a span carrying the job id (and the
/// pipeline execution id when the parameters pass it), races it against the invocation's
/// deadline, reports the outcome, then runs the handler's after-answer work.
///
/// Returns an error only when nobody can be told: the event has no job id, or CodePipeline
/// could not be reached even after the SDK's retries. Lambda then records a failed
/// asynchronous invocation and retries it, which our idempotent handlers tolerate.
pub async fn run_job<'a, F, Fut, A>(reporter: &JobReporter, event: LambdaEvent<Value>, handle: F) -> Result<(), lambda_runtime::Error>
where
    F: FnOnce(CodePipelineJob, Fallback) -> Fut,
    Fut: Future<Output = Result<A, JobFailure>> + 'a,
    A: Into<Answer<'a>>,
{
    let deadline = deadline::of(&event.context);
    let job = match CodePipelineJob::from_event(&event.payload) {
        Ok(job) => job,
        Err(err @ JobEventError::NotAJob(_)) => {
            error!(error = %err, "event rejected");
            return Err(err.into());
        }
        Err(err) => {
            let job_id = err.job_id().unwrap_or_default().to_owned();
            let span = info_span!("job", job_id = %job_id);
            let failure = JobFailure::job_failed(err.to_string());
            return report(reporter, &job_id, failure.into(), deadline).instrument(span).await;
        }
    };
    drop(event);

    let span = info_span!("job", job_id = %job.id, pipeline_execution_id = field::Empty);
    if let Some(execution) = job.pipeline_execution_id() {
        span.record("pipeline_execution_id", execution.as_str());
    }
    let job_id = job.id.clone();
    async move {
        let fallback = Fallback::default();
        let decided = decide(handle, job, fallback.clone(), deadline).await;
        let (outcome, after_answer) = match decided {
            Decided::Answer(answer) => (answer.outcome, answer.after_answer),
            Decided::Failed(failure) => (failure.into(), None),
            Decided::OutOfTime { had } => {
                let outcome = fallback.take().unwrap_or_else(|| out_of_time(had).into());
                warn!(
                    had_ms = had.as_millis() as u64,
                    "the invocation's time ran out before the handler decided; answering with its fallback"
                );
                (outcome, None)
            }
        };
        report(reporter, &job_id, outcome, deadline).await?;
        if let Some(work) = after_answer {
            run_after_answer(work, deadline).await;
        }
        Ok(())
    }
    .instrument(span)
    .await
}

enum Decided<'a> {
    Answer(Answer<'a>),
    Failed(JobFailure),
    /// `had`: the time the handler was given.
    OutOfTime {
        had: Duration,
    },
}

async fn decide<'a, F, Fut, A>(handle: F, job: CodePipelineJob, fallback: Fallback, deadline: Option<SystemTime>) -> Decided<'a>
where
    F: FnOnce(CodePipelineJob, Fallback) -> Fut,
    Fut: Future<Output = Result<A, JobFailure>> + 'a,
    A: Into<Answer<'a>>,
{
    // The call itself may panic before it returns a future; so may the future.
    let future = match std::panic::catch_unwind(AssertUnwindSafe(|| handle(job, fallback))) {
        Ok(future) => future,
        Err(panic) => return Decided::Failed(panicked(panic.as_ref())),
    };
    let guarded = deadline::calls_end_before(deadline, ANSWER_MARGIN + HANDLER_SLACK, AssertUnwindSafe(future).catch_unwind());
    let finished = match deadline.map(|d| time_before(d, ANSWER_MARGIN)) {
        None => guarded.await,
        Some(had) => match tokio::time::timeout(had, guarded).await {
            Ok(finished) => finished,
            Err(_) => return Decided::OutOfTime { had },
        },
    };
    match finished {
        Ok(Ok(answer)) => Decided::Answer(answer.into()),
        Ok(Err(failure)) => Decided::Failed(failure),
        Err(panic) => Decided::Failed(panicked(panic.as_ref())),
    }
}

/// Best effort: bounded by the invocation's deadline, panics caught, never an error.
async fn run_after_answer(work: BoxFuture<'_, ()>, deadline: Option<SystemTime>) {
    let guarded = deadline::calls_end_before(deadline, deadline::INVOCATION_KEEP, AssertUnwindSafe(work).catch_unwind());
    let finished = match deadline.map(|d| time_before(d, deadline::INVOCATION_KEEP)) {
        None => guarded.await,
        Some(left) => match tokio::time::timeout(left, guarded).await {
            Ok(finished) => finished,
            Err(_) => {
                warn!("work after the answer was cut short by the invocation's deadline; it is best effort");
                return;
            }
        },
    };
    if let Err(panic) = finished {
        error!(panic = %panic_message(panic.as_ref()), "work after the answer panicked; the job's answer stands");
    }
}

fn out_of_time(had: Duration) -> JobFailure {
    JobFailure::job_failed(format!(
        "the function ran out of time before it could decide ({:.1} s were left for the work, {} s are kept to answer). \
         Raise the function's timeout (60 s or more), then retry the action; work already started is picked up again",
        had.as_secs_f64(),
        ANSWER_MARGIN.as_secs()
    ))
}

fn panicked(panic: &(dyn Any + Send)) -> JobFailure {
    let what = panic_message(panic);
    error!(panic = %what, "handler panicked");
    JobFailure::job_failed(format!(
        "internal error in the function ({what}); the job was failed rather than left waiting. Retry the action; if it repeats, report it with the function's logs"
    ))
}

async fn report(
    reporter: &JobReporter,
    job_id: &str,
    outcome: JobOutcome,
    deadline: Option<SystemTime>,
) -> Result<(), lambda_runtime::Error> {
    match deadline::calls_end_before(deadline, REPORT_KEEP, reporter.report(job_id, outcome)).await {
        Ok(reported) => {
            info!(?reported, "job answered");
            Ok(())
        }
        Err(err) => {
            error!(error = %err, "job left unanswered");
            Err(err.into())
        }
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic without a message".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fallback_holds_the_last_answer_set() {
        let fallback = Fallback::default();
        assert_eq!(fallback.current(), None);
        let answer = JobOutcome::InProgress { summary: "s".into(), continuation_token: "t".into(), percent_complete: 0 };
        fallback.clone().set(answer.clone());
        assert_eq!(fallback.current(), Some(answer.clone()));
        assert_eq!(fallback.take(), Some(answer));
        assert_eq!(fallback.current(), None);
    }
}
