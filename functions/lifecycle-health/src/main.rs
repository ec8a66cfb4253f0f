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
    // Long checks continue in a new invocation of this function: know its name before the
    // first heartbeat, not after.
    let function_name = std::env::var("AWS_LAMBDA_FUNCTION_NAME")
        .map_err(|_| "AWS_LAMBDA_FUNCTION_NAME is not set; lifecycle-health hands long checks over to a new invocation of itself")?;
    let config = shared::aws::load_config();
    let gate = HealthGate::new(&config, settings, function_name);
    let gate = &gate;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| shared::deadline::invocation(event, |event| gate.handle(event)))).await
}
