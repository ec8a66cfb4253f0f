use instance_refresh::RefreshAction;
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use shared::codepipeline::{run_job, JobReporter};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let config = shared::aws::load_config();
    let action = RefreshAction::new(&config);
    let reporter = JobReporter::new(shared::aws_client!(aws_sdk_codepipeline, &config));
    let (action, reporter) = (&action, &reporter);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        shared::deadline::invocation(event, |event| run_job(reporter, event, |job, fallback| action.handle(job, fallback)))
    }))
    .await
}
