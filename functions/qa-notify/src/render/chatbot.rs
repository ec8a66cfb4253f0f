//! The `https` body: an AWS Chatbot (Amazon Q Developer in chat applications) custom
//! notification, so a Slack or Teams channel shows a formatted card. One thread per
//! pipeline execution, so a release's messages stay together.

use serde_json::{json, Value};

use super::text::{headline, links};
use crate::notice::Notice;

pub fn custom_notification(n: &Notice) -> Value {
    let mut description = String::new();
    if let Some(r) = n.rejection.as_ref().and_then(|r| r.summary.as_deref()) {
        description.push_str(&format!("*Reason:* {r}\n"));
    }
    if let Some(f) = n.failure.as_ref().and_then(|f| f.summary.as_deref()) {
        description.push_str(&format!("*Error:* {f}\n"));
    }
    if let Some(commit) = &n.release.commit_id {
        description.push_str(&format!("*Release:* `{commit}`"));
        if let Some(branch) = &n.release.branch {
            description.push_str(&format!(" on `{branch}`"));
        }
        description.push('\n');
    }
    if let Some(expires) = n.approval.as_ref().and_then(|a| a.expires.as_deref()) {
        description.push_str(&format!("*Approval expires:* {expires}\n"));
    }
    let next_steps: Vec<String> = links(n).into_iter().map(|(label, url)| format!("<{url}|{label}>")).collect();
    let mut keywords = vec![n.kind.as_str().to_owned(), n.pipeline.clone()];
    keywords.extend(n.environment.clone());
    json!({
        "version": "1.0",
        "source": "custom",
        "content": {
            "textType": "client-markdown",
            "title": headline(n),
            "description": description.trim_end(),
            "nextSteps": next_steps,
            "keywords": keywords,
        },
        "metadata": {
            "threadId": n.execution_id.clone().unwrap_or_else(|| n.pipeline.clone()),
            "summary": headline(n),
            "eventType": n.kind.as_str(),
            "relatedResources": [],
            "additionalContext": {
                "pipeline": n.pipeline,
                "environment": n.environment,
                "commitId": n.release.commit_id,
            },
        },
    })
}
