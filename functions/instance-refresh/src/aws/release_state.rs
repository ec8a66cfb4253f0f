//! The release state: the launch template version a group runs, recorded where a stack's
//! group reads it (`{{resolve:ssm:...}}`), so no stack update points it at an older release.

use aws_sdk_ssm::types::ParameterType;
use shared::aws::AwsCallError;

/// Overwrites the String parameter `name` with `version`.
pub async fn record(client: &aws_sdk_ssm::Client, name: &str, version: i64, description: &str) -> Result<(), AwsCallError> {
    client
        .put_parameter()
        .name(name)
        .value(version.to_string())
        .r#type(ParameterType::String)
        .overwrite(true)
        .description(description)
        .send()
        .await
        .map(drop)
        .map_err(|e| AwsCallError::from_sdk("ssm:PutParameter", e))
}
