//! Invariant 1 at the shared layer: every job the runner sees gets exactly one answer.

use aws_sdk_codepipeline::operation::put_job_failure_result::PutJobFailureResultOutput;
use aws_sdk_codepipeline::operation::put_job_success_result::PutJobSuccessResultOutput;
use aws_sdk_codepipeline::types::FailureType;
use aws_sdk_codepipeline::Client;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use serde_json::json;

mod common;
use common::{event, JOB};
use shared::codepipeline::{run_job, JobFailure, JobOutcome, JobReporter, OutputVariables};
use shared::testing::fast_retries;

fn reporter(rules: &[&Rule]) -> JobReporter {
    JobReporter::new(mock_client!(aws_sdk_codepipeline, RuleMode::Sequential, rules, |c| c.retry_config(fast_retries())))
}

fn failure_expected(kind: FailureType, needle: &'static str) -> Rule {
    mock!(Client::put_job_failure_result)
        .match_requests(move |r| {
            let d = r.failure_details().expect("details");
            r.job_id() == Some(JOB) && d.r#type() == &kind && d.message().contains(needle)
        })
        .then_output(|| PutJobFailureResultOutput::builder().build())
}

#[tokio::test]
async fn a_success_is_reported_with_its_output_variables() {
    let put = mock!(Client::put_job_success_result)
        .match_requests(|r| {
            r.job_id() == Some(JOB)
                && r.continuation_token().is_none()
                && r.output_variables().and_then(|v| v.get("RefreshId")).map(String::as_str) == Some("r-1")
        })
        .then_output(|| PutJobSuccessResultOutput::builder().build());
    let vars = OutputVariables::from([("RefreshId".to_owned(), "r-1".to_owned())]);
    run_job(&reporter(&[&put]), event(), |_| async move {
        Ok(JobOutcome::Succeeded { summary: "done".into(), output_variables: vars })
    })
    .await
    .unwrap();
    assert_eq!(put.num_calls(), 1);
}

#[tokio::test]
async fn in_progress_sends_the_continuation_token_and_percent() {
    let put = mock!(Client::put_job_success_result)
        .match_requests(|r| {
            r.continuation_token() == Some("tok")
                && r.execution_details().and_then(|d| d.percent_complete()) == Some(40)
                && r.output_variables().is_none()
        })
        .then_output(|| PutJobSuccessResultOutput::builder().build());
    run_job(&reporter(&[&put]), event(), |_| async {
        Ok(JobOutcome::InProgress { summary: "s".into(), continuation_token: "tok".into(), percent_complete: 40 })
    })
    .await
    .unwrap();
    assert_eq!(put.num_calls(), 1);
}

#[tokio::test]
async fn a_handler_failure_fails_the_job_with_its_type_and_message() {
    let put = failure_expected(FailureType::ConfigurationError, "field `stage`");
    run_job(&reporter(&[&put]), event(), |_| async {
        Err(JobFailure::configuration("UserParameters field `stage`: missing"))
    })
    .await
    .unwrap();
    assert_eq!(put.num_calls(), 1);
}

#[tokio::test]
async fn a_panic_in_the_handler_still_fails_the_job() {
    let put = failure_expected(FailureType::JobFailed, "internal error in the function (boom at step 3)");
    let result = run_job(&reporter(&[&put]), event(), |_| async {
        if true {
            panic!("boom at step {}", 3);
        }
        Ok(JobOutcome::Failed(JobFailure::job_failed("unreachable")))
    })
    .await;
    assert!(result.is_ok());
    assert_eq!(put.num_calls(), 1);
}

#[tokio::test]
async fn a_malformed_job_is_failed_naming_the_bad_field() {
    let put = failure_expected(FailureType::JobFailed, "inputArtifacts[0]");
    let bad = json!({"CodePipeline.job": {"id": JOB, "data": {"inputArtifacts": [{"name": ["x"]}]}}});
    run_job(&reporter(&[&put]), bad, |_| async { unreachable!("handler must not run") as Result<JobOutcome, JobFailure> })
        .await
        .unwrap();
    assert_eq!(put.num_calls(), 1);
}

#[tokio::test]
async fn an_event_without_a_job_id_is_a_lambda_error_because_nobody_can_be_answered() {
    let err = run_job(&reporter(&[]), json!({"hello": "world"}), |_| async {
        unreachable!() as Result<JobOutcome, JobFailure>
    })
    .await
    .unwrap_err();
    assert!(err.to_string().contains("not a CodePipeline job"), "{err}");
}

#[tokio::test]
async fn an_overlong_continuation_token_becomes_a_failure_not_a_rejected_call() {
    let put = failure_expected(FailureType::JobFailed, "continuation token of 2049 characters");
    run_job(&reporter(&[&put]), event(), |_| async {
        Ok(JobOutcome::InProgress { summary: "s".into(), continuation_token: "x".repeat(2049), percent_complete: 1 })
    })
    .await
    .unwrap();
    assert_eq!(put.num_calls(), 1);
}

fn throttled() -> aws_smithy_runtime_api::http::Response {
    aws_smithy_runtime_api::http::Response::new(
        StatusCode::try_from(400).unwrap(),
        SdkBody::from(r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#),
    )
}

#[tokio::test]
async fn throttling_while_reporting_is_retried_by_the_sdk() {
    let put = mock!(Client::put_job_failure_result)
        .sequence()
        .http_response(throttled)
        .times(2)
        .output(|| PutJobFailureResultOutput::builder().build())
        .build();
    run_job(&reporter(&[&put]), event(), |_| async { Err(JobFailure::job_failed("x")) }).await.unwrap();
    assert_eq!(put.num_calls(), 3);
}

#[tokio::test]
async fn persistent_throttling_while_reporting_is_a_lambda_error_so_lambda_retries_the_invocation() {
    let put = mock!(Client::put_job_failure_result).sequence().http_response(throttled).times(3).build();
    let err = run_job(&reporter(&[&put]), event(), |_| async { Err(JobFailure::job_failed("x")) })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ThrottlingException: Rate exceeded"), "{err}");
    assert_eq!(put.num_calls(), 3);
}
