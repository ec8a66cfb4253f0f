//! What happened, as plain data: everything a message says, before any format is chosen.

use aws_smithy_types::date_time::{DateTime, Format};
use serde_json::Value;

use crate::trigger::Kind;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub kind: Kind,
    pub pipeline: String,
    pub region: String,
    pub execution_id: Option<String>,
    /// The environment the message is about: where QA tests, where it went live, or where it failed.
    pub environment: Option<String>,
    pub environment_url: Option<String>,
    pub release: Release,
    pub approval: Option<ApprovalRequest>,
    pub rejection: Option<Rejection>,
    pub failure: Option<Failure>,
    /// When it happened, RFC 3339.
    pub occurred_at: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Release {
    pub commit_id: Option<String>,
    pub message: Option<String>,
    pub branch: Option<String>,
    /// The revision's page (CodeConnections gives the commit's URL).
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRequest {
    pub review_url: String,
    /// RFC 3339; unknown when the approval's start time is.
    pub expires: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Who answered (an IAM identity), when CodePipeline says.
    pub by: Option<String>,
    pub summary: Option<String>,
    /// Nobody answered in time: CodePipeline failed it.
    pub expired: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub stage: String,
    pub action: Option<String>,
    pub summary: Option<String>,
}

impl Release {
    /// Git's short form, for subjects and one-liners.
    pub fn short_commit(&self) -> Option<&str> {
        self.commit_id.as_deref().map(|c| c.get(..7).unwrap_or(c))
    }

    /// The commit message's first line.
    pub fn headline(&self) -> Option<&str> {
        self.message.as_deref().and_then(|m| m.lines().map(str::trim).find(|l| !l.is_empty()))
    }

    /// From a pipeline execution's artifact revision. For CodeConnections (GitHub, GitLab,
    /// Bitbucket) sources, `revisionSummary` is a JSON string whose `CommitMessage` is the message.
    pub fn from_revision(revision_id: Option<&str>, summary: Option<&str>, url: Option<&str>) -> Release {
        let message = summary.map(|s| match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(fields)) => fields.get("CommitMessage").and_then(Value::as_str).unwrap_or(s).to_owned(),
            _ => s.to_owned(),
        });
        Release {
            commit_id: revision_id.map(str::to_owned),
            message: message.filter(|m| !m.trim().is_empty()),
            branch: None,
            url: url.map(str::to_owned),
        }
    }

    /// `self`, with what it lacks taken from `other`.
    pub fn or(self, other: Release) -> Release {
        Release {
            commit_id: self.commit_id.or(other.commit_id),
            message: self.message.or(other.message),
            branch: self.branch.or(other.branch),
            url: self.url.or(other.url),
        }
    }
}

/// When an approval that started at `started` (RFC 3339) expires, `timeout_minutes` later.
pub fn expiry(started: &str, timeout_minutes: i64) -> Option<String> {
    let started = DateTime::from_str(started, Format::DateTime).ok()?;
    DateTime::from_secs(started.secs() + timeout_minutes * 60).fmt(Format::DateTime).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_codeconnections_revision_summary_gives_the_commit_message() {
        let r = Release::from_revision(
            Some("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b"),
            Some(r#"{"ProviderType":"GitHub","CommitMessage":"Fix checkout totals\n\nRounding was off by a cent."}"#),
            Some("https://github.com/shop/web/commit/9f86d08"),
        );
        assert_eq!(r.short_commit(), Some("9f86d08"));
        assert_eq!(r.headline(), Some("Fix checkout totals"));
        assert_eq!(r.url.as_deref(), Some("https://github.com/shop/web/commit/9f86d08"));
    }

    #[test]
    fn a_plain_summary_is_the_message_and_a_blank_one_none() {
        assert_eq!(Release::from_revision(None, Some("  \nUpgrade Rails\n"), None).headline(), Some("Upgrade Rails"));
        assert_eq!(Release::from_revision(None, Some("  "), None).message, None);
        assert_eq!(Release::from_revision(Some("abc"), None, None).short_commit(), Some("abc"), "short ids stay whole");
    }

    #[test]
    fn parameters_win_and_the_execution_fills_the_gaps() {
        let from_params = Release { commit_id: Some("c1".into()), branch: Some("main".into()), ..Release::default() };
        let from_execution = Release { commit_id: Some("c2".into()), message: Some("m".into()), ..Release::default() };
        let merged = from_params.or(from_execution);
        assert_eq!(
            (merged.commit_id.as_deref(), merged.message.as_deref(), merged.branch.as_deref()),
            (Some("c1"), Some("m"), Some("main"))
        );
    }

    #[test]
    fn an_approval_expires_its_timeout_after_it_started() {
        assert_eq!(expiry("2026-11-26T10:00:00Z", 7 * 24 * 60).as_deref(), Some("2026-12-03T10:00:00Z"));
        assert_eq!(expiry("2026-11-26T10:00:00.123Z", 5).as_deref(), Some("2026-11-26T10:05:00Z"));
        assert_eq!(expiry("yesterday", 5), None);
    }
}
