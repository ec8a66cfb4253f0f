//! Rendering, format by format, for one release; golden files under `tests/golden/` are the
//! reviewed output (regenerate with `UPDATE_GOLDEN=1 cargo test -p qa-notify`, then read the diff).

use serde_json::Value;

use super::*;
use crate::notice::{ApprovalRequest, Failure, Notice, Rejection, Release};
use crate::trigger::Kind;

pub(crate) fn ready_for_qa() -> Notice {
    Notice {
        kind: Kind::ReadyForQa,
        pipeline: "release".into(),
        region: "eu-west-1".into(),
        execution_id: Some("3a7c1e52-6b0f-4e9a-9d1c-2f5e8b7a6c41".into()),
        environment: Some("staging".into()),
        environment_url: Some("https://staging.shop.example.com".into()),
        release: Release {
            commit_id: Some("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b".into()),
            message: Some("Fix checkout totals for multi-currency baskets\n\nRounding happened per line, not per basket.".into()),
            branch: Some("main".into()),
            url: Some("https://github.com/shop/web/commit/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b".into()),
        },
        approval: Some(ApprovalRequest {
            review_url: "https://console.aws.amazon.com/codepipeline/home?region=eu-west-1#/view/release/Approval/QA/approve/0b9c7e5a-1d2e-4f30-8a4b-5c6d7e8f9a0b".into(),
            expires: Some("2026-12-03T10:00:00Z".into()),
        }),
        rejection: None,
        failure: None,
        occurred_at: Some("2026-11-26T10:00:00Z".into()),
    }
}

fn golden(name: &str, actual: &str) {
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}; run with UPDATE_GOLDEN=1 and review it"));
    assert_eq!(actual, expected, "{name} changed: if that is meant, regenerate with UPDATE_GOLDEN=1 and review the diff");
}

fn body<'a>(m: &'a Message, protocol: &str) -> &'a str {
    m.bodies[protocol].as_str().unwrap_or_else(|| panic!("{protocol} is not a string"))
}

#[test]
fn ready_for_qa_renders_every_protocol_as_reviewed() {
    let m = render(&ready_for_qa());
    assert_eq!(m.subject, "Ready for QA release staging 9f86d08");
    golden("ready-for-qa.default.txt", body(&m, "default"));
    golden("ready-for-qa.email.txt", body(&m, "email"));
    golden("ready-for-qa.sms.txt", body(&m, "sms"));
    let chatbot: Value = serde_json::from_str(body(&m, "https")).unwrap();
    golden("ready-for-qa.chatbot.json", &serde_json::to_string_pretty(&chatbot).unwrap());
    let document: Value = serde_json::from_str(body(&m, "sqs")).unwrap();
    golden("ready-for-qa.document.json", &serde_json::to_string_pretty(&document).unwrap());
}

#[test]
fn the_message_is_what_sns_accepts_a_string_per_protocol_with_a_default() {
    let m = render(&ready_for_qa());
    let payload: Value = serde_json::from_str(&m.payload()).unwrap();
    let keys: Vec<&str> = payload.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["default", "email", "sms", "sqs", "lambda", "https"]);
    assert!(payload.as_object().unwrap().values().all(Value::is_string), "SNS ignores non-string values");
    assert_eq!(m.attributes, [("kind", "ready-for-qa".to_owned()), ("pipeline", "release".to_owned()), ("stage", "staging".to_owned())]);
    assert_eq!(body(&m, "sqs"), body(&m, "lambda"));
}

#[test]
fn the_email_tells_which_release_where_to_test_and_where_to_approve() {
    let email = render(&ready_for_qa()).bodies["email"].as_str().unwrap().to_owned();
    for needle in [
        "Release 9f86d08 of release is ready for QA on staging: \"Fix checkout totals for multi-currency baskets\".",
        "Test it at:   https://staging.shop.example.com",
        "Approve at:   https://console.aws.amazon.com/codepipeline/home?region=eu-west-1#/view/release/Approval/QA/approve/",
        "Expires:      2026-12-03T10:00:00Z",
        "Rounding happened per line",
    ] {
        assert!(email.contains(needle), "missing {needle:?} in:\n{email}");
    }
}

#[test]
fn the_sms_is_one_line_of_at_most_140_characters() {
    let mut n = ready_for_qa();
    n.release.message = Some(format!("{}\nsecond line", "A very long headline ".repeat(20)));
    let sms = render(&n).bodies["sms"].as_str().unwrap().to_owned();
    assert_eq!(sms.chars().count(), 140, "{sms}");
    assert!(!sms.contains('\n') && sms.ends_with('…') && sms.starts_with("[ready-for-qa] Release 9f86d08"));
}

