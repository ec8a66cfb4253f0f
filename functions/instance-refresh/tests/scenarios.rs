//! instance-refresh end to end through the runner, with AWS mocked by aws-smithy-mocks.

mod support;

use aws_sdk_autoscaling::operation::start_instance_refresh::StartInstanceRefreshOutput;
use aws_sdk_ec2::operation::create_launch_template_version::CreateLaunchTemplateVersionOutput;
use aws_sdk_ec2::operation::delete_launch_template_versions::DeleteLaunchTemplateVersionsOutput;
use aws_sdk_ec2::operation::describe_launch_template_versions::DescribeLaunchTemplateVersionsOutput;
use aws_sdk_ec2::types::{DeleteLaunchTemplateVersionsResponseSuccessItem, LaunchTemplateVersion};
use aws_smithy_mocks::{mock, Rule};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use support::*;

const NEW_REFRESH: &str = "08b91cf7-8fa6-48af-b6a6-d227f40f1b9b";

fn create_version_from(source: &'static str, new_version: i64) -> Rule {
    mock!(aws_sdk_ec2::Client::create_launch_template_version)
        .match_requests(move |r| {
            let tags: Vec<(String, String)> = r
                .launch_template_data()
                .map(|d| d.tag_specifications())
                .unwrap_or_default()
                .iter()
                .filter(|s| s.resource_type().map(|t| t.as_str()) == Some("instance"))
                .flat_map(|s| s.tags())
                .map(|t| (t.key().unwrap().to_owned(), t.value().unwrap().to_owned()))
                .collect();
            let has = |k: &str, v: &str| tags.iter().any(|(tk, tv)| tk == k && tv == v);
            r.launch_template_id() == Some(TEMPLATE)
                && r.source_version() == Some(source)
                && r.client_token().is_some()
                && has("Name", "web")
                && has("deploy:release", RELEASE)
                && has("deploy:stage", "staging")
                && has("deploy:artifact", "s3://release-pipeline-artifacts-123456789012/release/SourceArti/Xk3b9Qz")
        })
        .then_output(move || {
            CreateLaunchTemplateVersionOutput::builder()
                .launch_template_version(LaunchTemplateVersion::builder().launch_template_id(TEMPLATE).version_number(new_version).build())
                .build()
        })
}

fn start_refresh_to(version: &'static str, mixed: bool) -> Rule {
    mock!(aws_sdk_autoscaling::Client::start_instance_refresh)
        .match_requests(move |r| {
            let desired = r.desired_configuration().unwrap();
            let spec = if mixed {
                let template = desired.mixed_instances_policy().and_then(|m| m.launch_template());
                // The group's instance type overrides survive the version change.
                if template.map(|t| t.overrides().len()) != Some(2) {
                    return false;
                }
                template.and_then(|t| t.launch_template_specification())
            } else {
                desired.launch_template()
            };
            let prefs = r.preferences().unwrap();
            r.auto_scaling_group_name() == Some(GROUP)
                && spec.and_then(|s| s.version()) == Some(version)
                && spec.and_then(|s| s.launch_template_id()) == Some(TEMPLATE)
                && prefs.min_healthy_percentage() == Some(50)
                && prefs.max_healthy_percentage() == Some(150)
                && prefs.auto_rollback() == Some(true)
                && prefs.skip_matching() == Some(true)
        })
        .then_output(|| StartInstanceRefreshOutput::builder().instance_refresh_id(NEW_REFRESH).build())
}

fn list_versions(numbers: std::ops::RangeInclusive<i64>) -> Rule {
    mock!(aws_sdk_ec2::Client::describe_launch_template_versions).match_requests(|r| r.versions().is_empty()).then_output(move || {
        DescribeLaunchTemplateVersionsOutput::builder()
            .set_launch_template_versions(Some(numbers.clone().map(|n| template_version(n, &[])).collect()))
            .build()
    })
}

fn delete_versions(expected: &'static [&'static str]) -> Rule {
    mock!(aws_sdk_ec2::Client::delete_launch_template_versions).match_requests(move |r| r.versions() == expected).then_output(move || {
        DeleteLaunchTemplateVersionsOutput::builder()
            .set_successfully_deleted_launch_template_versions(Some(
                expected
                    .iter()
                    .map(|v| DeleteLaunchTemplateVersionsResponseSuccessItem::builder().version_number(v.parse().unwrap()).build())
                    .collect(),
            ))
            .build()
    })
}

