//! A job function whose handler panics: the test-only switch behind `tests/faults/panic.py`,
//! which builds it with the deployed release profile and proves the runner still answers the
//! job. No deployed function contains it; it is built the way they are, from the same runner.

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use shared::codepipeline::{run_job, JobFailure, JobOutcome, JobReporter};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let config = shared::aws::load_config();
    let reporter = JobReporter::new(shared::aws_client!(aws_sdk_codepipeline, &config));
    let reporter = &reporter;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        shared::deadline::invocation(event, |event| run_job(reporter, event, |_job, _fallback| async { deliberate() }))
    }))
    .await
}

fn deliberate() -> Result<JobOutcome, JobFailure> {
    panic!("deliberate panic behind the test-only switch")
}
