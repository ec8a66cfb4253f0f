//! Helpers for the functions' tests: fast SDK retries and log capture. Not used at run time.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_types::retry::RetryConfig;

use crate::codepipeline::pipeline_state::{ActionState, PipelineState, StageState};
use crate::telemetry::{self, LogSettings};

/// The SDK's standard retry mode (the one functions run with) with millisecond backoff, so
/// tests exercise real retries without waiting.
pub fn fast_retries() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(3).with_initial_backoff(Duration::from_millis(1)).with_max_backoff(Duration::from_millis(5))
}

/// A Lambda invocation of `payload` with `remaining` before its deadline, as the runtime
/// would hand it to a function.
pub fn invocation(payload: serde_json::Value, remaining: Duration) -> lambda_runtime::LambdaEvent<serde_json::Value> {
    let mut context = lambda_runtime::Context::default();
    let deadline = std::time::SystemTime::now() + remaining;
    context.deadline = deadline.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    lambda_runtime::LambdaEvent::new(payload, context)
}

/// Everything the function logged while a capture was active, at TRACE, in JSON.
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// Installs a TRACE-level JSON subscriber for the current thread; keep the guard alive.
    pub fn start() -> (Self, tracing::subscriber::DefaultGuard) {
        let capture = LogCapture::default();
        let sink = capture.clone();
        let settings = LogSettings { json: true, filter: "trace".into() };
        let guard = tracing::subscriber::set_default(telemetry::subscriber(&settings, move || sink.clone()));
        (capture, guard)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }
}

impl Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The release pipeline's state for tests: Staging succeeded in `execution`, and the QA
/// approval of that execution is in `status` with `token`, rejected earlier by qa-anna's words.
pub fn release_pipeline_state(execution: &str, status: &str, token: Option<&str>) -> PipelineState {
    PipelineState {
        stages: vec![
            StageState {
                name: "Staging".into(),
                execution_id: Some(execution.into()),
                status: Some("Succeeded".into()),
                actions: vec![ActionState { name: "Refresh".into(), status: Some("Succeeded".into()), ..Default::default() }],
            },
            StageState {
                name: "Approval".into(),
                execution_id: Some(execution.into()),
                status: Some(status.into()),
                actions: vec![ActionState {
                    name: "QA".into(),
                    status: Some(status.into()),
                    token: token.map(str::to_owned),
                    summary: Some("staging looks wrong".into()),
                    updated_by: Some("arn:aws:iam::123456789012:user/qa-anna".into()),
                    error_message: None,
                }],
            },
        ],
    }
}

/// An environment of `pairs` only, as a lookup for code that reads settings through one.
pub fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
}
