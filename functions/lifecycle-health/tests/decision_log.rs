//! The one structured decision line. Alone in its test binary: log capture is per thread, and
//! tracing caches callsite interest process-wide, which concurrent tests can race.

mod support;

use std::time::Duration;

use aws_sdk_ec2::types::InstanceStateName;
use serde_json::Value;
use shared::testing::LogCapture;
use support::*;

#[tokio::test]
async fn a_healthy_instance_healthy_in_its_target_group_is_continued_and_the_decision_logged_once() {
    let (logs, _guard) = LogCapture::start();
    let (h, g, c) = (hook(300), group(&["arn:tg/web"]), complete("CONTINUE"));
    let (s, t, th) = (status(InstanceStateName::Running, "ok", "ok"), tags(Some("complete")), target("healthy", None));
    let out = run(launch(Duration::from_secs(20)), Mocks { autoscaling: &[&h, &g, &c], ec2: &[&s, &t], elb: &[&th] }, fast(), MINUTE)
        .await
        .unwrap();
    assert_eq!(out["result"], "CONTINUE");
    assert_eq!(c.num_calls(), 1);
    let decisions: Vec<Value> =
        logs.text().lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).filter(|l| l["message"] == "lifecycle decision").collect();
    assert_eq!(decisions.len(), 1);
    let line = &decisions[0];
    assert_eq!(
        (line["instance"].as_str(), line["group"].as_str(), line["hook"].as_str(), line["result"].as_str()),
        (Some(INSTANCE), Some("web-staging"), Some("health"), Some("CONTINUE"))
    );
    assert!(line["checks"].as_str().unwrap().contains("\"state\":\"healthy\""), "{line}");
    assert!(line["elapsed_s"].as_u64().unwrap() >= 20);
}
