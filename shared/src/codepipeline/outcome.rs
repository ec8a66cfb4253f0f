//! The one job-outcome type every CodePipeline-invoked function answers with.

use std::collections::BTreeMap;
use std::fmt;

/// CodePipeline's limit on a continuation token.
pub const MAX_CONTINUATION_TOKEN_CHARS: usize = 2048;
/// CodePipeline's limit on a failure message.
pub(crate) const MAX_FAILURE_MESSAGE_CHARS: usize = 5000;
/// CodePipeline's limit on an execution summary.
pub(crate) const MAX_SUMMARY_CHARS: usize = 2048;

pub type OutputVariables = BTreeMap<String, String>;

/// What a function decided about a job. Exactly one is reported per invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    /// The action is finished; `output_variables` become `#{Namespace.Key}` downstream.
    Succeeded {
        summary: String,
        output_variables: OutputVariables,
    },
    /// Still working: CodePipeline re-invokes us with `continuation_token`.
    InProgress {
        summary: String,
        continuation_token: String,
        percent_complete: u8,
    },
    Failed(JobFailure),
}

/// A job failure: CodePipeline's failure type and a message a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct JobFailure {
    pub kind: FailureKind,
    pub message: String,
}

impl JobFailure {
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        JobFailure { kind, message: message.into() }
    }
    pub fn configuration(message: impl Into<String>) -> Self {
        Self::new(FailureKind::ConfigurationError, message)
    }
    pub fn job_failed(message: impl Into<String>) -> Self {
        Self::new(FailureKind::JobFailed, message)
    }
}

impl From<JobFailure> for JobOutcome {
    fn from(failure: JobFailure) -> Self {
        JobOutcome::Failed(failure)
    }
}

/// CodePipeline's `FailureType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    JobFailed,
    ConfigurationError,
    PermissionError,
    SystemUnavailable,
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailureKind::JobFailed => "JobFailed",
            FailureKind::ConfigurationError => "ConfigurationError",
            FailureKind::PermissionError => "PermissionError",
            FailureKind::SystemUnavailable => "SystemUnavailable",
        })
    }
}

/// Shortens `text` to at most `max` characters on a character boundary, marking the cut.
pub(crate) fn truncate_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    const MARK: &str = " …[truncated]";
    let keep = max.saturating_sub(MARK.chars().count());
    let mut out: String = text.chars().take(keep).collect();
    out.push_str(MARK);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_on_a_character_boundary_within_the_limit() {
        let text = "é".repeat(6000);
        let cut = truncate_chars(&text, MAX_FAILURE_MESSAGE_CHARS);
        assert_eq!(cut.chars().count(), MAX_FAILURE_MESSAGE_CHARS);
        assert!(cut.ends_with("[truncated]"));
        assert_eq!(truncate_chars("short", 10), "short");
    }
}
