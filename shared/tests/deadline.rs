//! A call to AWS that gets no answer ends within the time its invocation's scope leaves it:
//! the interceptor every client carries (`shared::aws_client!`) sets the SDK's timeouts.

use std::time::{Duration, SystemTime};

use aws_smithy_runtime_api::client::result::SdkError;
use shared::deadline::calls_end_before;

/// A client built by `aws_client!` whose endpoint accepts connections and never answers.
async fn client_of_a_silent_endpoint() -> aws_sdk_codepipeline::Client {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(shared::aws::http_client())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_codepipeline::config::Credentials::new("AKID", "secret", None, None, "test"))
        .load()
        .await;
    shared::aws_client!(aws_sdk_codepipeline, &config)
}

#[tokio::test]
async fn a_call_that_gets_no_answer_ends_with_the_time_its_scope_leaves_it() {
    let client = client_of_a_silent_endpoint().await;
    let deadline = SystemTime::now() + Duration::from_secs(2);
    let call = calls_end_before(Some(deadline), Duration::from_millis(500), client.get_pipeline().name("release").send());
    // Without the interceptor the SDK would wait for ever (no read timeout by default).
    let ended = tokio::time::timeout(Duration::from_secs(10), call).await.expect("the call ended within its scope's time");
    let err = ended.expect_err("nobody answered");
    assert!(matches!(err, SdkError::TimeoutError(_)), "{err:?}");
}