#[test]
fn a_rejection_says_who_and_why_in_every_human_format() {
    let mut n = ready_for_qa();
    n.kind = Kind::ApprovalRejected;
    n.approval = None;
    n.rejection = Some(Rejection { by: Some("qa-anna".into()), summary: Some("Totals wrong for EUR baskets".into()), expired: false });
    let m = render(&n);
    assert_eq!(m.subject, "Rejected at QA release staging 9f86d08");
    assert!(body(&m, "default").starts_with("Release 9f86d08 of release was rejected at QA by qa-anna: \"Fix checkout totals"));
    assert!(body(&m, "default").contains("Reason: Totals wrong for EUR baskets"));
    assert!(body(&m, "email").contains("Reason:       Totals wrong for EUR baskets"));
    let chatbot: Value = serde_json::from_str(body(&m, "https")).unwrap();
    assert!(chatbot["content"]["description"].as_str().unwrap().starts_with("*Reason:* Totals wrong for EUR baskets"));
    n.rejection = Some(Rejection { by: None, summary: None, expired: true });
    let expired = render(&n);
    assert_eq!(expired.subject, "QA approval expired release staging 9f86d08");
    assert!(
        body(&expired, "default").starts_with("The QA approval of release 9f86d08 (release) expired without an answer"),
        "{}",
        body(&expired, "default")
    );
}

#[test]
fn a_failure_names_the_stage_action_and_error() {
    let mut n = ready_for_qa();
    n.kind = Kind::DeploymentFailed;
    n.approval = None;
    n.environment = Some("Staging".into());
    n.failure =
        Some(Failure { stage: "Staging".into(), action: Some("Refresh".into()), summary: Some("Alarm 5xx is in ALARM state.".into()) });
    let m = render(&n);
    assert!(body(&m, "default").starts_with("Release 9f86d08 of release failed in Staging (action Refresh)"), "{}", body(&m, "default"));
    assert!(body(&m, "email").contains("Reason:       Alarm 5xx is in ALARM state."));
    assert!(body(&m, "email")
        .contains("Execution:    https://eu-west-1.console.aws.amazon.com/codesuite/codepipeline/pipelines/release/executions/3a7c1e52"));
}

#[test]
fn a_300_kb_multibyte_commit_message_is_trimmed_to_fit_262144_bytes_never_refused() {
    let mut n = ready_for_qa();
    n.release.message = Some("Überarbeitung der Preisberechnung 💶 ".repeat(8_000));
    assert!(n.release.message.as_ref().unwrap().len() > 300_000);
    let m = render(&n);
    let size = m.size_bytes();
    assert!(size <= MAX_MESSAGE_BYTES, "{size} bytes");
    assert!(size > MAX_MESSAGE_BYTES - 1_000, "trimmed no more than it had to: {size} bytes");
    assert!(body(&m, "email").contains("[trimmed to fit SNS's size limit]"));
    let document: Value = serde_json::from_str(body(&m, "sqs")).unwrap();
    assert!(document["release"]["commitMessage"].as_str().unwrap().starts_with("Überarbeitung der Preisberechnung"));
}

#[test]
fn only_what_must_be_trimmed_is_trimmed() {
    let mut n = ready_for_qa();
    n.kind = Kind::DeploymentFailed;
    n.failure = Some(Failure { stage: "Staging".into(), action: None, summary: Some("Alarm 5xx is in ALARM state.".into()) });
    n.release.message = Some("ü".repeat(200_000));
    let m = render(&n);
    assert!(m.size_bytes() <= MAX_MESSAGE_BYTES);
    let document: Value = serde_json::from_str(body(&m, "sqs")).unwrap();
    assert_eq!(document["failure"]["summary"], "Alarm 5xx is in ALARM state.", "the commit message made room; the error stays whole");
}

#[test]
fn a_message_under_the_limit_is_left_whole() {
    let n = ready_for_qa();
    assert_eq!(render(&n).bodies["email"], build(&n).bodies["email"]);
    assert!(!render(&n).payload().contains("trimmed"));
}

#[test]
fn size_counts_bytes_of_the_message_and_every_attribute() {
    let m = render(&ready_for_qa());
    let attributes: usize = m.attributes.iter().map(|(k, v)| k.len() + 6 + v.len()).sum();
    assert_eq!(m.size_bytes(), m.payload().len() + attributes);
}
