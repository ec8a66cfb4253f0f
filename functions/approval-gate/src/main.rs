use approval_gate::settings::Settings;
use approval_gate::Gate;
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use shared::codepipeline::JobReporter;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    // A bad setting is reported by each invocation (an Invoke job must still be answered).
    let settings = Settings::from_vars(|key| std::env::var(key).ok());
    let config = shared::aws::load_config();
    let gate = Gate::new(&config, settings);
    let reporter = JobReporter::new(shared::aws_client!(aws_sdk_codepipeline, &config));
    let (gate, reporter) = (&gate, &reporter);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        shared::deadline::invocation(event, |event| gate.handle(reporter, event))
    }))
    .await
}
