//! The `CodePipeline.job` event, parsed at the edge into only what the functions use.
//!
//! `artifactCredentials` is deliberately not deserialised: the secret never lives in our
//! types, so no `Debug` or log line can print it (DESIGN.md invariant 3).

use serde::Deserialize;
use serde_json::Value;

/// One CodePipeline job, as the functions see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodePipelineJob {
    pub id: String,
    pub account_id: Option<String>,
    /// `UserParameters` exactly as configured, CodePipeline variables already resolved.
    pub user_parameters: Option<String>,
    pub input_artifacts: Vec<InputArtifact>,
    /// Present when CodePipeline re-invokes us after an in-progress answer.
    pub continuation_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InputArtifact {
    pub name: String,
    /// The source revision (a commit id for Git sources).
    #[serde(default)]
    pub revision: Option<String>,
    #[serde(default, deserialize_with = "s3_location_of")]
    #[serde(rename = "location")]
    pub s3_location: Option<S3Location>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3Location {
    pub bucket_name: String,
    pub object_key: String,
}

impl S3Location {
    pub fn to_uri(&self) -> String {
        format!("s3://{}/{}", self.bucket_name, self.object_key)
    }
}

/// Why an event could not be turned into a [`CodePipelineJob`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JobEventError {
    /// Without a job id there is nobody to answer: this is the one case that can only be
    /// reported as a Lambda error.
    #[error(
        "the event is not a CodePipeline job: {0}. Invoke this function from a CodePipeline Invoke action, or use a sample from events/"
    )]
    NotAJob(String),
    /// The job id is known, so the job can (and must) be failed with this message.
    #[error("the CodePipeline job event is malformed at `{path}`: {reason}")]
    Malformed { job_id: String, path: String, reason: String },
}

impl JobEventError {
    pub fn job_id(&self) -> Option<&str> {
        match self {
            JobEventError::NotAJob(_) => None,
            JobEventError::Malformed { job_id, .. } => Some(job_id),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JobData {
    #[serde(default)]
    action_configuration: Option<ActionConfiguration>,
    #[serde(default)]
    input_artifacts: Vec<InputArtifact>,
    #[serde(default)]
    continuation_token: Option<String>,
}

#[derive(Deserialize)]
struct ActionConfiguration {
    #[serde(default)]
    configuration: Option<ActionConfigurationValues>,
}

#[derive(Deserialize)]
struct ActionConfigurationValues {
    #[serde(rename = "UserParameters", default)]
    user_parameters: Option<String>,
}

#[derive(Deserialize)]
struct LocationEnvelope {
    #[serde(rename = "s3Location", default)]
    s3_location: Option<S3Location>,
}

fn s3_location_of<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<S3Location>, D::Error> {
    Ok(Option::<LocationEnvelope>::deserialize(d)?.and_then(|l| l.s3_location))
}

impl CodePipelineJob {
    /// Parses the raw Lambda payload. The job id is read first so that a job whose other
    /// fields are malformed can still be failed with a useful message.
    pub fn from_event(event: &Value) -> Result<Self, JobEventError> {
        let job = event.get("CodePipeline.job").ok_or_else(|| JobEventError::NotAJob("it has no `CodePipeline.job` key".into()))?;
        let id = job
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| !id.trim().is_empty())
            .ok_or_else(|| JobEventError::NotAJob("`CodePipeline.job.id` is missing or not a string".into()))?
            .to_owned();
        let malformed = |path: String, reason: String| JobEventError::Malformed { job_id: id.clone(), path, reason };

        let data = job.get("data").ok_or_else(|| malformed("CodePipeline.job.data".into(), "missing".into()))?;
        let data: JobData = serde_path_to_error::deserialize(data)
            .map_err(|e| malformed(format!("CodePipeline.job.data.{}", e.path()), e.inner().to_string()))?;
        let account_id = job.get("accountId").and_then(Value::as_str).map(str::to_owned);
        Ok(CodePipelineJob {
            id: id.clone(),
            account_id,
            user_parameters: data.action_configuration.and_then(|a| a.configuration).and_then(|c| c.user_parameters),
            input_artifacts: data.input_artifacts,
            continuation_token: data.continuation_token.filter(|t| !t.is_empty()),
        })
    }

    /// `pipelineExecutionId` from `UserParameters`, when the action passes
    /// `#{codepipeline.PipelineExecutionId}`: the job event itself does not carry it.
    pub fn pipeline_execution_id(&self) -> Option<String> {
        let params: Value = serde_json::from_str(self.user_parameters.as_deref()?).ok()?;
        params.get("pipelineExecutionId")?.as_str().map(str::to_owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(data: Value) -> Value {
        json!({"CodePipeline.job": {"id": "11111111-abcd-1111-abcd-111111abcdef", "accountId": "123456789012", "data": data}})
    }

    #[test]
    fn a_first_invocation_yields_parameters_and_the_artifact_revision() {
        let job = CodePipelineJob::from_event(&event(json!({
            "actionConfiguration": {"configuration": {"FunctionName": "f", "UserParameters": "{\"a\":1}"}},
            "inputArtifacts": [{"name": "Src", "revision": "abc123", "location": {"type": "S3", "s3Location": {"bucketName": "b", "objectKey": "k.zip"}}}],
            "outputArtifacts": [],
            "artifactCredentials": {"accessKeyId": "AKIA", "secretAccessKey": "s3cr3t", "sessionToken": "t"}
        })))
        .unwrap();
        assert_eq!(job.user_parameters.as_deref(), Some("{\"a\":1}"));
        assert_eq!(job.input_artifacts[0].revision.as_deref(), Some("abc123"));
        assert_eq!(job.input_artifacts[0].s3_location.as_ref().unwrap().to_uri(), "s3://b/k.zip");
        assert_eq!(job.continuation_token, None);
        assert!(!format!("{job:?}").contains("s3cr3t"));
    }

    #[test]
    fn an_event_without_a_job_id_cannot_be_answered() {
        let err = CodePipelineJob::from_event(&json!({"Records": []})).unwrap_err();
        assert_eq!(err.job_id(), None);
        assert!(err.to_string().contains("CodePipeline.job"));
    }

    #[test]
    fn a_malformed_artifact_names_the_path_and_keeps_the_job_id() {
        let err = CodePipelineJob::from_event(&event(json!({"inputArtifacts": [{"name": 7}]}))).unwrap_err();
        assert_eq!(err.job_id(), Some("11111111-abcd-1111-abcd-111111abcdef"));
        assert!(err.to_string().contains("inputArtifacts[0].name"), "{err}");
    }

    #[test]
    fn the_pipeline_execution_id_is_read_from_user_parameters_when_present() {
        let job = CodePipelineJob::from_event(&event(json!({
            "actionConfiguration": {"configuration": {"UserParameters": "{\"pipelineExecutionId\":\"e-1\"}"}}
        })))
        .unwrap();
        assert_eq!(job.pipeline_execution_id().as_deref(), Some("e-1"));
    }
}
