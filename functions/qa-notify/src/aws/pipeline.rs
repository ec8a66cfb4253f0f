//! The CodePipeline reads qa-notify adds to the shared ones: an approval's timeout, an execution's release.

use aws_sdk_codepipeline::Client;
use shared::aws::AwsCallError;
use shared::codepipeline::pipeline_state::execution_revision;

use crate::notice::Release;

/// The manual approval's `timeoutInMinutes`, if the pipeline sets one.
pub async fn approval_timeout_minutes(client: &Client, pipeline: &str, stage: &str, action: &str) -> Result<Option<i32>, AwsCallError> {
    let out = client.get_pipeline().name(pipeline).send().await.map_err(|e| AwsCallError::from_sdk("codepipeline:GetPipeline", e))?;
    Ok(out
        .pipeline()
        .and_then(|p| p.stages().iter().find(|s| s.name() == stage))
        .and_then(|s| s.actions().iter().find(|a| a.name() == action))
        .and_then(|a| a.timeout_in_minutes()))
}

/// The release an execution carries: its first artifact revision.
pub async fn release(client: &Client, pipeline: &str, execution_id: &str) -> Result<Release, AwsCallError> {
    Ok(match execution_revision(client, pipeline, execution_id).await? {
        Some(r) => Release::from_revision(r.id.as_deref(), r.summary.as_deref(), r.url.as_deref()),
        None => Release::default(),
    })
}
