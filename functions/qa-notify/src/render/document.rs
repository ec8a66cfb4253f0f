//! The `sqs` / `lambda` body: a versioned JSON document with every fact, for programs.

use serde_json::{json, Value};

use super::DOCUMENT_VERSION;
use crate::notice::Notice;

pub fn document(n: &Notice) -> Value {
    json!({
        "schemaVersion": DOCUMENT_VERSION,
        "kind": n.kind.as_str(),
        "pipeline": n.pipeline,
        "region": n.region,
        "executionId": n.execution_id,
        "environment": n.environment,
        "environmentUrl": n.environment_url,
        "occurredAt": n.occurred_at,
        "release": {
            "commitId": n.release.commit_id,
            "shortCommitId": n.release.short_commit(),
            "commitMessage": n.release.message,
            "branch": n.release.branch,
            "revisionUrl": n.release.url,
        },
        "approval": n.approval.as_ref().map(|a| json!({"reviewUrl": a.review_url, "expires": a.expires})),
        "rejection": n.rejection.as_ref().map(|r| json!({"by": r.by, "summary": r.summary, "expired": r.expired})),
        "failure": n.failure.as_ref().map(|f| json!({"stage": f.stage, "action": f.action, "summary": f.summary})),
        "links": {
            "execution": n.execution_id.as_ref().map(|e| crate::links::execution(&n.region, &n.pipeline, e)),
            "pipeline": crate::links::pipeline(&n.region, &n.pipeline),
        },
        "headline": super::text::headline(n),
    })
}
