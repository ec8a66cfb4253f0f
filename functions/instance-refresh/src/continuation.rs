//! What one invocation hands the next through CodePipeline's continuation token.

use serde::{Deserialize, Serialize};
use shared::codepipeline::MAX_CONTINUATION_TOKEN_CHARS;

/// The refresh this job is tracking. Self-contained: a re-invocation needs nothing else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackedRefresh {
    /// Format version, so a token from an older deployment of this function is recognised.
    pub v: u8,
    pub refresh_id: String,
    pub auto_scaling_group_name: String,
    pub launch_template_version: i64,
    pub release_id: String,
    /// RFC 3339, for summaries.
    pub started_at: String,
    /// The parameters asked for a partial rollout, so a refresh that ends Successful with part
    /// of the group left is this job's success, not its failure. Absent in tokens written
    /// before the parameter existed: those jobs never meant one.
    #[serde(default)]
    pub partial_rollout: bool,
    /// Where to record the version once the whole group runs it (UserParameters `releaseParameter`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_parameter: Option<String>,
}

pub const TOKEN_VERSION: u8 = 1;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContinuationError {
    #[error("the continuation token from CodePipeline is not one this function wrote ({0}); re-run the action to start over")]
    Unreadable(String),
    #[error("the continuation token would be {0} characters; CodePipeline accepts at most {MAX_CONTINUATION_TOKEN_CHARS}")]
    TooLong(usize),
}

impl TrackedRefresh {
    pub fn to_token(&self) -> Result<String, ContinuationError> {
        let token = serde_json::to_string(self).expect("plain struct serialises");
        match token.chars().count() {
            n if n > MAX_CONTINUATION_TOKEN_CHARS => Err(ContinuationError::TooLong(n)),
            _ => Ok(token),
        }
    }

    pub fn from_token(token: &str) -> Result<Self, ContinuationError> {
        let tracked: TrackedRefresh = serde_json::from_str(token).map_err(|e| ContinuationError::Unreadable(e.to_string()))?;
        if tracked.v != TOKEN_VERSION {
            return Err(ContinuationError::Unreadable(format!("format version {}", tracked.v)));
        }
        Ok(tracked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracked() -> TrackedRefresh {
        TrackedRefresh {
            v: TOKEN_VERSION,
            refresh_id: "08b91cf7-8fa6-48af-b6a6-d227f40f1b9b".into(),
            auto_scaling_group_name: "web-production".into(),
            launch_template_version: 42,
            release_id: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b".into(),
            started_at: "2026-11-25T10:00:00Z".into(),
            partial_rollout: true,
            release_parameter: Some("/deploy/release/web-production".into()),
        }
    }

    #[test]
    fn a_token_round_trips() {
        let t = tracked();
        assert_eq!(TrackedRefresh::from_token(&t.to_token().unwrap()).unwrap(), t);
    }

    #[test]
    fn a_token_from_before_partial_rollouts_still_reads_as_a_whole_group_rollout() {
        let old = r#"{"v":1,"refreshId":"r-1","autoScalingGroupName":"web","launchTemplateVersion":2,"releaseId":"c0ffee","startedAt":"2026-11-25T10:00:00Z"}"#;
        let tracked = TrackedRefresh::from_token(old).unwrap();
        assert!(!tracked.partial_rollout);
        assert_eq!(tracked.refresh_id, "r-1");
    }

    #[test]
    fn a_token_of_exactly_codepipelines_2048_characters_is_kept_and_one_more_refused() {
        let mut t = tracked();
        let base = t.to_token().unwrap().chars().count();
        t.release_id.push_str(&"x".repeat(MAX_CONTINUATION_TOKEN_CHARS - base));
        assert_eq!(t.to_token().unwrap().chars().count(), MAX_CONTINUATION_TOKEN_CHARS);
        t.release_id.push('x');
        assert_eq!(t.to_token(), Err(ContinuationError::TooLong(MAX_CONTINUATION_TOKEN_CHARS + 1)));
    }

    #[test]
    fn a_foreign_token_is_unreadable() {
        assert!(matches!(TrackedRefresh::from_token("opaque"), Err(ContinuationError::Unreadable(_))));
        let mut t = tracked();
        t.v = 9;
        let err = TrackedRefresh::from_token(&serde_json::to_string(&t).unwrap()).unwrap_err();
        assert!(err.to_string().contains("format version 9"));
    }

    #[test]
    fn a_token_over_the_codepipeline_limit_is_refused() {
        let mut t = tracked();
        t.auto_scaling_group_name = "g".repeat(2000);
        assert!(matches!(t.to_token(), Err(ContinuationError::TooLong(_))));
    }
}