fn tracks(token: &Value, refresh: &str, version: i64) -> bool {
    token["refreshId"] == refresh
        && token["launchTemplateVersion"] == version
        && token["releaseId"] == RELEASE
        && token["autoScalingGroupName"] == GROUP
}

#[tokio::test]
async fn the_first_invocation_pins_the_release_in_a_new_version_and_starts_a_refresh_to_exactly_it() {
    let event = event("start.json");
    let job = job_id(&event);
    let (group, latest, start) = (group_with_template("11"), latest_refresh(None), start_refresh_to("12", false));
    let current = describe_version("11", template_version(11, &[("Name", "web"), ("deploy:release", "old")]));
    let create = create_version_from("11", 12);
    let (answered, answer) = answer_noted(&job, |token, percent| tracks(token, NEW_REFRESH, 12) && percent == 0);
    // Pruning (keep 10 of 1..=12) only once the job is answered.
    let users = all_groups_after(&answered, vec![group_on_template(GROUP, "11", &["11"])]);
    let ours = latest_refresh(Some((NEW_REFRESH, Refresh { version: "12", ..Refresh::new("InProgress") })));
    let (list, delete) = (list_versions(1..=12), delete_versions(&["2"]));
    run(event, &[&group, &latest, &start, &users, &ours], &[&current, &create, &list, &delete], &[&answer]).await.unwrap();
    for rule in [&group, &latest, &start, &users, &ours, &current, &create, &list, &delete, &answer] {
        assert_eq!(rule.num_calls(), 1);
    }
}

/// The job's in-progress answer, raising `answered` when CodePipeline receives it.
fn answer_noted(job: &str, check: impl Fn(&Value, i32) -> bool + Send + Sync + 'static) -> (Arc<AtomicBool>, Rule) {
    let answered = Arc::new(AtomicBool::new(false));
    let raise = answered.clone();
    let job = job.to_owned();
    let rule = mock!(aws_sdk_codepipeline::Client::put_job_success_result)
        .match_requests(move |r| {
            let token: Value = serde_json::from_str(r.continuation_token().unwrap_or("null")).unwrap();
            r.job_id() == Some(job.as_str()) && check(&token, r.execution_details().and_then(|d| d.percent_complete()).unwrap_or(-1))
        })
        .then_output(move || {
            raise.store(true, Ordering::SeqCst);
            aws_sdk_codepipeline::operation::put_job_success_result::PutJobSuccessResultOutput::builder().build()
        });
    (answered, rule)
}

/// The account's groups, which match only once `answered` is raised: pruning asked first
/// would find no rule, and the prune (best effort) would stop before listing versions.
fn all_groups_after(answered: &Arc<AtomicBool>, groups: Vec<aws_sdk_autoscaling::types::AutoScalingGroup>) -> Rule {
    let answered = answered.clone();
    mock!(aws_sdk_autoscaling::Client::describe_auto_scaling_groups)
        .match_requests(move |r| r.auto_scaling_group_names().is_empty() && answered.load(Ordering::SeqCst))
        .then_output(move || {
            aws_sdk_autoscaling::operation::describe_auto_scaling_groups::DescribeAutoScalingGroupsOutput::builder()
                .set_auto_scaling_groups(Some(groups.clone()))
                .build()
        })
}

