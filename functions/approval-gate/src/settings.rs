//! The checks' configuration: environment variables the template sets, which an Invoke
//! action's `UserParameters` may override for that action.

use serde::Deserialize;
use shared::parameters::{self, ParameterError};

use crate::checks::window::{Window, WindowError, WindowSpec};

/// What to check and what to do about the QA approval.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Pipelines whose approval this gate answers; empty: any pipeline whose events reach it.
    pub pipelines: Vec<String>,
    pub approval_stage: String,
    pub approval_action: String,
    pub checks: CheckSettings,
    /// Approve when every check passes (for pipelines where QA need not look).
    pub auto_approve: bool,
}

/// Each check runs when it is configured.
#[derive(Debug, Clone, Default)]
pub struct CheckSettings {
    /// Enables "staging refresh" and "staging fleet".
    pub staging_group: Option<String>,
    /// Enables "alarms".
    pub alarms: Vec<String>,
    pub insufficient_data_passes: bool,
    /// Enables "deployment window".
    pub window: Option<Window>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("{variable}: {reason}")]
    Bad { variable: &'static str, reason: String },
}

fn bad(variable: &'static str, reason: impl Into<String>) -> SettingsError {
    SettingsError::Bad { variable, reason: reason.into() }
}

fn list(raw: Option<String>) -> Vec<String> {
    raw.map(|r| r.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()).unwrap_or_default()
}

fn insufficient_data(variable: &'static str, raw: &str) -> Result<bool, SettingsError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "fail" => Ok(false),
        "pass" => Ok(true),
        other => Err(bad(variable, format!("`{other}` is neither `fail` nor `pass`"))),
    }
}

fn window(variable: &'static str, raw: &str) -> Result<Window, SettingsError> {
    let spec: WindowSpec = serde_json::from_str(raw).map_err(|e| bad(variable, format!("not a window ({e}); e.g. {}", WINDOW_EXAMPLE)))?;
    spec.build().map_err(|e: WindowError| bad(variable, e.to_string()))
}

pub const WINDOW_EXAMPLE: &str = r#"{"timeZone":"Europe/London","weekly":[{"days":["Mon","Tue","Wed","Thu"],"from":"09:00","to":"16:00"}],"freezes":[{"from":"2026-12-21T00:00","to":"2027-01-04T00:00","reason":"year end"}]}"#;

impl Settings {
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingsError> {
        let set = |key: &str| var(key).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let auto_approve = match set("GATE_AUTO_APPROVE").as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => return Err(bad("GATE_AUTO_APPROVE", format!("`{other}` is neither true nor false"))),
        };
        Ok(Settings {
            pipelines: list(set("GATE_PIPELINES")),
            approval_stage: set("GATE_APPROVAL_STAGE").unwrap_or_else(|| "Approval".to_owned()),
            approval_action: set("GATE_APPROVAL_ACTION").unwrap_or_else(|| "QA".to_owned()),
            checks: CheckSettings {
                staging_group: set("GATE_STAGING_GROUP"),
                alarms: list(set("GATE_ALARMS")),
                insufficient_data_passes: set("GATE_INSUFFICIENT_DATA")
                    .map(|r| insufficient_data("GATE_INSUFFICIENT_DATA", &r))
                    .transpose()?
                    .unwrap_or(false),
                window: set("GATE_WINDOW").map(|r| window("GATE_WINDOW", &r)).transpose()?,
            },
            auto_approve,
        })
    }

    pub fn watches(&self, pipeline: &str) -> bool {
        self.pipelines.is_empty() || self.pipelines.iter().any(|p| p == pipeline)
    }
}

pub const EXAMPLE: &str = r##"{"pipeline":"release","pipelineExecutionId":"#{codepipeline.PipelineExecutionId}","release":{"commitId":"#{SourceVariables.CommitId}"},"alarms":["web-production-5xx"]}"##;

/// An Invoke action's `UserParameters`: which execution, and any check settings to override.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActionParameters {
    pub pipeline: String,
    pub pipeline_execution_id: Option<String>,
    #[serde(default)]
    pub release: ReleaseParameters,
    pub staging_group: Option<String>,
    pub alarms: Option<Vec<String>>,
    pub insufficient_data: Option<String>,
    pub window: Option<WindowSpec>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReleaseParameters {
    pub commit_id: Option<String>,
}

impl ActionParameters {
    pub fn parse(raw: Option<&str>) -> Result<Self, ParameterError> {
        let p: ActionParameters = parameters::parse(raw, EXAMPLE)?;
        parameters::filled("pipeline", &p.pipeline)?;
        parameters::within("pipeline", &p.pipeline, parameters::PIPELINE_NAME)?;
        if let Some(group) = &p.staging_group {
            parameters::within("stagingGroup", group, parameters::GROUP_NAME)?;
        }
        for alarm in p.alarms.iter().flatten() {
            parameters::within("alarms", alarm, parameters::ALARM_NAME)?;
        }
        for (field, value) in [("pipelineExecutionId", &p.pipeline_execution_id), ("release.commitId", &p.release.commit_id)] {
            if let Some(v) = value {
                parameters::resolved(field, v)?;
            }
        }
        Ok(p)
    }

