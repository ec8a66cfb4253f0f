//! This action's `UserParameters`.

use serde::Deserialize;
use shared::parameters::{self, ParameterError};

use crate::preferences::PreferenceParameters;

pub const EXAMPLE: &str = r##"{"stage":"staging","autoScalingGroupName":"web-staging","release":{"commitId":"#{SourceVariables.CommitId}"},"preferences":{"minHealthyPercentage":90,"instanceWarmupSeconds":120,"autoRollback":true}}"##;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefreshParameters {
    /// dev, staging, production: recorded on the instances and in summaries.
    pub stage: String,
    pub auto_scaling_group_name: String,
    #[serde(default)]
    pub release: ReleaseParameters,
    /// A new AMI for this release; otherwise the source version's AMI is kept.
    #[serde(default)]
    pub image_id: Option<String>,
    #[serde(default)]
    pub preferences: PreferenceParameters,
    /// The refresh is meant to end with only part of the group replaced (a last checkpoint
    /// below 100); without it such checkpoints are refused as a likely mistake.
    #[serde(default)]
    pub partial_rollout: bool,
    #[serde(default)]
    pub when_refresh_in_progress: InProgressPolicy,
    /// Keep this many newest launch template versions; older ones are deleted (never the
    /// default, the group's current or the new version). Absent: nothing is deleted.
    #[serde(default)]
    pub launch_template_versions_to_keep: Option<u16>,
    /// An SSM parameter (`/<stack>/release/<group>`) that gets the new launch template version
    /// when the refresh succeeds: the release state a stack's group takes its version from, so
    /// that a later stack update never points the group back at an older release.
    #[serde(default)]
    pub release_parameter: Option<String>,
    /// `#{codepipeline.PipelineExecutionId}`, for log correlation.
    #[serde(default)]
    pub pipeline_execution_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReleaseParameters {
    /// Overrides the input artifact's revision, e.g. `#{SourceVariables.CommitId}`.
    #[serde(default)]
    pub commit_id: Option<String>,
    /// Which input artifact carries the release; the first one when absent.
    #[serde(default)]
    pub artifact_name: Option<String>,
}

/// What to do when the group already has a refresh running.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InProgressPolicy {
    /// Track the running refresh if it rolls out this same release; fail otherwise.
    #[default]
    AdoptSameRelease,
    /// Always fail, naming the running refresh.
    Fail,
}

impl RefreshParameters {
    pub fn parse(raw: Option<&str>) -> Result<Self, ParameterError> {
        let params: RefreshParameters = parameters::parse(raw, EXAMPLE)?;
        parameters::filled("stage", &params.stage)?;
        parameters::filled("autoScalingGroupName", &params.auto_scaling_group_name)?;
        parameters::within("autoScalingGroupName", &params.auto_scaling_group_name, parameters::GROUP_NAME)?;
        if let Some(image) = &params.image_id {
            if !image.starts_with("ami-") {
                return Err(ParameterError::field("imageId", format!("`{image}` is not an AMI id (ami-…)")));
            }
        }
        if let Some(name) = &params.release_parameter {
            parameters::filled("releaseParameter", name)?;
            if let Some(reason) = ssm_name_problem(name) {
                return Err(ParameterError::field("releaseParameter", format!("`{name}` {reason}")));
            }
        }
        if params.launch_template_versions_to_keep == Some(0) {
            return Err(ParameterError::field("launchTemplateVersionsToKeep", "must be at least 1; leave it out to keep every version"));
        }
        Ok(params)
    }
}