#[tokio::test]
async fn pruning_keeps_every_version_another_group_its_instances_or_its_refresh_still_use() {
    // Finding 6: staging and production share the template. Production is pinned to 2, still
    // has an instance on 3, and is refreshing to 4. Staging (on 11) releases 12; keep 7.
    let event = event("start.json");
    let job = job_id(&event);
    let mut event = event;
    let params = event["CodePipeline.job"]["data"]["actionConfiguration"]["configuration"]["UserParameters"]
        .as_str()
        .unwrap()
        .replace("\"launchTemplateVersionsToKeep\": 10", "\"launchTemplateVersionsToKeep\": 7");
    event["CodePipeline.job"]["data"]["actionConfiguration"]["configuration"]["UserParameters"] = Value::String(params);
    let (group, latest, start) = (group_with_template("11"), latest_refresh(None), start_refresh_to("12", false));
    let current = describe_version("11", template_version(11, &[("Name", "web")]));
    let create = create_version_from("11", 12);
    let answer = expect_in_progress(&job, |token, _| tracks(token, NEW_REFRESH, 12));
    let users = all_groups(vec![group_on_template(GROUP, "11", &["11"]), group_on_template("web-production", "2", &["2", "3"])]);
    let staging_refresh = latest_refresh(Some((NEW_REFRESH, Refresh { version: "12", ..Refresh::new("InProgress") })));
    let production_refresh = latest_refresh_of("web-production", Some(("r-prod", Refresh { version: "4", ..Refresh::new("InProgress") })));
    // Newest 7 are 6..=12; of 1..=5, 1 is the default and 2, 3, 4 are production's.
    let (list, delete) = (list_versions(1..=12), delete_versions(&["5"]));
    run(event, &[&group, &latest, &start, &users, &staging_refresh, &production_refresh], &[&current, &create, &list, &delete], &[&answer])
        .await
        .unwrap();
    for rule in [&users, &staging_refresh, &production_refresh, &list, &delete, &answer] {
        assert_eq!(rule.num_calls(), 1);
    }
}

#[tokio::test]
async fn a_mixed_instances_group_gets_the_new_version_inside_its_policy() {
    let event = event("start.json");
    let job = job_id(&event);
    let (group, latest, start) = (group_with_mixed_instances("3"), latest_refresh(None), start_refresh_to("4", true));
    let current = describe_version("3", template_version(3, &[("Name", "web")]));
    let (create, list) = (create_version_from("3", 4), list_versions(1..=4));
    let answer = expect_in_progress(&job, |token, _| tracks(token, NEW_REFRESH, 4));
    let (users, ours) = (all_groups(vec![]), latest_refresh(None));
    run(event, &[&group, &latest, &start, &users, &ours], &[&current, &create, &list], &[&answer]).await.unwrap();
    assert_eq!(list.num_calls(), 1, "nothing to prune among 4 versions, keeping 10");
    assert_eq!(start.num_calls(), 1);
    assert_eq!(answer.num_calls(), 1);
}

#[tokio::test]
async fn a_retried_job_adopts_the_running_refresh_of_its_release_and_starts_nothing() {
    let event = event("start.json");
    let job = job_id(&event);
    let running = latest_refresh(Some(("r-running", Refresh { version: "12", ..Refresh::new("InProgress") })));
    let group = group_with_template("11");
    let ours = describe_version("12", template_version(12, &[("deploy:release", RELEASE)]));
    let answer = expect_in_progress(&job, |token, percent| tracks(token, "r-running", 12) && percent == 40);
    run(event, &[&group, &running], &[&ours], &[&answer]).await.unwrap();
    assert_eq!(answer.num_calls(), 1);
}

#[tokio::test]
async fn a_running_refresh_of_another_release_fails_the_job_naming_it() {
    let event = event("start.json");
    let job = job_id(&event);
    let running = latest_refresh(Some(("r-other", Refresh { version: "9", ..Refresh::new("Baking") })));
    let group = group_with_template("9");
    let theirs = describe_version("9", template_version(9, &[("deploy:release", "0ld")]));
    let answer = expect_failure(&job, "JobFailed", &["instance refresh r-other (Baking, 40% complete)", "release 0ld"]);
    run(event, &[&group, &running], &[&theirs], &[&answer]).await.unwrap();
    assert_eq!(answer.num_calls(), 1);
}

#[tokio::test]
async fn a_refresh_started_elsewhere_in_the_meantime_is_adopted_when_it_is_ours() {
    let event = event("start.json");
    let job = job_id(&event);
    let (group, latest) = (group_with_template("11"), latest_refresh(None));
    let in_progress = mock!(aws_sdk_autoscaling::Client::start_instance_refresh).then_http_response(|| {
        autoscaling_error(
            400,
            "InstanceRefreshInProgress",
            "An Instance Refresh is already in progress and blocks the execution of this Instance Refresh.",
        )
    });
    let now_running = latest_refresh(Some(("r-twin", Refresh { version: "12", ..Refresh::new("Pending") })));
    let current = describe_version("11", template_version(11, &[("Name", "web")]));
    let create = create_version_from("11", 12);
    let ours = describe_version("12", template_version(12, &[("deploy:release", RELEASE)]));
    let answer = expect_in_progress(&job, |token, _| tracks(token, "r-twin", 12));
    run(event, &[&group, &latest, &in_progress, &now_running], &[&current, &create, &ours], &[&answer]).await.unwrap();
    assert_eq!(answer.num_calls(), 1);
}

