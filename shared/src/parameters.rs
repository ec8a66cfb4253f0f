//! Typed `UserParameters`: JSON in, a struct out, or an error that names the field.

use serde::de::DeserializeOwned;

use crate::codepipeline::JobFailure;

/// Why `UserParameters` could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParameterError {
    #[error("UserParameters are missing: this action needs a JSON object, e.g. {example}")]
    Missing { example: &'static str },
    #[error("UserParameters are not valid JSON ({reason}); CodePipeline variables such as #{{SourceVariables.CommitId}} must sit inside quoted strings")]
    NotJson { reason: String },
    #[error("UserParameters must be a JSON object, e.g. {example}; got {got}")]
    NotObject { example: &'static str, got: &'static str },
    #[error("UserParameters field `{field}`: {reason}")]
    Field { field: String, reason: String },
}

impl ParameterError {
    /// An error about one field, for checks that serde cannot express (ranges, orderings).
    pub fn field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ParameterError::Field { field: field.into(), reason: reason.into() }
    }
}

impl From<ParameterError> for JobFailure {
    fn from(err: ParameterError) -> Self {
        JobFailure::configuration(err.to_string())
    }
}

/// Parses `raw` into `T`. Structs meant for this should use `deny_unknown_fields`, so a
/// misspelt option fails loudly instead of silently taking its default.
pub fn parse<T: DeserializeOwned>(raw: Option<&str>, example: &'static str) -> Result<T, ParameterError> {
    let raw = raw.map(str::trim).filter(|r| !r.is_empty()).ok_or(ParameterError::Missing { example })?;
    let value = serde_json::from_str::<serde_json::Value>(raw).map_err(|e| ParameterError::NotJson { reason: e.to_string() })?;
    let got = match &value {
        serde_json::Value::Object(_) => None,
        serde_json::Value::Array(_) => Some("an array"),
        serde_json::Value::String(_) => Some("a string"),
        serde_json::Value::Number(_) => Some("a number"),
        serde_json::Value::Bool(_) => Some("true or false"),
        serde_json::Value::Null => Some("null"),
    };
    if let Some(got) = got {
        // serde's own words ("invalid type: sequence, expected struct RefreshParameters") name a
        // Rust type, not what to write.
        return Err(ParameterError::NotObject { example, got });
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let reason = strip_position(&e.inner().to_string());
        if path == "." {
            // Missing and unknown fields are reported by serde at the enclosing object.
            ParameterError::Field { field: field_named_in(&reason).unwrap_or_else(|| "(top level)".into()), reason }
        } else {
            ParameterError::Field { field: path, reason }
        }
    })
}

/// `value` must not still hold a `#{Namespace.Name}`: CodePipeline leaves a variable it cannot
/// resolve (a wrong namespace or name) as written.
pub fn resolved(field: &str, value: &str) -> Result<(), ParameterError> {
    if value.contains("#{") {
        return Err(ParameterError::field(
            field,
            format!("`{value}` holds a CodePipeline variable that was not resolved; check its namespace and name"),
        ));
    }
    Ok(())
}

/// `value` must be neither blank nor an unresolved variable.
pub fn filled(field: &str, value: &str) -> Result<(), ParameterError> {
    if value.trim().is_empty() {
        return Err(ParameterError::field(field, "must not be empty"));
    }
    resolved(field, value)
}

/// An AWS name's length limit, with what it names for the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameLimit {
    pub max: usize,
    pub what: &'static str,
}

/// AutoScalingGroupName: `XmlStringMaxLen255` in Auto Scaling's API model.
pub const GROUP_NAME: NameLimit = NameLimit { max: 255, what: "Auto Scaling group names" };
/// PipelineName: at most 100 characters (CodePipeline's API model).
pub const PIPELINE_NAME: NameLimit = NameLimit { max: 100, what: "CodePipeline pipeline names" };
/// AlarmName: at most 255 characters (CloudWatch's API model).
pub const ALARM_NAME: NameLimit = NameLimit { max: 255, what: "CloudWatch alarm names" };

/// `value` must fit AWS's limit for the name it is: refused here, naming the limit, rather
/// than by AWS with a message about a request the user never wrote.
pub fn within(field: &str, value: &str, limit: NameLimit) -> Result<(), ParameterError> {
    let length = value.chars().count();
    if length > limit.max {
        return Err(ParameterError::field(
            field,
            format!("is {length} characters long; {} are at most {} characters", limit.what, limit.max),
        ));
    }
    Ok(())
}

