//! Invoke mode: "release X is live on <stage>", as a CodePipeline action after a refresh.

use serde::Deserialize;
use shared::codepipeline::InputArtifact;
use shared::parameters::{self, ParameterError};

use crate::notice::Release;

pub const EXAMPLE: &str = r##"{"pipeline":"release","stage":"production","pipelineExecutionId":"#{codepipeline.PipelineExecutionId}","release":{"commitId":"#{SourceVariables.CommitId}","commitMessage":"#{SourceVariables.CommitMessage}","branch":"#{SourceVariables.BranchName}"}}"##;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeployedParameters {
    /// The pipeline's name (a job event does not carry it).
    pub pipeline: String,
    /// The environment now running the release.
    pub stage: String,
    #[serde(default)]
    pub pipeline_execution_id: Option<String>,
    #[serde(default)]
    pub release: ReleaseParameters,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReleaseParameters {
    #[serde(default)]
    pub commit_id: Option<String>,
    #[serde(default)]
    pub commit_message: Option<String>,
    #[serde(default)]
    pub branch: Option<String>,
}

impl DeployedParameters {
    pub fn parse(raw: Option<&str>) -> Result<Self, ParameterError> {
        let p: DeployedParameters = parameters::parse(raw, EXAMPLE)?;
        parameters::filled("pipeline", &p.pipeline)?;
        parameters::within("pipeline", &p.pipeline, parameters::PIPELINE_NAME)?;
        parameters::filled("stage", &p.stage)?;
        if let Some(execution) = &p.pipeline_execution_id {
            parameters::filled("pipelineExecutionId", execution)?;
        }
        for (field, value) in [
            ("release.commitId", &p.release.commit_id),
            ("release.commitMessage", &p.release.commit_message),
            ("release.branch", &p.release.branch),
        ] {
            if let Some(v) = value {
                parameters::resolved(field, v)?;
            }
        }
        Ok(p)
    }

    /// The release from the parameters, the commit falling back to the first input artifact's revision.
    pub fn release(&self, artifacts: &[InputArtifact]) -> Release {
        let blank = |v: &Option<String>| v.clone().filter(|v| !v.trim().is_empty());
        Release {
            commit_id: blank(&self.release.commit_id).or_else(|| artifacts.iter().find_map(|a| a.revision.clone())),
            message: blank(&self.release.commit_message),
            branch: blank(&self.release.branch),
            url: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_resolved_by_codepipeline_parses() {
        let raw = EXAMPLE
            .replace("#{codepipeline.PipelineExecutionId}", "x-1")
            .replace("#{SourceVariables.CommitId}", "9f86d08")
            .replace("#{SourceVariables.CommitMessage}", "Fix totals")
            .replace("#{SourceVariables.BranchName}", "main");
        let p = DeployedParameters::parse(Some(&raw)).unwrap();
        assert_eq!((p.pipeline.as_str(), p.stage.as_str(), p.pipeline_execution_id.as_deref()), ("release", "production", Some("x-1")));
        let r = p.release(&[]);
        assert_eq!(
            (r.commit_id.as_deref(), r.message.as_deref(), r.branch.as_deref()),
            (Some("9f86d08"), Some("Fix totals"), Some("main"))
        );
    }

    #[test]
    fn an_unresolved_variable_or_an_empty_stage_names_the_field() {
        let err = DeployedParameters::parse(Some(EXAMPLE)).unwrap_err().to_string();
        assert!(err.contains("pipelineExecutionId") && err.contains("not resolved"), "{err}");
        let err = DeployedParameters::parse(Some(r#"{"pipeline":"release","stage":" "}"#)).unwrap_err().to_string();
        assert!(err.contains("`stage`") || err.contains("stage"), "{err}");
        let err =
            DeployedParameters::parse(Some(r##"{"pipeline":"release","stage":"prod","release":{"commitId":"#{S.C}"}}"##)).unwrap_err();
        assert!(err.to_string().contains("release.commitId"), "{err}");
        assert!(DeployedParameters::parse(Some(r#"{"pipeline":"release"}"#)).unwrap_err().to_string().contains("stage"));
        assert!(DeployedParameters::parse(Some(r#"{"pipeline":"release","stage":"p","colour":1}"#)).is_err(), "unknown fields are refused");
    }

    #[test]
    fn without_a_commit_parameter_the_input_artifact_revision_is_the_release() {
        let p = DeployedParameters::parse(Some(r#"{"pipeline":"dev","stage":"dev","release":{"commitId":""}}"#)).unwrap();
        let artifact = InputArtifact { name: "SourceArtifact".into(), revision: Some("c0ffee".into()), s3_location: None };
        assert_eq!(p.release(&[artifact]).commit_id.as_deref(), Some("c0ffee"));
        assert_eq!(p.release(&[]).commit_id, None);
    }

    #[test]
    fn a_pipeline_name_longer_than_codepipeline_allows_is_refused_naming_the_limit() {
        let raw = format!(r#"{{"pipeline":"{}","stage":"production"}}"#, "p".repeat(101));
        let err = DeployedParameters::parse(Some(&raw)).unwrap_err().to_string();
        assert!(err.ends_with("CodePipeline pipeline names are at most 100 characters"), "{err}");
    }
}
