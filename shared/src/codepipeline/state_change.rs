//! CodePipeline's EventBridge events ("CodePipeline … State Change"), parsed with our own types.
//!
//! `aws_lambda_events` 1.2.1 types `detail.version` and `detail.type.version` as integers and
//! fails on the events CodePipeline sends today (`"version": 3.0`, `"type": {"version": "1"}`):
//! here `version` is any JSON number and `type.version` a string or a number. Only the fields
//! the functions use are read; unknown fields are ignored, as EventBridge adds fields freely.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

pub const ACTION_EXECUTION: &str = "CodePipeline Action Execution State Change";
pub const PIPELINE_EXECUTION: &str = "CodePipeline Pipeline Execution State Change";

/// One CodePipeline event from EventBridge, by its `detail-type`.
#[derive(Debug, Clone, PartialEq)]
pub enum PipelineEvent {
    Action(Box<Envelope<ActionExecution>>),
    Execution(Envelope<PipelineExecution>),
    /// Another detail type (stage changes, or not CodePipeline at all): nothing to do.
    Other {
        detail_type: String,
    },
}

/// The EventBridge envelope around a detail.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Envelope<D> {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub account: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    /// When the change happened, RFC 3339.
    #[serde(default)]
    pub time: Option<String>,
    pub detail: D,
}

/// `CodePipeline Action Execution State Change`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ActionExecution {
    pub pipeline: String,
    pub execution_id: String,
    pub stage: String,
    pub action: String,
    pub state: ExecutionState,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(rename = "type", default)]
    pub action_type: Option<ActionType>,
    #[serde(default)]
    pub version: Option<f64>,
    #[serde(default)]
    pub execution_result: Option<ExecutionResult>,
}

/// `CodePipeline Pipeline Execution State Change`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PipelineExecution {
    pub pipeline: String,
    pub execution_id: String,
    pub state: ExecutionState,
    #[serde(default)]
    pub version: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ActionType {
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub provider: Option<String>,
    /// A string (`"1"`) in current events, a number in older ones.
    #[serde(default, deserialize_with = "string_or_number")]
    pub version: Option<String>,
}

/// On an action's completion: what the action reported.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ExecutionResult {
    #[serde(default)]
    pub external_execution_url: Option<String>,
    #[serde(default)]
    pub external_execution_summary: Option<String>,
    #[serde(default)]
    pub external_execution_id: Option<String>,
    #[serde(default)]
    pub error_code: Option<String>,
}

/// States CodePipeline documents for pipelines, stages and actions.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionState {
    Started,
    Succeeded,
    Failed,
    Canceled,
    Superseded,
    Stopping,
    Stopped,
    Abandoned,
    Resumed,
    /// A state CodePipeline adds later: not acted on.
    #[serde(other)]
    Unknown,
}

/// Why an event could not be read, naming where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {detail_type} event is malformed at `{path}`: {reason}")]
pub struct PipelineEventError {
    pub detail_type: String,
    pub path: String,
    pub reason: String,
}

impl PipelineEvent {
    pub fn parse(event: &Value) -> Result<Self, PipelineEventError> {
        let detail_type = event.get("detail-type").and_then(Value::as_str).unwrap_or_default().to_owned();
        let from_codepipeline = event.get("source").and_then(Value::as_str) == Some("aws.codepipeline");
        match detail_type.as_str() {
            ACTION_EXECUTION if from_codepipeline => typed(event, &detail_type).map(|e| PipelineEvent::Action(Box::new(e))),
            PIPELINE_EXECUTION if from_codepipeline => typed(event, &detail_type).map(PipelineEvent::Execution),
            _ => Ok(PipelineEvent::Other { detail_type }),
        }
    }
}

fn typed<D: for<'de> Deserialize<'de>>(event: &Value, detail_type: &str) -> Result<Envelope<D>, PipelineEventError> {
    serde_path_to_error::deserialize(event).map_err(|err| PipelineEventError {
        detail_type: detail_type.to_owned(),
        path: err.path().to_string(),
        reason: crate::parameters::strip_position(&err.inner().to_string()),
    })
}