/// Why `name` cannot be a fully qualified SSM parameter name, if it cannot (SSM's rules:
/// a leading `/`, at most 15 levels, 1011 characters, letters, digits and `_.-/`, no `aws`/`ssm` prefix).
fn ssm_name_problem(name: &str) -> Option<&'static str> {
    let first_level = name.trim_start_matches('/').split('/').next().unwrap_or_default().to_ascii_lowercase();
    if !name.starts_with('/') {
        Some("must be a fully qualified name starting with `/`, e.g. /deploy/release/web-staging")
    } else if name.len() > 1011 || name.matches('/').count() > 15 {
        Some("is longer than SSM allows (1011 characters, 15 levels)")
    } else if !name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c)) || name.ends_with('/') || name.contains("//") {
        Some("may hold only letters, digits, `_`, `.`, `-` and single `/` between levels")
    } else if first_level.starts_with("aws") || first_level.starts_with("ssm") {
        Some("may not start with `aws` or `ssm`, which SSM reserves")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_parses() {
        let p = RefreshParameters::parse(Some(&EXAMPLE.replace("#{SourceVariables.CommitId}", "abc"))).unwrap();
        assert_eq!(p.auto_scaling_group_name, "web-staging");
        assert_eq!(p.when_refresh_in_progress, InProgressPolicy::AdoptSameRelease);
    }

    #[test]
    fn the_policy_for_a_running_refresh_is_spelt_in_kebab_case() {
        let p = RefreshParameters::parse(Some(r#"{"stage":"dev","autoScalingGroupName":"g","whenRefreshInProgress":"fail"}"#)).unwrap();
        assert_eq!(p.when_refresh_in_progress, InProgressPolicy::Fail);
    }

    #[test]
    fn an_empty_group_name_is_rejected_by_field() {
        let err = RefreshParameters::parse(Some(r#"{"stage":"dev","autoScalingGroupName":" "}"#)).unwrap_err();
        assert_eq!(err, ParameterError::field("autoScalingGroupName", "must not be empty"));
    }

    #[test]
    fn an_unresolved_variable_in_the_group_name_is_explained() {
        let err = RefreshParameters::parse(Some(r##"{"stage":"dev","autoScalingGroupName":"#{Env.Asg}"}"##)).unwrap_err();
        assert!(err.to_string().contains("not resolved"), "{err}");
    }

    #[test]
    fn an_image_that_is_not_an_ami_is_rejected() {
        let err = RefreshParameters::parse(Some(r#"{"stage":"dev","autoScalingGroupName":"g","imageId":"ubuntu"}"#)).unwrap_err();
        assert!(err.to_string().starts_with("UserParameters field `imageId`"), "{err}");
    }

    #[test]
    fn partial_rollout_is_off_unless_asked_for() {
        let p = RefreshParameters::parse(Some(r#"{"stage":"dev","autoScalingGroupName":"g"}"#)).unwrap();
        assert!(!p.partial_rollout);
        let p = RefreshParameters::parse(Some(r#"{"stage":"dev","autoScalingGroupName":"g","partialRollout":true}"#)).unwrap();
        assert!(p.partial_rollout);
    }

    #[test]
    fn a_release_parameter_is_a_fully_qualified_ssm_name() {
        let with = |name: &str| {
            RefreshParameters::parse(Some(&format!(r#"{{"stage":"dev","autoScalingGroupName":"g","releaseParameter":"{name}"}}"#)))
        };
        assert_eq!(with("/deploy/release/web-dev").unwrap().release_parameter.as_deref(), Some("/deploy/release/web-dev"));
        assert!(RefreshParameters::parse(Some(r#"{"stage":"dev","autoScalingGroupName":"g"}"#)).unwrap().release_parameter.is_none());
        for (bad, says) in [
            ("deploy/release", "starting with `/`"),
            ("/deploy/release/", "single `/`"),
            ("/deploy//web", "single `/`"),
            ("/deploy/web dev", "letters, digits"),
            ("/aws/release", "reserves"),
            ("/SSM-x/release", "reserves"),
            (&format!("/{}", "a".repeat(1011)), "longer"),
            (&"/a".repeat(16), "longer"),
        ] {
            let err = with(bad).unwrap_err().to_string();
            assert!(err.starts_with("UserParameters field `releaseParameter`") && err.contains(says), "{bad}: {err}");
        }
        assert!(with(" ").unwrap_err().to_string().contains("must not be empty"));
        assert!(with(&"/a".repeat(15)).is_ok(), "15 levels are allowed");
        assert!(with(&format!("/{}", "a".repeat(1010))).is_ok(), "1011 characters are allowed");
    }

    #[test]
    fn keeping_zero_versions_is_rejected() {
        let err =
            RefreshParameters::parse(Some(r#"{"stage":"dev","autoScalingGroupName":"g","launchTemplateVersionsToKeep":0}"#)).unwrap_err();
        assert!(err.to_string().contains("launchTemplateVersionsToKeep"), "{err}");
    }

    #[test]
    fn a_group_name_longer_than_auto_scaling_allows_is_refused_naming_the_limit() {
        let raw = format!(r#"{{"stage":"dev","autoScalingGroupName":"{}"}}"#, "g".repeat(5_000));
        let err = RefreshParameters::parse(Some(&raw)).unwrap_err().to_string();
        assert!(err.ends_with("is 5000 characters long; Auto Scaling group names are at most 255 characters"), "{err}");
    }
}
