//! The human formats: `default` (plain text any subscriber can show), `email` (a readable
//! letter) and `sms` (one line).

use std::fmt::Write;

use crate::notice::Notice;
use crate::trigger::Kind;

/// SMS: one line a phone shows whole.
pub const MAX_SMS_CHARS: usize = 140;

/// What happened, in one sentence.
pub fn headline(n: &Notice) -> String {
    let release = match n.release.short_commit() {
        Some(commit) => format!("Release {commit}"),
        None => "The release".to_owned(),
    };
    let on = n.environment.as_deref().map(|e| format!(" on {e}")).unwrap_or_default();
    let mut line = match n.kind {
        Kind::ReadyForQa => format!("{release} of {} is ready for QA{on}", n.pipeline),
        Kind::Deployed => format!("{release} of {} is live{on}", n.pipeline),
        Kind::ApprovalRejected => match &n.rejection {
            Some(r) if r.expired => format!("The QA approval of {} ({}) expired without an answer", release.to_lowercase(), n.pipeline),
            Some(r) => {
                format!("{release} of {} was rejected at QA{}", n.pipeline, r.by.as_deref().map(|b| format!(" by {b}")).unwrap_or_default())
            }
            None => format!("{release} of {} was rejected at QA", n.pipeline),
        },
        Kind::DeploymentFailed => match &n.failure {
            Some(f) => format!(
                "{release} of {} failed in {}{}",
                n.pipeline,
                f.stage,
                f.action.as_deref().map(|a| format!(" (action {a})")).unwrap_or_default()
            ),
            None => format!("{release} of {} failed", n.pipeline),
        },
    };
    if let Some(title) = n.release.headline() {
        let _ = write!(line, ": \"{title}\"");
    }
    line
}

/// Why, in the words of whoever said so, when there is a why.
fn reason(n: &Notice) -> Option<&str> {
    n.rejection.as_ref().and_then(|r| r.summary.as_deref()).or(n.failure.as_ref().and_then(|f| f.summary.as_deref()))
}

pub fn default(n: &Notice) -> String {
    let mut out = format!("{}.", headline(n));
    if let Some(reason) = reason(n) {
        let _ = write!(out, " Reason: {reason}");
    }
    for (label, url) in links(n) {
        let _ = write!(out, "\n{label}: {url}");
    }
    out
}

pub fn email(n: &Notice) -> String {
    let mut out = format!("{}.\n\n", headline(n));
    let mut row = |label: &str, value: &str| {
        let _ = writeln!(out, "{:<13} {value}", format!("{label}:"));
    };
    if let Some(reason) = reason(n) {
        row("Reason", reason);
    }
    for (label, url) in links(n) {
        row(label, &url);
    }
    if let Some(expires) = n.approval.as_ref().and_then(|a| a.expires.as_deref()) {
        row("Expires", &format!("{expires} (the approval fails by itself after this)"));
    }
    if let Some(commit) = &n.release.commit_id {
        match &n.release.branch {
            Some(branch) => row("Release", &format!("{commit} (branch {branch})")),
            None => row("Release", commit),
        }
    }
    if let Some(url) = &n.release.url {
        row("Commit", url);
    }
    row("Pipeline", &format!("{} ({})", n.pipeline, n.region));
    if let Some(at) = &n.occurred_at {
        row("When", at);
    }
    if let Some(message) = &n.release.message {
        let _ = write!(out, "\nCommit message:\n\n{}\n", message.trim_end());
    }
    out
}

pub fn sms(n: &Notice) -> String {
    let line = format!("[{}] {}", n.kind.as_str(), headline(n));
    let line: String = line.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= MAX_SMS_CHARS {
        return line;
    }
    let kept: String = line.chars().take(MAX_SMS_CHARS - 1).collect();
    format!("{}…", kept.trim_end())
}

/// Where to click, in the order QA works: test, then approve, then the details.
pub fn links(n: &Notice) -> Vec<(&'static str, String)> {
    let mut links = Vec::new();
    if let Some(url) = &n.environment_url {
        links.push((if n.kind == Kind::ReadyForQa { "Test it at" } else { "Environment" }, url.clone()));
    }
    if let Some(approval) = &n.approval {
        links.push(("Approve at", approval.review_url.clone()));
    }
    if let Some(execution) = &n.execution_id {
        links.push(("Execution", crate::links::execution(&n.region, &n.pipeline, execution)));
    } else {
        links.push(("Pipeline page", crate::links::pipeline(&n.region, &n.pipeline)));
    }
    links
}
