//! The CodePipeline reads: the pipeline's state, an approval's timeout, an execution's release.

use aws_sdk_codepipeline::Client;
use shared::aws::AwsCallError;

use crate::facts::{ActionState, PipelineState, StageState};
use crate::notice::Release;

pub async fn state(client: &Client, pipeline: &str) -> Result<PipelineState, AwsCallError> {
    let out =
        client.get_pipeline_state().name(pipeline).send().await.map_err(|e| AwsCallError::from_sdk("codepipeline:GetPipelineState", e))?;
    let stages = out
        .stage_states()
        .iter()
        .map(|s| StageState {
            name: s.stage_name().unwrap_or_default().to_owned(),
            execution_id: s.latest_execution().map(|e| e.pipeline_execution_id().to_owned()),
            status: s.latest_execution().map(|e| e.status().as_str().to_owned()),
            actions: s
                .action_states()
                .iter()
                .map(|a| {
                    let latest = a.latest_execution();
                    ActionState {
                        name: a.action_name().unwrap_or_default().to_owned(),
                        status: latest.and_then(|l| l.status()).map(|st| st.as_str().to_owned()),
                        token: latest.and_then(|l| l.token()).map(str::to_owned),
                        summary: latest.and_then(|l| l.summary()).map(str::to_owned),
                        updated_by: latest.and_then(|l| l.last_updated_by()).map(str::to_owned),
                        error_message: latest.and_then(|l| l.error_details()).and_then(|d| d.message()).map(str::to_owned),
                    }
                })
                .collect(),
        })
        .collect();
    Ok(PipelineState { stages })
}

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
    let out = client
        .get_pipeline_execution()
        .pipeline_name(pipeline)
        .pipeline_execution_id(execution_id)
        .send()
        .await
        .map_err(|e| AwsCallError::from_sdk("codepipeline:GetPipelineExecution", e))?;
    let revision = out.pipeline_execution().and_then(|e| e.artifact_revisions().first());
    Ok(match revision {
        Some(r) => Release::from_revision(r.revision_id(), r.revision_summary(), r.revision_url()),
        None => Release::default(),
    })
}