/// serde_json appends " at line 1 column 42", which means nothing to someone editing a
/// pipeline action's parameters.
pub(crate) fn strip_position(reason: &str) -> String {
    match reason.rfind(" at line ") {
        Some(i) => reason[..i].to_owned(),
        None => reason.to_owned(),
    }
}

fn field_named_in(reason: &str) -> Option<String> {
    let start = reason.find('`')? + 1;
    let len = reason[start..].find('`')?;
    Some(reason[start..start + len].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blank_value_or_an_unresolved_variable_is_refused_naming_the_field() {
        assert_eq!(filled("stage", " ").unwrap_err().to_string(), "UserParameters field `stage`: must not be empty");
        let err = filled("stage", "#{variables.Stage}").unwrap_err().to_string();
        assert!(err.contains("`#{variables.Stage}` holds a CodePipeline variable that was not resolved"), "{err}");
        assert!(resolved("release.branch", "").is_ok(), "resolved alone allows blank");
        assert!(filled("stage", "staging").is_ok() && resolved("stage", "staging").is_ok());
    }
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Params {
        group: String,
        #[serde(default)]
        nested: Option<Nested>,
    }
    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Nested {
        percent: u8,
    }

    const EXAMPLE: &str = r#"{"group":"web"}"#;

    #[test]
    fn valid_parameters_parse() {
        let p: Params = parse(Some(r#"{"group":"web","nested":{"percent":5}}"#), EXAMPLE).unwrap();
        assert_eq!(p.nested, Some(Nested { percent: 5 }));
    }

    #[test]
    fn a_name_longer_than_aws_allows_is_refused_naming_the_limit() {
        let err = within("autoScalingGroupName", &"g".repeat(5_000), GROUP_NAME).unwrap_err();
        assert_eq!(
            err.to_string(),
            "UserParameters field `autoScalingGroupName`: is 5000 characters long; Auto Scaling group names are at most 255 characters"
        );
        assert!(within("pipeline", &"p".repeat(100), PIPELINE_NAME).is_ok(), "the limit itself is allowed");
        assert!(within("pipeline", &"p".repeat(101), PIPELINE_NAME).is_err());
        assert!(within("alarms", &"é".repeat(255), ALARM_NAME).is_ok(), "characters, not bytes");
    }

    #[test]
    fn json_that_is_not_an_object_is_refused_saying_what_it_is() {
        for (raw, got) in [("[1]", "an array"), ("\"web\"", "a string"), ("42", "a number"), ("true", "true or false"), ("null", "null")] {
            let err = parse::<Params>(Some(raw), EXAMPLE).unwrap_err();
            assert_eq!(err.to_string(), format!("UserParameters must be a JSON object, e.g. {EXAMPLE}; got {got}"));
        }
    }

    #[test]
    fn missing_parameters_show_an_example() {
        let err = parse::<Params>(Some("  "), EXAMPLE).unwrap_err();
        assert!(err.to_string().contains(EXAMPLE), "{err}");
    }

    #[test]
    fn unquoted_variables_are_explained() {
        let err = parse::<Params>(Some(r#"{"group": #{Vars.X}}"#), EXAMPLE).unwrap_err();
        assert!(matches!(err, ParameterError::NotJson { .. }));
        assert!(err.to_string().contains("quoted strings"));
    }

    #[test]
    fn a_wrong_type_names_the_nested_field_and_what_was_expected() {
        let err = parse::<Params>(Some(r#"{"group":"web","nested":{"percent":"five"}}"#), EXAMPLE).unwrap_err();
        assert_eq!(err, ParameterError::field("nested.percent", "invalid type: string \"five\", expected u8"));
    }

    #[test]
    fn a_misspelt_field_is_rejected_by_name() {
        let err = parse::<Params>(Some(r#"{"group":"web","nestd":{}}"#), EXAMPLE).unwrap_err();
        let ParameterError::Field { field, reason } = err else { panic!("{err:?}") };
        assert_eq!(field, "nestd");
        assert!(reason.starts_with("unknown field `nestd`, expected"), "{reason}");
    }

    #[test]
    fn a_missing_field_is_named() {
        let err = parse::<Params>(Some("{}"), EXAMPLE).unwrap_err();
        assert_eq!(err, ParameterError::field("group", "missing field `group`"));
    }
}