#[tokio::test]
async fn a_missing_group_fails_the_job_as_a_configuration_error() {
    let event = event("start.json");
    let answer = expect_failure(&job_id(&event), "ConfigurationError", &["`web-staging` was not found"]);
    run(event, &[&no_group()], &[], &[&answer]).await.unwrap();
    assert_eq!(answer.num_calls(), 1);
}

async fn continuation_with(refresh: Refresh, answer: impl FnOnce(&str) -> Rule) {
    let event = event("continue.json");
    let answer = answer(&job_id(&event));
    let describe = refresh_by_id(NEW_REFRESH, Some(refresh));
    run(event, &[&describe], &[], &[&answer]).await.unwrap();
    assert_eq!(describe.num_calls(), 1, "exactly one DescribeInstanceRefreshes per re-invocation");
    assert_eq!(answer.num_calls(), 1);
}

#[tokio::test]
async fn a_running_refresh_keeps_the_job_in_progress_with_its_percentage() {
    continuation_with(Refresh { percent: 60, ..Refresh::new("InProgress") }, |job| {
        expect_in_progress(job, |token, percent| tracks(token, NEW_REFRESH, 2) && percent == 60)
    })
    .await;
}

#[tokio::test]
async fn a_successful_refresh_succeeds_the_job_with_output_variables() {
    continuation_with(Refresh::new("Successful"), |job| {
        expect_success(job, &[("RefreshId", NEW_REFRESH), ("LaunchTemplateVersion", "2"), ("ReleaseId", RELEASE)])
    })
    .await;
}

#[tokio::test]
async fn a_failed_refresh_fails_the_job_with_the_status_reason() {
    let refresh = Refresh { reason: Some("Instance i-0abc failed to launch: capacity"), ..Refresh::new("Failed") };
    continuation_with(refresh, |job| expect_failure(job, "JobFailed", &["failed: Instance i-0abc failed to launch: capacity"])).await;
}

#[tokio::test]
async fn a_refresh_that_rolls_back_fails_the_job_with_the_rollback_reason() {
    let refresh = Refresh { rollback_reason: Some("Lifecycle action ABANDON for i-0new"), ..Refresh::new("RollbackSuccessful") };
    continuation_with(refresh, |job| expect_failure(job, "JobFailed", &["rolled back", "Lifecycle action ABANDON for i-0new"])).await;
}

#[tokio::test]
async fn a_cancelled_refresh_fails_the_job() {
    let refresh = Refresh { reason: Some("Cancelled by operator"), ..Refresh::new("Cancelled") };
    continuation_with(refresh, |job| expect_failure(job, "JobFailed", &["cancelled: Cancelled by operator"])).await;
}

#[tokio::test]
async fn a_failed_rollback_fails_the_job_and_says_to_inspect_the_group() {
    let refresh = Refresh { reason: Some("Rollback could not replace i-0x"), ..Refresh::new("RollbackFailed") };
    continuation_with(refresh, |job| expect_failure(job, "JobFailed", &["rollback failed (Rollback could not replace i-0x)", "inspect"]))
        .await;
}

#[tokio::test]
async fn a_refresh_that_vanished_fails_the_job() {
    let event = event("continue.json");
    let answer = expect_failure(&job_id(&event), "JobFailed", &["no longer listed"]);
    run(event, &[&refresh_by_id(NEW_REFRESH, None)], &[], &[&answer]).await.unwrap();
    assert_eq!(answer.num_calls(), 1);
}

#[tokio::test]
async fn throttling_is_retried_by_the_sdk_and_tracking_goes_on() {
    let event = event("continue.json");
    let job = job_id(&event);
    let built = Refresh::new("InProgress").build(NEW_REFRESH);
    let describe = mock!(aws_sdk_autoscaling::Client::describe_instance_refreshes)
        .sequence()
        .http_response(autoscaling_throttled)
        .times(2)
        .output(move || {
            aws_sdk_autoscaling::operation::describe_instance_refreshes::DescribeInstanceRefreshesOutput::builder()
                .instance_refreshes(built.clone())
                .build()
        })
        .build();
    let answer = expect_in_progress(&job, |token, _| tracks(token, NEW_REFRESH, 2));
    run(event, &[&describe], &[], &[&answer]).await.unwrap();
    assert_eq!(describe.num_calls(), 3);
    assert_eq!(answer.num_calls(), 1);
}