fn string_or_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(deserializer)? {
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn action_event(version: Value, type_version: Value) -> Value {
        json!({
            "version": "0", "id": "e-1", "detail-type": ACTION_EXECUTION, "source": "aws.codepipeline",
            "account": "123456789012", "time": "2026-11-26T10:00:00Z", "region": "eu-west-1", "resources": [],
            "detail": {
                "pipeline": "release", "execution-id": "3a7c1e52-6b0f-4e9a-9d1c-2f5e8b7a6c41", "stage": "Approval",
                "action": "QA", "state": "STARTED", "region": "eu-west-1",
                "type": {"owner": "AWS", "category": "Approval", "provider": "Manual", "version": type_version},
                "version": version, "pipeline-execution-attempt": 1.0, "start-time": "2026-11-26T09:58:00Z"
            }
        })
    }

    #[test]
    fn todays_action_event_with_a_float_version_and_a_string_type_version_parses() {
        let PipelineEvent::Action(event) = PipelineEvent::parse(&action_event(json!(3.0), json!("1"))).unwrap() else { panic!() };
        assert_eq!(event.detail.version, Some(3.0));
        assert_eq!(event.detail.action_type.unwrap().version.as_deref(), Some("1"));
        assert_eq!((event.detail.stage.as_str(), event.detail.action.as_str()), ("Approval", "QA"));
        assert_eq!(event.detail.state, ExecutionState::Started);
        assert_eq!(event.time.as_deref(), Some("2026-11-26T10:00:00Z"));
    }

    #[test]
    fn an_older_event_with_integer_versions_parses_too() {
        let PipelineEvent::Action(event) = PipelineEvent::parse(&action_event(json!(1), json!(1))).unwrap() else { panic!() };
        assert_eq!(event.detail.version, Some(1.0));
        assert_eq!(event.detail.action_type.unwrap().version.as_deref(), Some("1"));
    }

    #[test]
    fn a_state_codepipeline_adds_later_is_unknown_not_an_error() {
        let mut event = action_event(json!(3.0), json!("1"));
        event["detail"]["state"] = json!("PAUSED_FOR_A_NEW_REASON");
        let PipelineEvent::Action(event) = PipelineEvent::parse(&event).unwrap() else { panic!() };
        assert_eq!(event.detail.state, ExecutionState::Unknown);
    }

    #[test]
    fn a_pipeline_execution_event_parses_and_other_detail_types_are_other() {
        let execution = json!({
            "detail-type": PIPELINE_EXECUTION, "source": "aws.codepipeline",
            "detail": {"pipeline": "release", "execution-id": "x", "state": "FAILED", "version": 2.0}
        });
        let PipelineEvent::Execution(event) = PipelineEvent::parse(&execution).unwrap() else { panic!() };
        assert_eq!(event.detail.state, ExecutionState::Failed);
        let stage = json!({"detail-type": "CodePipeline Stage Execution State Change", "source": "aws.codepipeline", "detail": {}});
        assert_eq!(
            PipelineEvent::parse(&stage).unwrap(),
            PipelineEvent::Other { detail_type: "CodePipeline Stage Execution State Change".into() }
        );
        let spoofed = json!({"detail-type": ACTION_EXECUTION, "source": "my.app", "detail": {}});
        assert!(matches!(PipelineEvent::parse(&spoofed).unwrap(), PipelineEvent::Other { .. }), "only aws.codepipeline's events count");
    }

    #[test]
    fn a_malformed_event_names_the_field() {
        let mut event = action_event(json!(3.0), json!("1"));
        event["detail"].as_object_mut().unwrap().remove("execution-id");
        let err = PipelineEvent::parse(&event).unwrap_err();
        assert_eq!(err.path, "detail");
        assert!(err.reason.contains("missing field `execution-id`"), "{err}");
        assert!(err.to_string().starts_with("the CodePipeline Action Execution State Change event is malformed"), "{err}");
    }
}
