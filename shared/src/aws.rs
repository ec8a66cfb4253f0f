//! AWS configuration, loaded once at init, and AWS call failures as actionable messages.

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{future, ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_types::region::Region;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};
pub use aws_types::SdkConfig;

use crate::codepipeline::{FailureKind, JobFailure};

/// The SDK configuration of a function on Lambda, from its environment alone: the region
/// (`AWS_REGION`), the execution role's credentials (`AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) and endpoints (`AWS_ENDPOINT_URL_<SERVICE>`,
/// else `AWS_ENDPOINT_URL`: how every function runs unchanged against the local emulator).
/// Retries and the connect timeout are the SDK's defaults for the behaviour version.
///
/// Not `aws-config`: its default chain looks in profiles, SSO, web identity (through STS), ECS
/// and IMDS, none of which a Lambda function uses, and it links `aws-sdk-sts` and a profile
/// parser into every function (its figure: README, "Performance").
pub fn load_config() -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(region(process_env))
        .credentials_provider(SharedCredentialsProvider::new(EnvironmentCredentials))
        .service_config(EnvironmentSettings)
        .http_client(http_client())
        .build()
}

/// `AWS_REGION` (Lambda sets it), else `AWS_DEFAULT_REGION`.
fn region(lookup: impl Fn(&str) -> Option<String>) -> Option<Region> {
    ["AWS_REGION", "AWS_DEFAULT_REGION"].into_iter().find_map(|name| set(lookup(name))).map(Region::new)
}

/// What the functions read settings through at run time; tests pass their own lookup.
fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn set(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

/// The execution role's credentials, which Lambda puts in the environment.
#[derive(Debug)]
struct EnvironmentCredentials;

impl ProvideCredentials for EnvironmentCredentials {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::ready(credentials(process_env))
    }
}

fn credentials(lookup: impl Fn(&str) -> Option<String>) -> Result<Credentials, CredentialsError> {
    match (set(lookup("AWS_ACCESS_KEY_ID")), set(lookup("AWS_SECRET_ACCESS_KEY"))) {
        (Some(id), Some(secret)) => Ok(Credentials::new(id, secret, set(lookup("AWS_SESSION_TOKEN")), None, "environment")),
        _ => Err(CredentialsError::not_loaded(
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set (on Lambda they hold the execution role's credentials)",
        )),
    }
}

/// Per-service settings the SDK asks for (today the endpoint URL), from the environment.
#[derive(Debug)]
struct EnvironmentSettings;

impl LoadServiceConfig for EnvironmentSettings {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        service_setting(key.env(), key.service_id(), process_env)
    }
}

/// The SDK's rule for a per-service setting: `<VAR>_<SERVICE ID>` (upper case, spaces as
/// underscores: `AWS_ENDPOINT_URL_AUTO_SCALING`), else `<VAR>`. A blank value counts as unset.
fn service_setting(var: &str, service_id: &str, lookup: impl Fn(&str) -> Option<String>) -> Option<String> {
    let specific = format!("{var}_{}", service_id.to_uppercase().replace(' ', "_"));
    set(lookup(&specific)).or_else(|| set(lookup(var)))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::vars as env;

    #[test]
    fn a_failed_call_tells_the_job_what_to_do_about_it() {
        let call = |code: Option<&str>| AwsCallError { operation: "ec2:RunInstances", code: code.map(str::to_owned), detail: "d".into() };
        let denied = JobFailure::from(call(Some("AccessDenied")));
        assert_eq!(denied.kind, FailureKind::PermissionError);
        assert!(denied.message.ends_with("Grant the function's role the permission ec2:RunInstances."), "{}", denied.message);
        let unreachable = JobFailure::from(call(None));
        assert_eq!(unreachable.kind, FailureKind::SystemUnavailable);
        assert!(unreachable.message.ends_with("The SDK already retried; retry the action later."), "{}", unreachable.message);
        let refused = JobFailure::from(call(Some("ValidationError")));
        assert_eq!((refused.kind, refused.message.as_str()), (FailureKind::JobFailed, "ec2:RunInstances failed: d."));
    }

    #[test]
    fn a_service_specific_endpoint_wins_over_the_global_one_and_a_blank_one_is_unset() {
        let vars =
            env(&[("AWS_ENDPOINT_URL", "http://global"), ("AWS_ENDPOINT_URL_AUTO_SCALING", "http://asg"), ("AWS_ENDPOINT_URL_SNS", " ")]);
        assert_eq!(service_setting("AWS_ENDPOINT_URL", "Auto Scaling", &vars).as_deref(), Some("http://asg"));
        assert_eq!(service_setting("AWS_ENDPOINT_URL", "SNS", &vars).as_deref(), Some("http://global"));
        assert_eq!(service_setting("AWS_ENDPOINT_URL", "Elastic Load Balancing v2", &vars).as_deref(), Some("http://global"));
        let only = env(&[("AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2", "http://elb")]);
        assert_eq!(service_setting("AWS_ENDPOINT_URL", "Elastic Load Balancing v2", &only).as_deref(), Some("http://elb"));
        assert_eq!(service_setting("AWS_ENDPOINT_URL", "SNS", &only), None);
    }

    #[test]
    fn the_sdk_asks_the_process_environment_for_a_service_setting() {
        // A variable of this test's own (the SDK's are read by other tests at the same time).
        std::env::set_var("SHARED_AWS_TEST_SETTING_TEST_SERVICE", "http://from-the-environment");
        let key =
            |service_id| ServiceConfigKey::builder().service_id(service_id).env("SHARED_AWS_TEST_SETTING").profile("p").build().unwrap();
        assert_eq!(EnvironmentSettings.load_config(key("Test Service")).as_deref(), Some("http://from-the-environment"));
        assert_eq!(EnvironmentSettings.load_config(key("Other")), None);
    }

    #[test]
    fn the_region_is_lambdas_aws_region_else_the_default_region() {
        assert_eq!(region(env(&[("AWS_REGION", "eu-west-1"), ("AWS_DEFAULT_REGION", "us-east-1")])), Some(Region::new("eu-west-1")));
        assert_eq!(region(env(&[("AWS_REGION", ""), ("AWS_DEFAULT_REGION", "us-east-1")])), Some(Region::new("us-east-1")));
        assert_eq!(region(env(&[])), None);
    }

    #[test]
    fn credentials_come_from_the_execution_roles_variables_or_say_which_are_missing() {
        let found = credentials(env(&[("AWS_ACCESS_KEY_ID", "AKID"), ("AWS_SECRET_ACCESS_KEY", "secret"), ("AWS_SESSION_TOKEN", "token")]))
            .unwrap();
        assert_eq!((found.access_key_id(), found.secret_access_key(), found.session_token()), ("AKID", "secret", Some("token")));
        let without_token = credentials(env(&[("AWS_ACCESS_KEY_ID", "AKID"), ("AWS_SECRET_ACCESS_KEY", "secret")])).unwrap();
        assert_eq!(without_token.session_token(), None);
        let missing = credentials(env(&[("AWS_ACCESS_KEY_ID", "AKID")])).unwrap_err();
        assert!(format!("{}", DisplayErrorContext(&missing)).contains("AWS_SECRET_ACCESS_KEY"), "{missing:?}");
    }
}