#[tokio::test]
async fn persistent_throttling_fails_the_job_instead_of_leaving_it_waiting() {
    let event = event("continue.json");
    let describe =
        mock!(aws_sdk_autoscaling::Client::describe_instance_refreshes).sequence().http_response(autoscaling_throttled).times(3).build();
    let answer = expect_failure(&job_id(&event), "JobFailed", &["autoscaling:DescribeInstanceRefreshes failed: Throttling: Rate exceeded"]);
    run(event, &[&describe], &[], &[&answer]).await.unwrap();
    assert_eq!(describe.num_calls(), 3);
    assert_eq!(answer.num_calls(), 1);
}

#[tokio::test]
async fn access_denied_is_reported_as_a_permission_error_naming_the_action() {
    let event = event("start.json");
    let denied = mock!(aws_sdk_autoscaling::Client::describe_auto_scaling_groups).then_http_response(|| {
        autoscaling_error(403, "AccessDenied", "User is not authorized to perform: autoscaling:DescribeAutoScalingGroups")
    });
    let answer = expect_failure(&job_id(&event), "PermissionError", &["autoscaling:DescribeAutoScalingGroups"]);
    run(event, &[&denied], &[], &[&answer]).await.unwrap();
    assert_eq!(answer.num_calls(), 1);
}

#[tokio::test]
async fn a_failed_prune_does_not_fail_a_started_refresh() {
    let event = event("start.json");
    let job = job_id(&event);
    let (group, latest, start) = (group_with_template("11"), latest_refresh(None), start_refresh_to("12", false));
    let current = describe_version("11", template_version(11, &[("Name", "web")]));
    let create = create_version_from("11", 12);
    let list = mock!(aws_sdk_ec2::Client::describe_launch_template_versions)
        .match_requests(|r| r.versions().is_empty())
        .then_http_response(|| {
            aws_smithy_runtime_api::http::Response::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(403).unwrap(),
                aws_smithy_types::body::SdkBody::from(
                    "<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>no</Message></Error></Errors><RequestID>x</RequestID></Response>",
                ),
            )
        });
    let answer = expect_in_progress(&job, |token, _| tracks(token, NEW_REFRESH, 12));
    let users = all_groups(vec![group_on_template(GROUP, "11", &["11"])]);
    let ours = latest_refresh(Some((NEW_REFRESH, Refresh { version: "12", ..Refresh::new("InProgress") })));
    run(event, &[&group, &latest, &start, &users, &ours], &[&current, &create, &list], &[&answer]).await.unwrap();
    assert_eq!((answer.num_calls(), list.num_calls()), (1, 1), "the prune failed at listing versions, after the answer");
}

#[tokio::test]
async fn once_the_refresh_has_started_running_out_of_time_still_answers_in_progress_with_its_token() {
    // Finding 7: the runner answers with the fallback if the deadline comes first; the start
    // path must have set it as soon as StartInstanceRefresh returned.
    let event = event("start.json");
    let (group, latest, start) = (group_with_template("11"), latest_refresh(None), start_refresh_to("12", false));
    let (current, create) = (describe_version("11", template_version(11, &[("Name", "web")])), create_version_from("11", 12));
    let action = instance_refresh::RefreshAction::from_clients(
        aws_smithy_mocks::mock_client!(aws_sdk_autoscaling, aws_smithy_mocks::RuleMode::Sequential, &[&group, &latest, &start]),
        aws_smithy_mocks::mock_client!(aws_sdk_ec2, aws_smithy_mocks::RuleMode::Sequential, &[&current, &create]),
        aws_smithy_mocks::mock_client!(aws_sdk_ssm, aws_smithy_mocks::RuleMode::Sequential, &[]),
    );
    let fallback = shared::codepipeline::Fallback::default();
    assert_eq!(fallback.current(), None);
    let job = shared::codepipeline::CodePipelineJob::from_event(&event).unwrap();
    let answer = action.handle(job, fallback.clone()).await.unwrap();
    let Some(shared::codepipeline::JobOutcome::InProgress { continuation_token, .. }) = fallback.current() else { panic!("no fallback") };
    assert!(tracks(&serde_json::from_str(&continuation_token).unwrap(), NEW_REFRESH, 12));
    assert_eq!(Some(answer.outcome), fallback.current());
}

