//! The floor the benchmark compares each function with: what a Rust function on Lambda costs at
//! all (the runtime client, one Tokio runtime, JSON in and out) and nothing of ours. Same
//! runtime crate, same Tokio flavour and same release profile as the four functions.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move { Ok::<Value, Error>(event.payload) })).await
}
