//! Warm pools, root volume replacements and the release check, through the handler with AWS
//! mocked: each transition asks only what fits it, and no stale release is let in.

mod support;

use std::time::Duration;

use aws_sdk_ec2::types::InstanceStateName;
use lifecycle_health::settings::{HttpCheck, Settings};
use support::*;

fn full_checks() -> Settings {
    Settings { require_bootstrap_complete: true, ..Settings::default() }
}

#[tokio::test]
async fn a_warm_instance_prepared_before_the_release_is_abandoned_naming_both_releases() {
    let (h, g, r, c) = (hook(300), group_launching("3"), latest_refresh("InProgress", Some("5")), complete_by_token("ABANDON"));
    let (v, s, t) = (
        template_version("5", 5, "def5678"),
        status(InstanceStateName::Running, "ok", "ok"),
        instance_tags("3", "abc1234", &[("complete", None)]),
    );
    let out = run(
        sample_at("warm-pool-promotion.json", Duration::from_secs(5)),
        Mocks { autoscaling: &[&h, &g, &r, &c], ec2: &[&v, &s, &t], elb: &[&target("healthy", None)] },
        full_checks(),
        MINUTE,
    )
    .await
    .unwrap();
    assert_eq!(out["result"], "ABANDON");
    assert_eq!(
        out["reason"],
        "stale instance: it runs release abc1234 (lt-0abc version 3), but the group now launches release def5678 \
         (lt-0abc version 5, from instance refresh r-1)"
    );
    assert_eq!((c.num_calls(), v.num_calls()), (1, 1));
}

#[tokio::test]
async fn a_promoted_instance_on_the_current_release_gets_the_full_check_and_is_let_in() {
    let (h, g, r, c) = (hook(300), group_launching("$Latest"), latest_refresh("Successful", Some("5")), complete_by_token("CONTINUE"));
    let (v, s, t, th) = (
        template_version("$Latest", 5, "def5678"),
        status(InstanceStateName::Running, "ok", "ok"),
        instance_tags("5", "def5678", &[("complete", None)]),
        target("healthy", None),
    );
    let out = run(
        sample_at("warm-pool-promotion.json", Duration::from_secs(5)),
        Mocks { autoscaling: &[&h, &g, &r, &c], ec2: &[&v, &s, &t], elb: &[&th] },
        full_checks(),
        MINUTE,
    )
    .await
    .unwrap();
    assert_eq!(out["result"], "CONTINUE", "{out}");
    assert_eq!(th.num_calls(), 1, "the target groups are asked coming out of the pool");
}

#[tokio::test]
async fn a_launch_into_the_group_during_a_rollback_must_run_the_groups_own_release() {
    let (h, g, r, c) = (hook(300), group_launching("3"), latest_refresh("RollbackInProgress", Some("5")), complete_by_token("ABANDON"));
    let (v, s, t) = (
        template_version("3", 3, "abc1234"),
        status(InstanceStateName::Running, "ok", "ok"),
        instance_tags("5", "def5678", &[("complete", None)]),
    );
    let out = run(
        launch(Duration::from_secs(5)),
        Mocks { autoscaling: &[&h, &g, &r, &c], ec2: &[&v, &s, &t], elb: &[&target("healthy", None)] },
        full_checks(),
        MINUTE,
    )
    .await
    .unwrap();
    assert!(out["reason"].as_str().unwrap().ends_with("(lt-0abc version 3, from the group's launch template)"), "{out}");
}

#[tokio::test]
async fn going_into_the_warm_pool_asks_neither_the_target_groups_nor_the_endpoint_nor_the_release() {
    // No rule answers DescribeAutoScalingGroups, DescribeInstanceRefreshes, DescribeTargetHealth
    // or DescribeLaunchTemplateVersions: asking any of them would fail the invocation.
    let settings = Settings { http: Some(HttpCheck { port: 1, path: "/health".into(), timeout: Duration::from_secs(1) }), ..full_checks() };
    let (h, c) = (hook(300), complete_by_token("CONTINUE"));
    let (s, t) = (status(InstanceStateName::Running, "ok", "ok"), instance_tags("3", "abc1234", &[("complete", None)]));
    let out = run(
        sample_at("warm-pool-entry.json", Duration::from_secs(5)),
        Mocks { autoscaling: &[&h, &c], ec2: &[&s, &t], elb: NO_RULES },
        settings,
        MINUTE,
    )
    .await
    .unwrap();
    assert_eq!(out["result"], "CONTINUE", "{out}");
}

#[tokio::test]
async fn going_into_the_warm_pool_still_waits_for_the_bootstrap_tag_and_abandons_on_failure() {
    let (h, c) = (hook(300), complete_by_token("ABANDON"));
    let (s, t) = (status(InstanceStateName::Running, "ok", "ok"), instance_tags("3", "abc1234", &[("running", None), ("failed", None)]));
    let clock = VirtualClock::new();
    let out = run_on(
        &clock,
        sample_at("warm-pool-entry.json", Duration::from_secs(5)),
        Mocks { autoscaling: &[&h, &c], ec2: &[&s, &t], elb: NO_RULES },
        full_checks(),
        MINUTE,
    )
    .await
    .unwrap();
    assert_eq!(out["reason"], "user data reported bootstrap=failed");
    assert_eq!(clock.delays().len(), 1, "waited once for the running boot, in the recheck queue");
    assert_eq!(clock.slept(), Duration::ZERO);
}

#[tokio::test]
async fn after_a_root_volume_replacement_the_earlier_boots_tag_waits_and_this_boots_lets_the_instance_in() {
    let (h, g, c) = (hook(300), group(&[]), complete_by_token("CONTINUE"));
    let (s, d) = (status(InstanceStateName::Running, "ok", "ok"), root_volume_attached("2026-11-25T10:05:00Z"));
    let t = instance_tags("3", "abc1234", &[("complete", Some("2026-11-25T09:00:00Z")), ("complete", Some("2026-11-25T10:06:10Z"))]);
    let clock = VirtualClock::new();
    let out = run_on(
        &clock,
        sample_at("root-volume-replacement.json", Duration::from_secs(5)),
        Mocks { autoscaling: &[&h, &g, &c], ec2: &[&s, &t, &d], elb: NO_RULES },
        Settings::default(),
        MINUTE,
    )
    .await
    .unwrap();
    assert_eq!(out["result"], "CONTINUE", "{out}");
    assert_eq!(t.num_calls(), 2, "the first look saw the previous root volume's tag and waited");
    assert_eq!(d.num_calls(), 2, "the root volume is read once per invocation: two looks, two invocations");
}

#[tokio::test]
async fn after_a_root_volume_replacement_an_earlier_boots_failure_does_not_abandon() {
    let (h, g, c) = (hook(300), group(&[]), complete_by_token("CONTINUE"));
    let (s, d) = (status(InstanceStateName::Running, "ok", "ok"), root_volume_attached("2026-11-25T10:05:00Z"));
    let t = instance_tags("3", "abc1234", &[("failed", None), ("complete", Some("2026-11-25T10:06:10Z"))]);
    let out = run(
        sample_at("root-volume-replacement.json", Duration::from_secs(5)),
        Mocks { autoscaling: &[&h, &g, &c], ec2: &[&s, &t, &d], elb: NO_RULES },
        Settings::default(),
        MINUTE,
    )
    .await
    .unwrap();
    assert_eq!(out["result"], "CONTINUE", "{out}");
}