    /// The environment's checks with this action's overrides applied.
    pub fn checks(&self, base: &CheckSettings) -> Result<CheckSettings, ParameterError> {
        let mut checks = base.clone();
        if let Some(group) = &self.staging_group {
            checks.staging_group = Some(group.clone()).filter(|g| !g.trim().is_empty());
        }
        if let Some(alarms) = &self.alarms {
            checks.alarms = alarms.clone();
        }
        if let Some(raw) = &self.insufficient_data {
            checks.insufficient_data_passes =
                insufficient_data("insufficientData", raw).map_err(|e| ParameterError::field("insufficientData", e.to_string()))?;
        }
        if let Some(spec) = &self.window {
            checks.window = Some(spec.build().map_err(|e| ParameterError::field("window", e.to_string()))?);
        }
        Ok(checks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        Settings::from_vars(|key| vars.iter().find(|(k, _)| *k == key).map(|(_, v)| (*v).to_owned()))
    }

    #[test]
    fn nothing_configured_means_no_checks_and_the_defaults() {
        let s = settings(&[]).unwrap();
        assert!(s.checks.staging_group.is_none() && s.checks.alarms.is_empty() && s.checks.window.is_none());
        assert_eq!((s.approval_stage.as_str(), s.approval_action.as_str(), s.auto_approve), ("Approval", "QA", false));
        assert!(s.watches("anything"));
    }

    #[test]
    fn every_variable_is_read_and_a_bad_one_named() {
        let s = settings(&[
            ("GATE_PIPELINES", "release"),
            ("GATE_STAGING_GROUP", "web-staging"),
            ("GATE_ALARMS", "5xx, latency"),
            ("GATE_INSUFFICIENT_DATA", "pass"),
            ("GATE_WINDOW", WINDOW_EXAMPLE),
            ("GATE_AUTO_APPROVE", "TRUE"),
        ])
        .unwrap();
        assert_eq!(s.checks.alarms, ["5xx", "latency"]);
        assert!(s.checks.insufficient_data_passes && s.auto_approve && !s.watches("dev"));
        assert_eq!(s.checks.window.unwrap().zone_name, "Europe/London");
        let err = settings(&[("GATE_WINDOW", r#"{"timeZone":"CST"}"#)]).unwrap_err().to_string();
        assert!(err.starts_with("GATE_WINDOW: time zone `CST` is an abbreviation"), "{err}");
        assert!(settings(&[("GATE_INSUFFICIENT_DATA", "maybe")]).unwrap_err().to_string().contains("GATE_INSUFFICIENT_DATA"));
        assert!(settings(&[("GATE_AUTO_APPROVE", "yes")]).is_err());
    }

    #[test]
    fn an_actions_parameters_override_the_environments_checks() {
        let base = settings(&[("GATE_ALARMS", "5xx"), ("GATE_STAGING_GROUP", "web-staging")]).unwrap().checks;
        let p = ActionParameters::parse(Some(
            r#"{"pipeline":"release","pipelineExecutionId":"x-1","alarms":["prod-5xx"],"stagingGroup":"","insufficientData":"pass"}"#,
        ))
        .unwrap();
        let checks = p.checks(&base).unwrap();
        assert_eq!(checks.alarms, ["prod-5xx"]);
        assert!(checks.staging_group.is_none(), "an empty group turns the staging checks off");
        assert!(checks.insufficient_data_passes);
        let bad = ActionParameters::parse(Some(r#"{"pipeline":"release","window":{"timeZone":"Mars/Olympus"}}"#)).unwrap();
        assert!(bad.checks(&base).unwrap_err().to_string().contains("`window`"));
    }

    #[test]
    fn unresolved_variables_and_unknown_fields_are_refused() {
        assert!(ActionParameters::parse(Some(EXAMPLE)).unwrap_err().to_string().contains("pipelineExecutionId"));
        assert!(ActionParameters::parse(Some(r#"{"pipeline":"release","colour":"red"}"#)).is_err());
        assert!(ActionParameters::parse(Some(r#"{"pipeline":" "}"#)).unwrap_err().to_string().contains("pipeline"));
    }

    #[test]
    fn names_longer_than_aws_allows_are_refused_naming_the_limit() {
        let long_pipeline = format!(r#"{{"pipeline":"{}"}}"#, "p".repeat(101));
        let err = ActionParameters::parse(Some(&long_pipeline)).unwrap_err().to_string();
        assert!(err.ends_with("CodePipeline pipeline names are at most 100 characters"), "{err}");
        let long_group = format!(r#"{{"pipeline":"release","stagingGroup":"{}"}}"#, "g".repeat(256));
        assert!(ActionParameters::parse(Some(&long_group)).unwrap_err().to_string().contains("`stagingGroup`"));
        let long_alarm = format!(r#"{{"pipeline":"release","alarms":["ok","{}"]}}"#, "a".repeat(256));
        assert!(ActionParameters::parse(Some(&long_alarm)).unwrap_err().to_string().contains("CloudWatch alarm names are at most 255"));
    }
}
