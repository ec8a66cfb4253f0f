//! What the template configures, from environment variables read once at init.

use std::collections::BTreeMap;

/// The topic and what to watch; see README "qa-notify" for each variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub topic_arn: String,
    pub watch: Watch,
    /// Environment (stage) name → the URL people test it at.
    pub environment_urls: BTreeMap<String, String>,
    /// The DynamoDB table recording notices sent (`QA_NOTIFY_SENT_TABLE`), so a notice
    /// delivered twice is sent once; without it every delivery publishes.
    pub sent_table: Option<String>,
}

/// Which events concern us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watch {
    /// Pipelines to report on; empty: every pipeline whose events reach the function.
    pub pipelines: Vec<String>,
    pub approval_stage: String,
    pub approval_action: String,
    /// The environment QA tests while the approval waits (its URL goes in ready-for-qa).
    pub qa_environment: String,
}

impl Watch {
    pub fn watches(&self, pipeline: &str) -> bool {
        self.pipelines.is_empty() || self.pipelines.iter().any(|p| p == pipeline)
    }

    pub fn is_approval(&self, stage: &str, action: &str) -> bool {
        stage == self.approval_stage && action == self.approval_action
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("QA_NOTIFY_TOPIC_ARN is not set: set it to the SNS topic qa-notify publishes to (the template does)")]
    MissingTopic,
    #[error("QA_NOTIFY_TOPIC_ARN `{0}` is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)")]
    BadTopic(String),
    #[error("QA_NOTIFY_ENVIRONMENT_URLS must be a JSON object of environment name to URL, e.g. {{\"staging\":\"https://staging.example.com\"}}: {0}")]
    BadEnvironmentUrls(String),
}

impl Settings {
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingsError> {
        let set = |key: &str| var(key).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let topic_arn = set("QA_NOTIFY_TOPIC_ARN").ok_or(SettingsError::MissingTopic)?;
        if topic_arn.split(':').count() != 6 || !topic_arn.starts_with("arn:") || topic_arn.split(':').nth(2) != Some("sns") {
            return Err(SettingsError::BadTopic(topic_arn));
        }
        let environment_urls = match set("QA_NOTIFY_ENVIRONMENT_URLS") {
            None => BTreeMap::new(),
            // A blank URL is an environment without one (the template passes every URL parameter).
            Some(raw) => serde_json::from_str::<BTreeMap<String, String>>(&raw)
                .map_err(|e| SettingsError::BadEnvironmentUrls(e.to_string()))?
                .into_iter()
                .filter(|(_, url)| !url.trim().is_empty())
                .collect(),
        };
        let pipelines = set("QA_NOTIFY_PIPELINES")
            .map(|raw| raw.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default();
        Ok(Settings {
            topic_arn,
            watch: Watch {
                pipelines,
                approval_stage: set("QA_NOTIFY_APPROVAL_STAGE").unwrap_or_else(|| "Approval".to_owned()),
                approval_action: set("QA_NOTIFY_APPROVAL_ACTION").unwrap_or_else(|| "QA".to_owned()),
                qa_environment: set("QA_NOTIFY_QA_ENVIRONMENT").unwrap_or_else(|| "staging".to_owned()),
            },
            environment_urls,
            sent_table: set("QA_NOTIFY_SENT_TABLE"),
        })
    }

    /// The topic's name, for summaries.
    pub fn topic_name(&self) -> &str {
        self.topic_arn.rsplit(':').next().unwrap_or(&self.topic_arn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:releases";

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        Settings::from_vars(|key| vars.iter().find(|(k, _)| *k == key).map(|(_, v)| (*v).to_owned()))
    }

    #[test]
    fn only_the_topic_is_required_and_the_rest_has_defaults() {
        let s = settings(&[("QA_NOTIFY_TOPIC_ARN", TOPIC)]).unwrap();
        assert_eq!(s.topic_name(), "releases");
        assert!(s.watch.watches("anything") && s.environment_urls.is_empty());
        assert!(s.watch.is_approval("Approval", "QA") && !s.watch.is_approval("Approval", "Other"));
        assert_eq!(s.watch.qa_environment, "staging");
    }

    #[test]
    fn a_missing_or_malformed_topic_says_what_to_set() {
        assert_eq!(settings(&[]), Err(SettingsError::MissingTopic));
        assert_eq!(settings(&[("QA_NOTIFY_TOPIC_ARN", "  ")]), Err(SettingsError::MissingTopic));
        assert!(matches!(settings(&[("QA_NOTIFY_TOPIC_ARN", "releases")]), Err(SettingsError::BadTopic(_))));
        assert!(matches!(settings(&[("QA_NOTIFY_TOPIC_ARN", "arn:aws:sqs:eu-west-1:1:q")]), Err(SettingsError::BadTopic(_))));
        assert!(matches!(settings(&[("QA_NOTIFY_TOPIC_ARN", "arn:aws:sns:eu-west-1:1")]), Err(SettingsError::BadTopic(_))), "five parts");
        assert!(matches!(settings(&[("QA_NOTIFY_TOPIC_ARN", "urn:aws:sns:eu-west-1:1:t")]), Err(SettingsError::BadTopic(_))), "not an ARN");
    }

    #[test]
    fn pipelines_stage_action_and_urls_are_read() {
        let s = settings(&[
            ("QA_NOTIFY_TOPIC_ARN", TOPIC),
            ("QA_NOTIFY_PIPELINES", "release, dev ,"),
            ("QA_NOTIFY_APPROVAL_STAGE", "QA"),
            ("QA_NOTIFY_APPROVAL_ACTION", "Sign-off"),
            ("QA_NOTIFY_QA_ENVIRONMENT", "uat"),
            ("QA_NOTIFY_ENVIRONMENT_URLS", r#"{"uat":"https://uat.example.com"}"#),
        ])
        .unwrap();
        assert_eq!(s.watch.pipelines, ["release", "dev"]);
        assert!(s.watch.watches("dev") && !s.watch.watches("other"));
        assert!(s.watch.is_approval("QA", "Sign-off"));
        assert_eq!(s.environment_urls["uat"], "https://uat.example.com");
        let blank = settings(&[("QA_NOTIFY_TOPIC_ARN", TOPIC), ("QA_NOTIFY_ENVIRONMENT_URLS", r#"{"dev":" ","staging":"https://s"}"#)]);
        assert_eq!(blank.unwrap().environment_urls.keys().collect::<Vec<_>>(), ["staging"], "a blank URL is no URL");
        let bad = settings(&[("QA_NOTIFY_TOPIC_ARN", TOPIC), ("QA_NOTIFY_ENVIRONMENT_URLS", "[1]")]);
        assert!(matches!(bad, Err(SettingsError::BadEnvironmentUrls(_))));
    }
}
