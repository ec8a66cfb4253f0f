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
use shared::codepipeline::{run_job, Answer, JobFailure, JobOutcome, JobReporter, OutputVariables};
use shared::testing::{fast_retries, invocation};
use std::time::Duration;

const MINUTE: Duration = Duration::from_secs(60);

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
    run_job(&reporter(&[&put]), invocation(event(), MINUTE), |_, _| async move {
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
    run_job(&reporter(&[&put]), invocation(event(), MINUTE), |_, _| async {
        Ok(JobOutcome::InProgress { summary: "s".into(), continuation_token: "tok".into(), percent_complete: 40 })
    })
    .await
    .unwrap();
    assert_eq!(put.num_calls(), 1);
}

#[tokio::test]
async fn a_handler_failure_fails_the_job_with_its_type_and_message() {
    let put = failure_expected(FailureType::ConfigurationError, "field `stage`");
    run_job(&reporter(&[&put]), invocation(event(), MINUTE), |_, _| async {
        Err::<JobOutcome, _>(JobFailure::configuration("UserParameters field `stage`: missing"))
    })
    .await
    .unwrap();
    assert_eq!(put.num_calls(), 1);
}

#[tokio::test]
async fn a_panic_in_the_handler_still_fails_the_job() {
    let put = failure_expected(FailureType::JobFailed, "internal error in the function (boom at step 3)");
    let result = run_job(&reporter(&[&put]), invocation(event(), MINUTE), |_, _| async {
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
    run_job(&reporter(&[&put]), invocation(bad, MINUTE), |_, _| async {
        unreachable!("handler must not run") as Result<JobOutcome, JobFailure>
    })
    .await
    .unwrap();
    assert_eq!(put.num_calls(), 1);
}

#[tokio::test]
async fn an_event_without_a_job_id_is_a_lambda_error_because_nobody_can_be_answered() {
    let err = run_job(&reporter(&[]), invocation(json!({"hello": "world"}), MINUTE), |_, _| async {
        unreachable!() as Result<JobOutcome, JobFailure>
    })
    .await
    .unwrap_err();
    assert!(err.to_string().contains("not a CodePipeline job"), "{err}");
}

#[tokio::test]
async fn a_continuation_token_of_exactly_codepipelines_limit_is_sent() {
    let put = mock!(Client::put_job_success_result)
        .match_requests(|r| r.continuation_token().map(str::len) == Some(2048))
        .then_output(|| PutJobSuccessResultOutput::builder().build());
    run_job(&reporter(&[&put]), invocation(event(), MINUTE), |_, _| async {
        Ok(JobOutcome::InProgress { summary: "s".into(), continuation_token: "x".repeat(2048), percent_complete: 1 })
    })
    .await
    .unwrap();
    assert_eq!(put.num_calls(), 1);
}

#[tokio::test]
async fn a_handler_that_takes_a_while_within_the_deadline_is_answered_with_its_own_outcome() {
    let put = failure_expected(FailureType::ConfigurationError, "its own answer");
    run_job(&reporter(&[&put]), invocation(event(), MINUTE), |_, _| async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Err::<JobOutcome, _>(JobFailure::configuration("its own answer"))
    })
    .await
    .unwrap();
    assert_eq!(put.num_calls(), 1);
}

#[tokio::test]
async fn an_overlong_continuation_token_becomes_a_failure_not_a_rejected_call() {
    let put = failure_expected(FailureType::JobFailed, "continuation token of 2049 characters");
    run_job(&reporter(&[&put]), invocation(event(), MINUTE), |_, _| async {
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
    run_job(&reporter(&[&put]), invocation(event(), MINUTE), |_, _| async { Err::<JobOutcome, _>(JobFailure::job_failed("x")) })
        .await
        .unwrap();
    assert_eq!(put.num_calls(), 3);
}

#[tokio::test]
async fn persistent_throttling_while_reporting_is_a_lambda_error_so_lambda_retries_the_invocation() {
    let put = mock!(Client::put_job_failure_result).sequence().http_response(throttled).times(3).build();
    let err = run_job(&reporter(&[&put]), invocation(event(), MINUTE), |_, _| async { Err::<JobOutcome, _>(JobFailure::job_failed("x")) })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ThrottlingException: Rate exceeded"), "{err}");
    assert_eq!(put.num_calls(), 3);
}

fn codepipeline_error(code: &'static str, message: &'static str) -> impl Fn() -> aws_smithy_runtime_api::http::Response + Send + Sync {
    move || {
        aws_smithy_runtime_api::http::Response::new(
            StatusCode::try_from(400).unwrap(),
            SdkBody::from(format!(r#"{{"__type":"{code}","message":"{message}"}}"#)),
        )
    }
}

#[tokio::test]
async fn a_job_answered_already_is_done_not_a_lambda_error_to_retry() {
    // Finding 10: a duplicate delivery, or a retried invocation after the answer went out.
    for (code, message) in [
        ("InvalidJobStateException", "The job is in an invalid state: Succeeded"),
        ("JobNotFoundException", "The job was specified in an invalid format or cannot be found."),
    ] {
        let put = mock!(Client::put_job_success_result).then_http_response(codepipeline_error(code, message));
        let result = run_job(&reporter(&[&put]), invocation(event(), MINUTE), |_, _| async {
            Ok(JobOutcome::Succeeded { summary: "done".into(), output_variables: OutputVariables::new() })
        })
        .await;
        assert!(result.is_ok(), "{code}: {result:?}");
        assert_eq!(put.num_calls(), 1, "{code}: not retried");
    }
}

#[tokio::test]
async fn a_handler_that_panics_before_returning_its_future_still_fails_the_job() {
    // Finding 11: the panic happens in the call, not in the future it would have returned.
    let put = failure_expected(FailureType::JobFailed, "internal error in the function (panicked while building)");
    let result = run_job(&reporter(&[&put]), invocation(event(), MINUTE), |_, _| {
        if true {
            panic!("panicked while building");
        }
        async { Ok(JobOutcome::Failed(JobFailure::job_failed("unreachable"))) }
    })
    .await;
    assert!(result.is_ok());
    assert_eq!(put.num_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_handler_that_outlives_the_invocation_answers_with_its_fallback() {
    let put = mock!(Client::put_job_success_result)
        .match_requests(|r| r.continuation_token() == Some("started-token"))
        .then_output(|| PutJobSuccessResultOutput::builder().build());
    run_job(&reporter(&[&put]), invocation(event(), Duration::from_secs(30)), |_, fallback| async move {
        fallback.set(JobOutcome::InProgress { summary: "started".into(), continuation_token: "started-token".into(), percent_complete: 0 });
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok(JobOutcome::Failed(JobFailure::job_failed("never reached")))
    })
    .await
    .unwrap();
    assert_eq!(put.num_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_handler_that_outlives_the_invocation_without_a_fallback_fails_the_job_saying_to_raise_the_timeout() {
    let put = failure_expected(FailureType::JobFailed, "Raise the function's timeout");
    run_job(&reporter(&[&put]), invocation(event(), Duration::from_secs(30)), |_, _| async move {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok(JobOutcome::Failed(JobFailure::job_failed("never reached")))
    })
    .await
    .unwrap();
    assert_eq!(put.num_calls(), 1);
}

#[tokio::test]
async fn work_after_the_answer_runs_only_once_the_job_is_answered_and_cannot_change_it() {
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen_after_answer = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (mark, seen) = (answered.clone(), seen_after_answer.clone());
    let put = mock!(Client::put_job_success_result).then_output(move || {
        mark.store(true, std::sync::atomic::Ordering::SeqCst);
        PutJobSuccessResultOutput::builder().build()
    });
    let result = run_job(&reporter(&[&put]), invocation(event(), MINUTE), |_, _| async move {
        let after: futures_util::future::BoxFuture<'static, ()> = Box::pin(async move {
            seen.store(answered.load(std::sync::atomic::Ordering::SeqCst), std::sync::atomic::Ordering::SeqCst);
            panic!("pruning blew up");
        });
        Ok(Answer {
            outcome: JobOutcome::InProgress { summary: "s".into(), continuation_token: "tok".into(), percent_complete: 0 },
            after_answer: Some(after),
        })
    })
    .await;
    assert!(result.is_ok(), "a panic after the answer is logged, not an invocation error");
    assert!(seen_after_answer.load(std::sync::atomic::Ordering::SeqCst), "the work ran after PutJobSuccessResult");
}
