use lambda_runtime::{service_fn, LambdaEvent};
use qa_notify::settings::Settings;
use qa_notify::Notifier;
use serde_json::Value;
use shared::codepipeline::JobReporter;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    // A bad setting is kept, not raised: raising here would leave an Invoke action's job
    // unanswered, so each invocation reports it instead (the job fails, the event errors).
    let settings = Settings::from_vars(|key| std::env::var(key).ok());
    let config = shared::aws::load_config();
    let notifier = Notifier::new(&config, settings);
    let reporter = JobReporter::new(shared::aws_client!(aws_sdk_codepipeline, &config));
    let (notifier, reporter) = (&notifier, &reporter);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        shared::deadline::invocation(event, |event| notifier.handle(reporter, event))
    }))
    .await
}
