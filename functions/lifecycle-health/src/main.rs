use lambda_runtime::{service_fn, LambdaEvent};
use lifecycle_health::settings::Settings;
use lifecycle_health::HealthGate;
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    // A bad setting stops the function at init: every event then fails loudly, and the
    // hook's DefaultResult applies, rather than checks running with a guessed meaning.
    let settings = Settings::from_vars(|key| std::env::var(key).ok())?;
    // A still-warming instance is looked at again through this queue: know it before the
    // first look, not after.
    let recheck_queue_url = std::env::var("HEALTH_RECHECK_QUEUE_URL")
        .map_err(|_| "HEALTH_RECHECK_QUEUE_URL is not set; lifecycle-health sends each still-warming instance's check there to look again later (template.yaml sets it to the LifecycleRecheckQueue)")?;
    let config = shared::aws::load_config();
    let gate = HealthGate::new(&config, settings, recheck_queue_url);
    let gate = &gate;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| shared::deadline::invocation(event, |event| gate.handle(event)))).await
}
