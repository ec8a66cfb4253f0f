//! The e-mail subject. SNS refuses one that is not ASCII, holds a line break or control
//! character, does not begin with a letter, number or punctuation, or reaches 100 characters.

use crate::notice::Notice;
use crate::trigger::Kind;

/// SNS: "must be less than 100 characters long".
pub const MAX_SUBJECT_CHARS: usize = 99;

pub fn subject(n: &Notice) -> String {
    let what = match n.kind {
        Kind::ReadyForQa => "Ready for QA",
        Kind::ApprovalRejected if n.rejection.as_ref().is_some_and(|r| r.expired) => "QA approval expired",
        Kind::ApprovalRejected => "Rejected at QA",
        Kind::DeploymentFailed => "Deployment failed",
        Kind::Deployed => "Deployed",
    };
    let mut parts = vec![what.to_owned(), n.pipeline.clone()];
    parts.extend(n.environment.clone());
    parts.extend(n.release.short_commit().map(str::to_owned));
    sanitise(&parts.join(" "))
}

/// Any text made into a subject SNS accepts: ASCII only (others become `?`), whitespace and
/// control characters as single spaces, starting with a printable character, at most 99 characters.
pub fn sanitise(text: &str) -> String {
    let ascii: String = text
        .chars()
        .map(|c| match c {
            c if c.is_ascii_graphic() => c,
            c if c.is_whitespace() || c.is_control() => ' ',
            _ => '?',
        })
        .collect();
    let mut clean = ascii.split_whitespace().collect::<Vec<_>>().join(" ");
    if clean.is_empty() {
        clean = "qa-notify".to_owned();
    }
    if clean.len() > MAX_SUBJECT_CHARS {
        clean.truncate(MAX_SUBJECT_CHARS - 3);
        clean = format!("{}...", clean.trim_end());
    }
    clean
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_ascii_becomes_question_marks_and_line_breaks_spaces() {
        assert_eq!(sanitise("Prêt pour QA:\r\nrelease\tstaging"), "Pr?t pour QA: release staging");
        assert_eq!(sanitise("🚀 deploy"), "? deploy");
        assert_eq!(sanitise("\u{7}bell"), "bell", "a control character is never the first");
    }

    #[test]
    fn a_long_subject_is_cut_below_100_characters() {
        let long = sanitise(&"x".repeat(300));
        assert_eq!(long.len(), 99);
        assert!(long.ends_with("...") && long.is_ascii());
        assert_eq!(sanitise(&"y".repeat(99)), "y".repeat(99), "99 characters are kept whole");
        assert_eq!(sanitise(&"y".repeat(100)).len(), 99);
    }

    #[test]
    fn an_empty_subject_still_names_the_sender() {
        assert_eq!(sanitise(" \n "), "qa-notify");
    }
}
