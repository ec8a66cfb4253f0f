//! AWS configuration, loaded once at init, and AWS call failures as actionable messages.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::codepipeline::{FailureKind, JobFailure};

/// Loads region, credentials and endpoint from the environment. `AWS_ENDPOINT_URL` (and the
/// per-service `AWS_ENDPOINT_URL_<SERVICE>`) is honoured by the SDK itself, which is how
/// every function runs unchanged against the local emulator.
pub async fn load_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).http_client(http_client()).load().await
}

/// The HTTPS client every SDK client uses: the SDK's own (hyper, rustls, the platform's root
/// certificates) with *ring* as rustls's crypto provider instead of the default aws-lc (its
/// figure: README, "Performance"). The SDK crates are built without their
/// `default-https-client` feature, so this is the only client in a function.
pub fn http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https()
}

/// An AWS call that failed after the SDK's own retries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation} failed: {detail}")]
pub struct AwsCallError {
    /// `service:Operation`, as it appears in IAM policies.
    pub operation: &'static str,
    /// AWS's error code, when the service answered with one.
    pub code: Option<String>,
    pub detail: String,
}

impl AwsCallError {
    pub fn from_sdk<E, R>(operation: &'static str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        match &err {
            SdkError::ServiceError(service) => {
                let e = service.err();
                let code = e.code().map(str::to_owned);
                let message = e.message().unwrap_or("no message");
                let detail = match &code {
                    Some(code) => format!("{code}: {message}"),
                    None => message.to_owned(),
                };
                AwsCallError { operation, code, detail }
            }
            SdkError::TimeoutError(_) => AwsCallError {
                operation,
                code: None,
                detail: format!("AWS did not answer in the time this invocation had left ({})", DisplayErrorContext(&err)),
            },
            SdkError::DispatchFailure(_) => {
                AwsCallError { operation, code: None, detail: format!("AWS could not be reached ({})", DisplayErrorContext(&err)) }
            }
            _ => AwsCallError { operation, code: None, detail: DisplayErrorContext(&err).to_string() },
        }
    }

    /// True when AWS answered with `code`.
    pub fn is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }

    pub fn failure_kind(&self) -> FailureKind {
        match self.code.as_deref() {
            Some("AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" | "AuthFailure") => FailureKind::PermissionError,
            Some(_) => FailureKind::JobFailed,
            None => FailureKind::SystemUnavailable,
        }
    }
}

impl From<AwsCallError> for JobFailure {
    fn from(err: AwsCallError) -> Self {
        let hint = match err.failure_kind() {
            FailureKind::PermissionError => format!(" Grant the function's role the permission {}.", err.operation),
            FailureKind::SystemUnavailable => " The SDK already retried; retry the action later.".to_owned(),
            _ => String::new(),
        };
        JobFailure::new(err.failure_kind(), format!("{err}.{hint}"))
    }
}