#[tokio::test]
async fn adoption_reads_the_release_from_the_template_the_running_refresh_names() {
    // Finding 8: the group still names its old template; the refresh moves it to another.
    let event = event("start.json");
    let job = job_id(&event);
    let running =
        latest_refresh(Some(("r-moving", Refresh { version: "5", template: "lt-0ther000000000000", ..Refresh::new("InProgress") })));
    let group = group_with_template("11");
    let theirs = mock!(aws_sdk_ec2::Client::describe_launch_template_versions)
        .match_requests(|r| r.launch_template_id() == Some("lt-0ther000000000000") && r.versions() == ["5"])
        .then_output(|| {
            DescribeLaunchTemplateVersionsOutput::builder()
                .launch_template_versions(template_version(5, &[("deploy:release", RELEASE)]))
                .build()
        });
    let answer = expect_in_progress(&job, |token, _| tracks(token, "r-moving", 5));
    run(event, &[&group, &running], &[&theirs], &[&answer]).await.unwrap();
    assert_eq!((theirs.num_calls(), answer.num_calls()), (1, 1));
}

#[tokio::test]
async fn an_override_on_its_own_launch_template_is_refused_before_anything_changes() {
    // Finding 8: instances of that type would launch from a version without the release.
    let event = event("start.json");
    let foreign = aws_sdk_autoscaling::types::MixedInstancesPolicy::builder()
        .launch_template(
            aws_sdk_autoscaling::types::LaunchTemplate::builder()
                .launch_template_specification(template_spec("3"))
                .overrides(
                    aws_sdk_autoscaling::types::LaunchTemplateOverrides::builder()
                        .instance_type("c7i.large")
                        .launch_template_specification(
                            aws_sdk_autoscaling::types::LaunchTemplateSpecification::builder()
                                .launch_template_id("lt-x86")
                                .version("$Default")
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .build();
    let group = mock!(aws_sdk_autoscaling::Client::describe_auto_scaling_groups).then_output(move || {
        aws_sdk_autoscaling::operation::describe_auto_scaling_groups::DescribeAutoScalingGroupsOutput::builder()
            .auto_scaling_groups(
                aws_sdk_autoscaling::types::AutoScalingGroup::builder()
                    .auto_scaling_group_name(GROUP)
                    .mixed_instances_policy(foreign.clone())
                    .build(),
            )
            .build()
    });
    let current = describe_version("3", template_version(3, &[("Name", "web")]));
    let answer = expect_failure(&job_id(&event), "ConfigurationError", &["instance type c7i.large", "lt-x86"]);
    run(event, &[&group, &latest_refresh(None)], &[&current], &[&answer]).await.unwrap();
    assert_eq!(answer.num_calls(), 1, "failed with no launch template version created and no refresh started");
}

#[tokio::test]
async fn auto_rollback_on_a_group_on_latest_fails_before_anything_changes_saying_how_to_pin_it() {
    // AWS offers no rollback for a group on $Latest or $Default (issue 8): no version, no refresh.
    let event = event("start.json");
    let answer = expect_failure(
        &job_id(&event),
        "ConfigurationError",
        &["preferences.autoRollback", "$Latest", "Pin the group to a numbered version"],
    );
    run(event, &[&group_with_template("$Latest")], &[], &[&answer]).await.unwrap();
    assert_eq!(answer.num_calls(), 1);
}

#[tokio::test]
async fn a_group_on_latest_without_auto_rollback_is_refreshed_from_what_latest_resolves_to() {
    let event = with_parameters(event("start.json"), |p| p["preferences"]["autoRollback"] = false.into());
    let job = job_id(&event);
    let (group, latest) = (group_with_template("$Latest"), latest_refresh(None));
    let start = mock!(aws_sdk_autoscaling::Client::start_instance_refresh)
        .match_requests(|r| {
            let spec = r.desired_configuration().and_then(|d| d.launch_template());
            spec.and_then(|s| s.version()) == Some("12") && r.preferences().and_then(|p| p.auto_rollback()) == Some(false)
        })
        .then_output(|| {
            aws_sdk_autoscaling::operation::start_instance_refresh::StartInstanceRefreshOutput::builder()
                .instance_refresh_id(NEW_REFRESH)
                .build()
        });
    let current = describe_version("$Latest", template_version(11, &[("Name", "web")]));
    let answer = expect_in_progress(&job, |token, _| tracks(token, NEW_REFRESH, 12));
    let (users, ours) = (all_groups(vec![]), latest_refresh(None));
    run(event, &[&group, &latest, &start, &users, &ours], &[&current, &create_version_from("11", 12), &list_versions(1..=12)], &[&answer])
        .await
        .unwrap();
    assert_eq!((start.num_calls(), answer.num_calls()), (1, 1));
}

#[tokio::test]
async fn a_refresh_that_could_outlive_codepipelines_24_hours_fails_before_any_launch_template_version_is_created() {
    // 4 instances, 2 at a time (min 50, max 150), cut at the 50 % checkpoint: 2 batches, each
    // warmed for the group's DefaultInstanceWarmup of 15 min. 23 h + 1 h + 30 min > 24 h.
    let event = with_parameters(event("start.json"), |p| {
        let prefs = &mut p["preferences"];
        prefs.as_object_mut().unwrap().remove("instanceWarmupSeconds");
        prefs["checkpointPercentages"] = serde_json::json!([50, 100]);
        prefs["checkpointDelaySeconds"] = (23 * 3600).into();
        prefs["bakeTimeSeconds"] = 3600.into();
    });
    let group = mock!(aws_sdk_autoscaling::Client::describe_auto_scaling_groups)
        .match_requests(|r| r.auto_scaling_group_names() == [GROUP])
        .then_output(|| {
            aws_sdk_autoscaling::operation::describe_auto_scaling_groups::DescribeAutoScalingGroupsOutput::builder()
                .auto_scaling_groups(
                    aws_sdk_autoscaling::types::AutoScalingGroup::builder()
                        .auto_scaling_group_name(GROUP)
                        .launch_template(template_spec("11"))
                        .desired_capacity(4)
                        .default_instance_warmup(900)
                        .health_check_grace_period(300)
                        .build(),
                )
                .build()
        });
    let answer = expect_failure(
        &job_id(&event),
        "ConfigurationError",
        &[
            "UserParameters field `preferences`: the refresh could run 24 h 30 min",
            "(1 checkpoint pause × 23 h delay + bake 1 h + 2 batches × warm-up 15 min (the group's DefaultInstanceWarmup))",
            "longer than the 24 h CodePipeline allows an action",
            "lower checkpointDelaySeconds",
        ],
    );
    // No EC2 rule at all: describing, creating or deleting a version would find none.
    run(event, &[&group], &[], &[&answer]).await.unwrap();
    assert_eq!((group.num_calls(), answer.num_calls()), (1, 1), "one look at the group, then the answer: nothing created, nothing started");
}

#[tokio::test]
async fn checkpoints_ending_below_100_without_partial_rollout_fail_the_job_before_any_aws_call() {
    let event = with_parameters(event("start.json"), |p| p["preferences"]["checkpointPercentages"] = serde_json::json!([25, 50]));
    let answer = expect_failure(
        &job_id(&event),
        "ConfigurationError",
        &["`preferences.checkpointPercentages`: ends at 50", r#"Set "partialRollout": true if that is meant"#],
    );
    run(event, &[], &[], &[&answer]).await.unwrap();
    assert_eq!(answer.num_calls(), 1);
}

/// continue.json, its token rewritten by `change`.
fn continuation_event(change: impl FnOnce(&mut Value)) -> Value {
    let mut event = event("continue.json");
    let raw = &mut event["CodePipeline.job"]["data"]["continuationToken"];
    let mut token: Value = serde_json::from_str(raw.as_str().unwrap()).unwrap();
    change(&mut token);
    *raw = Value::String(token.to_string());
    event
}

fn ended_at_half() -> Refresh {
    Refresh { percent: 50, to_update: 2, ..Refresh::new("Successful") }
}

#[tokio::test]
async fn a_partial_rollout_that_was_meant_succeeds_with_how_much_of_the_group_runs_the_release() {
    let event = continuation_event(|t| t["partialRollout"] = true.into());
    let answer = expect_success(
        &job_id(&event),
        &[
            ("PercentComplete", "50"),
            ("InstancesNotUpdated", "2"),
            ("PartialRollout", "true"),
            ("ReleaseId", RELEASE),
            ("RefreshId", NEW_REFRESH),
        ],
    );
    run(event, &[&refresh_by_id(NEW_REFRESH, Some(ended_at_half()))], &[], &[&answer]).await.unwrap();
    assert_eq!(answer.num_calls(), 1);
}

#[tokio::test]
async fn a_refresh_that_ends_with_half_the_group_left_fails_a_job_that_never_asked_for_that() {
    // continue.json's token predates partialRollout: it reads as a whole-group rollout.
    let event = event("continue.json");
    let answer =
        expect_failure(&job_id(&event), "JobFailed", &["ended Successful with only 50% of the group replaced (2 instances not updated)"]);
    run(event, &[&refresh_by_id(NEW_REFRESH, Some(ended_at_half()))], &[], &[&answer]).await.unwrap();
    assert_eq!(answer.num_calls(), 1);
}

#[tokio::test]
async fn an_adopted_refresh_records_this_actions_partial_rollout_in_its_token() {
    let event = with_parameters(event("start.json"), |p| {
        p["preferences"]["checkpointPercentages"] = serde_json::json!([50]);
        p["partialRollout"] = true.into();
    });
    let job = job_id(&event);
    let running = latest_refresh(Some(("r-running", Refresh { version: "12", ..Refresh::new("InProgress") })));
    let group = group_with_template("11");
    let ours = describe_version("12", template_version(12, &[("deploy:release", RELEASE)]));
    let answer = expect_in_progress(&job, |token, _| tracks(token, "r-running", 12) && token["partialRollout"] == true);
    run(event, &[&group, &running], &[&ours], &[&answer]).await.unwrap();
    assert_eq!(answer.num_calls(), 1);
}

fn put_release_state(name: &'static str, version: &'static str) -> Rule {
    mock!(aws_sdk_ssm::Client::put_parameter)
        .match_requests(move |r| {
            r.name() == Some(name)
                && r.value() == Some(version)
                && r.overwrite() == Some(true)
                && r.r#type() == Some(&aws_sdk_ssm::types::ParameterType::String)
        })
        .then_output(|| aws_sdk_ssm::operation::put_parameter::PutParameterOutput::builder().version(3).build())
}

#[tokio::test]
async fn a_refresh_that_replaced_the_whole_group_records_its_version_where_the_stacks_group_reads_it() {
    let event = continuation_event(|t| t["releaseParameter"] = "/deploy/release/web-staging".into());
    let answer = expect_success(&job_id(&event), &[("LaunchTemplateVersion", "2"), ("ReleaseId", RELEASE)]);
    let record = put_release_state("/deploy/release/web-staging", "2");
    run_with_ssm(event, &[&refresh_by_id(NEW_REFRESH, Some(Refresh::new("Successful")))], &[], &[&record], &[&answer]).await.unwrap();
    assert_eq!((record.num_calls(), answer.num_calls()), (1, 1));
}

#[tokio::test]
async fn a_success_that_cannot_be_recorded_fails_the_job_saying_how_to_record_it() {
    let event = continuation_event(|t| t["releaseParameter"] = "/deploy/release/web-staging".into());
    let answer = expect_failure(
        &job_id(&event),
        "JobFailed",
        &["runs launch template version 2", "ssm:PutParameter", "AccessDeniedException", "--name /deploy/release/web-staging --value 2"],
    );
    let denied =
        mock!(aws_sdk_ssm::Client::put_parameter).then_http_response(|| json_error(400, "AccessDeniedException", "not authorized"));
    run_with_ssm(event, &[&refresh_by_id(NEW_REFRESH, Some(Refresh::new("Successful")))], &[], &[&denied], &[&answer]).await.unwrap();
    assert_eq!((denied.num_calls(), answer.num_calls()), (1, 1));
}

#[tokio::test]
async fn a_partial_rollout_leaves_the_release_state_alone() {
    let event = continuation_event(|t| {
        t["partialRollout"] = true.into();
        t["releaseParameter"] = "/deploy/release/web-staging".into();
    });
    let answer = expect_success(&job_id(&event), &[("PartialRollout", "true")]);
    run_with_ssm(event, &[&refresh_by_id(NEW_REFRESH, Some(ended_at_half()))], &[], &[], &[&answer]).await.unwrap();
    assert_eq!(answer.num_calls(), 1);
}
