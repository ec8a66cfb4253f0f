//! Log lines of a job carry its ids and never its credentials. Alone in its test binary: log
//! capture is per thread, while tracing caches callsite interest process-wide.

use aws_sdk_codepipeline::operation::put_job_failure_result::PutJobFailureResultOutput;
use aws_sdk_codepipeline::Client;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use serde_json::Value;

mod common;
use common::{event, JOB};
use shared::codepipeline::{run_job, FailureKind, JobFailure, JobReporter};
use shared::testing::{fast_retries, LogCapture};

#[tokio::test]
async fn logs_carry_the_job_and_execution_ids_and_never_the_artifact_credentials() {
    let (logs, _guard) = LogCapture::start();
    let put = mock!(Client::put_job_failure_result).then_output(|| PutJobFailureResultOutput::builder().build());
    let reporter = JobReporter::new(mock_client!(aws_sdk_codepipeline, RuleMode::Sequential, &[&put], |c| c.retry_config(fast_retries())));
    run_job(&reporter, shared::testing::invocation(event(), std::time::Duration::from_secs(60)), |_, _| async {
        tracing::info!("working");
        Err::<shared::codepipeline::JobOutcome, _>(JobFailure::new(FailureKind::JobFailed, "x"))
    })
    .await
    .unwrap();
    let text = logs.text();
    let working: Value =
        text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).find(|l| l["message"] == "working").expect("handler line");
    assert_eq!(working["span"]["job_id"], JOB);
    assert_eq!(working["span"]["pipeline_execution_id"], "exec-42");
    assert!(!text.contains("CANARY"), "secret leaked into logs");
}
