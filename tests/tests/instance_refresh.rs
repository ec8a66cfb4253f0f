//! instance-refresh against the local emulator: real SDK clients over HTTP, a real refresh
//! that replaces instances, CodePipeline jobs answered and re-invoked like CodePipeline does.

use aws_sdk_autoscaling::types::{LaunchTemplate, LaunchTemplateOverrides, LaunchTemplateSpecification, MixedInstancesPolicy};
use aws_sdk_ec2::types::RequestLaunchTemplateData;
use instance_refresh::RefreshAction;
use integration_tests::{emulator, launch_template, launching_hook, Emulator};
use serde_json::{json, Value};
use shared::codepipeline::{run_job, CodePipelineJob, Fallback, JobOutcome, JobReporter};
use shared::testing::invocation;
use std::time::Duration;

const COMMIT: &str = "4a5b6c7d8e9f00112233445566778899aabbccdd";

struct World {
    em: &'static Emulator,
    action: RefreshAction,
    reporter: JobReporter,
    autoscaling: aws_sdk_autoscaling::Client,
    ec2: aws_sdk_ec2::Client,
    ssm: aws_sdk_ssm::Client,
}

impl World {
    async fn new() -> Self {
        let em = emulator();
        let config = em.sdk_config().await;
        World {
            em,
            action: RefreshAction::new(&config),
            reporter: JobReporter::new(aws_sdk_codepipeline::Client::new(&config)),
            autoscaling: aws_sdk_autoscaling::Client::new(&config),
            ec2: aws_sdk_ec2::Client::new(&config),
            ssm: aws_sdk_ssm::Client::new(&config),
        }
    }

    /// A group of `desired` instances on launch template version 1 (Name=web).
    async fn group(&self, name: &str, desired: i32, hook: bool, mixed: bool) -> String {
        let template_id = launch_template(&self.ec2, &format!("{name}-lt"), &[("Name", "web")]).await;
        let spec = LaunchTemplateSpecification::builder().launch_template_id(&template_id).version("1").build();
        let create = self
            .autoscaling
            .create_auto_scaling_group()
            .auto_scaling_group_name(name)
            .min_size(0)
            .max_size(desired * 2)
            .desired_capacity(desired)
            .availability_zones("us-east-1a");
        let create = if mixed {
            create.mixed_instances_policy(
                MixedInstancesPolicy::builder()
                    .launch_template(
                        LaunchTemplate::builder()
                            .launch_template_specification(spec)
                            .overrides(LaunchTemplateOverrides::builder().instance_type("t3.small").build())
                            .build(),
                    )
                    .build(),
            )
        } else {
            create.launch_template(spec)
        };
        create.send().await.unwrap();
        if hook {
            launching_hook(&self.autoscaling, name, 600, "ABANDON").await;
        }
        template_id
    }

    fn job(&self, params: Value) -> (String, Value) {
        let created = self.em.post(
            "/codepipeline/jobs",
            json!({
                "functionName": "instance-refresh", "pipelineName": "release", "stageName": "Staging", "actionName": "Refresh",
                "userParameters": params.to_string(),
                "inputArtifacts": [{"name": "SourceArtifact", "revision": COMMIT, "bucket": "artifacts", "key": "release/SourceArti/abc"}],
            }),
        );
        (created["jobId"].as_str().unwrap().to_owned(), created["event"].clone())
    }

    async fn invoke(&self, event: Value) {
        run_job(&self.reporter, invocation(event, Duration::from_secs(60)), |job, fallback| self.action.handle(job, fallback))
            .await
            .expect("the job was answered");
    }

    fn record(&self, job_id: &str) -> Value {
        self.em.get(&format!("/codepipeline/jobs/{job_id}"))
    }

    /// Plays CodePipeline: invokes, and while the answer is "in progress" lets emulator time
    /// pass, answers lifecycle actions with `decide`, and invokes again with the next job.
    async fn drive(&self, job_id: String, event: Value, decide: impl Fn(usize) -> &'static str) -> Value {
        let (mut job_id, mut event, mut decided) = (job_id, event, 0);
        for _ in 0..60 {
            self.invoke(event).await;
            let record = self.record(&job_id);
            if record["result"]["kind"] != "continuation" {
                return record;
            }
            self.em.settle();
            // One at a time: answering one may end others (an ABANDON rolls the batch back).
            while let Some(action) = self.em.pending_lifecycle_actions().into_iter().next() {
                self.autoscaling
                    .complete_lifecycle_action()
                    .auto_scaling_group_name(action["AutoScalingGroupName"].as_str().unwrap())
                    .lifecycle_hook_name(action["LifecycleHookName"].as_str().unwrap())
                    .lifecycle_action_token(action["LifecycleActionToken"].as_str().unwrap())
                    .lifecycle_action_result(decide(decided))
                    .send()
                    .await
                    .unwrap();
                decided += 1;
            }
            self.em.settle();
            job_id = record["nextJobId"].as_str().unwrap().to_owned();
            event = self.record(&job_id)["event"].clone();
        }
        panic!("the job did not finish within 60 invocations");
    }

    /// `count` more versions of `template`, each from version 1.
    /// The release state in SSM, `None` when nothing was recorded.
    async fn release_state(&self, name: &str) -> Option<String> {
        match self.ssm.get_parameter().name(name).send().await {
            Ok(out) => out.parameter().and_then(|p| p.value()).map(str::to_owned),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_parameter_not_found()) => None,
            Err(e) => panic!("GetParameter {name}: {e:?}"),
        }
    }

    async fn add_versions(&self, template: &str, count: usize) {
        for _ in 0..count {
            self.ec2
                .create_launch_template_version()
                .launch_template_id(template)
                .source_version("1")
                .launch_template_data(RequestLaunchTemplateData::builder().build())
                .send()
                .await
                .unwrap();
        }
    }

    /// The template's version numbers, in order.
    async fn versions(&self, template: &str) -> Vec<i64> {
        let listed = self.ec2.describe_launch_template_versions().launch_template_id(template).send().await.unwrap();
        let mut versions: Vec<i64> = listed.launch_template_versions().iter().filter_map(|v| v.version_number()).collect();
        versions.sort();
        versions
    }

    async fn instance_tags(&self, group: &str) -> Vec<std::collections::HashMap<String, String>> {
        let groups = self.autoscaling.describe_auto_scaling_groups().auto_scaling_group_names(group).send().await.unwrap();
        let ids: Vec<String> = groups.auto_scaling_groups()[0].instances().iter().map(|i| i.instance_id().unwrap().to_owned()).collect();
        let described = self.ec2.describe_instances().set_instance_ids(Some(ids)).send().await.unwrap();
        described
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .map(|i| i.tags().iter().map(|t| (t.key().unwrap().to_owned(), t.value().unwrap().to_owned())).collect())
            .collect()
    }
}

fn params(group: &str) -> Value {
    json!({
        "stage": "staging", "autoScalingGroupName": group, "pipelineExecutionId": "exec-1",
        "preferences": {"minHealthyPercentage": 50, "maxHealthyPercentage": 150, "instanceWarmupSeconds": 0,
                        "skipMatching": true, "autoRollback": true},
    })
}

#[tokio::test]
async fn a_real_refresh_replaces_the_instances_with_the_new_launch_template_version() {
    let world = World::new().await;
    let _turn = world.em.exclusive().await;
    let template = world.group("web-staging", 3, false, false).await;
    let before = world.instance_tags("web-staging").await.len();
    let mut params = params("web-staging");
    params["releaseParameter"] = "/deploy/release/web-staging".into();
    let (job, event) = world.job(params);

    let record = world.drive(job, event, |_| "CONTINUE").await;
    assert_eq!(record["result"]["kind"], "success", "{record}");
    let outputs = &record["result"]["outputVariables"];
    assert_eq!(outputs["ReleaseId"], COMMIT);
    assert_eq!(outputs["LaunchTemplateVersion"], "2");
    assert!(outputs["RefreshId"].as_str().is_some_and(|id| id.len() == 36));

    let tags = world.instance_tags("web-staging").await;
    assert_eq!(tags.len(), before);
    for t in &tags {
        assert_eq!(t.get("deploy:release").map(String::as_str), Some(COMMIT), "{t:?}");
        assert_eq!(t.get("deploy:stage").map(String::as_str), Some("staging"));
        assert_eq!(t.get("deploy:artifact").map(String::as_str), Some("s3://artifacts/release/SourceArti/abc"));
        assert_eq!(t.get("Name").map(String::as_str), Some("web"), "existing launch template tags are kept");
    }
    let group = world.autoscaling.describe_auto_scaling_groups().auto_scaling_group_names("web-staging").send().await.unwrap();
    let spec = group.auto_scaling_groups()[0].launch_template().unwrap();
    assert_eq!((spec.launch_template_id(), spec.version()), (Some(template.as_str()), Some("2")));
    assert_eq!(world.release_state("/deploy/release/web-staging").await.as_deref(), Some("2"), "the release state names the version");
}

#[tokio::test]
async fn abandoned_launches_roll_the_refresh_back_and_fail_the_job_with_the_reason() {
    // Auto Scaling retries a launch its hook abandoned; the emulator gives up after three.
    let world = World::new().await;
    let _turn = world.em.exclusive().await;
    world.group("web-prod", 2, true, false).await;
    let mut params = params("web-prod");
    params["releaseParameter"] = "/deploy/release/web-prod".into();
    let (job, event) = world.job(params);
    let record = world.drive(job, event, |n| if n < 3 { "ABANDON" } else { "CONTINUE" }).await;
    assert_eq!(record["result"]["kind"], "failure", "{record}");
    let message = record["result"]["failureDetails"]["message"].as_str().unwrap();
    assert!(message.contains("was rolled back") && message.contains("completed with ABANDON"), "{message}");
    assert_eq!(record["result"]["failureDetails"]["type"], "JobFailed");
    let refreshes = world.em.get("/refreshes");
    assert_eq!(refreshes[0]["Status"], "RollbackSuccessful");
    for t in world.instance_tags("web-prod").await {
        assert!(!t.contains_key("deploy:release"), "the group runs the previous version again: {t:?}");
    }
    assert_eq!(world.release_state("/deploy/release/web-prod").await, None, "a rolled-back release is not recorded");
}

#[tokio::test]
async fn a_retried_job_adopts_the_running_refresh_instead_of_starting_another() {
    let world = World::new().await;
    let _turn = world.em.exclusive().await;
    world.group("web-dev", 2, true, false).await;
    let (first, event) = world.job(params("web-dev"));
    world.invoke(event).await;
    let (retry, event) = world.job(params("web-dev"));
    world.invoke(event).await;
    let token = |job: &str| -> Value { serde_json::from_str(world.record(job)["result"]["continuationToken"].as_str().unwrap()).unwrap() };
    assert_eq!(token(&first)["refreshId"], token(&retry)["refreshId"]);
    assert_eq!(world.em.get("/refreshes").as_array().unwrap().len(), 1, "no second refresh");
}

#[tokio::test]
async fn another_release_running_fails_the_job_naming_the_refresh() {
    let world = World::new().await;
    let _turn = world.em.exclusive().await;
    world.group("web-qa", 2, true, false).await;
    let (_, event) = world.job(params("web-qa"));
    world.invoke(event).await;
    let mut other = params("web-qa");
    other["release"] = json!({"commitId": "0ther"});
    let (job, event) = world.job(other);
    world.invoke(event).await;
    let record = world.record(&job);
    let message = record["result"]["failureDetails"]["message"].as_str().unwrap();
    let running = world.em.get("/refreshes")[0]["InstanceRefreshId"].as_str().unwrap().to_owned();
    assert!(message.contains(&running) && message.contains(&format!("release {COMMIT}, not 0ther")), "{message}");
}

#[tokio::test]
async fn a_mixed_instances_group_is_refreshed_inside_its_policy() {
    let world = World::new().await;
    let _turn = world.em.exclusive().await;
    world.group("web-mixed", 2, false, true).await;
    let (job, event) = world.job(params("web-mixed"));
    let record = world.drive(job, event, |_| "CONTINUE").await;
    assert_eq!(record["result"]["kind"], "success", "{record}");
    let group = world.autoscaling.describe_auto_scaling_groups().auto_scaling_group_names("web-mixed").send().await.unwrap();
    let policy = group.auto_scaling_groups()[0].mixed_instances_policy().unwrap();
    let spec = policy.launch_template().unwrap().launch_template_specification().unwrap();
    assert_eq!(spec.version(), Some("2"));
}

#[tokio::test]
async fn old_launch_template_versions_are_pruned_but_protected_ones_kept() {
    let world = World::new().await;
    let _turn = world.em.exclusive().await;
    let template = world.group("web-prune", 1, false, false).await;
    world.add_versions(&template, 5).await;
    let mut p = params("web-prune");
    p["launchTemplateVersionsToKeep"] = json!(2);
    let (_, event) = world.job(p);
    world.invoke(event).await;
    let versions = world.versions(&template).await;
    // 1 is the default and the group's current version, 7 the new one, 6 the newest old one.
    assert_eq!(versions, vec![1, 6, 7]);
}

#[tokio::test]
async fn pruning_never_deletes_the_version_another_group_on_the_same_template_runs() {
    // Finding 6: staging and production share one template; production is pinned to 3.
    let world = World::new().await;
    let _turn = world.em.exclusive().await;
    let template = world.group("web-staging", 1, false, false).await;
    world.add_versions(&template, 5).await;
    world
        .autoscaling
        .create_auto_scaling_group()
        .auto_scaling_group_name("web-production")
        .min_size(0)
        .max_size(2)
        .desired_capacity(1)
        .availability_zones("us-east-1a")
        .launch_template(LaunchTemplateSpecification::builder().launch_template_id(&template).version("3").build())
        .send()
        .await
        .unwrap();
    let mut p = params("web-staging");
    p["launchTemplateVersionsToKeep"] = json!(1);
    let (job, event) = world.job(p);
    world.invoke(event).await;
    assert_eq!(world.record(&job)["result"]["kind"], "continuation");
    let versions = world.versions(&template).await;
    // 1: the default and staging's current; 3: production's; 7: the new (and latest) one.
    assert_eq!(versions, vec![1, 3, 7]);
}

#[tokio::test]
async fn a_duplicate_delivery_of_an_answered_job_is_done_not_an_invocation_error() {
    // Finding 10: CodePipeline answers InvalidJobStateException; Lambda must not retry.
    let world = World::new().await;
    let _turn = world.em.exclusive().await;
    world.group("web-twice", 1, false, false).await;
    let (job, event) = world.job(params("web-twice"));
    world.invoke(event.clone()).await;
    assert_eq!(world.record(&job)["result"]["kind"], "continuation");
    run_job(&world.reporter, invocation(event, Duration::from_secs(60)), |job, fallback| world.action.handle(job, fallback))
        .await
        .expect("the second delivery ends quietly");
    assert_eq!(world.em.get("/refreshes").as_array().unwrap().len(), 1, "and started nothing new");
}

#[tokio::test]
async fn throttling_on_the_wire_is_retried_and_the_refresh_still_succeeds() {
    let world = World::new().await;
    let _turn = world.em.exclusive().await;
    world.group("web-throttled", 2, false, false).await;
    world.em.post("/faults", json!({"service": "autoscaling", "operation": "DescribeInstanceRefreshes", "kind": "throttle", "count": 2}));
    world.em.post("/faults", json!({"service": "codepipeline", "operation": "PutJobSuccessResult", "kind": "throttle", "count": 1}));
    let (job, event) = world.job(params("web-throttled"));
    let record = world.drive(job, event, |_| "CONTINUE").await;
    assert_eq!(record["result"]["kind"], "success", "{record}");
    let hits: Vec<i64> = world.em.get("/faults").as_array().unwrap().iter().map(|f| f["hits"].as_i64().unwrap()).collect();
    assert_eq!(hits, vec![2, 1]);
}

#[tokio::test]
async fn a_persistent_aws_outage_fails_the_job_instead_of_leaving_it_waiting() {
    let world = World::new().await;
    let _turn = world.em.exclusive().await;
    world.group("web-down", 1, false, false).await;
    world.em.post("/faults", json!({"service": "autoscaling", "kind": "error", "status": 503}));
    let (job, event) = world.job(params("web-down"));
    world.invoke(event).await;
    let failure = &world.record(&job)["result"]["failureDetails"];
    let message = failure["message"].as_str().unwrap();
    assert!(message.contains("autoscaling:DescribeAutoScalingGroups failed"), "{message}");
}

#[tokio::test]
async fn a_missing_group_fails_the_job_as_a_configuration_error() {
    let world = World::new().await;
    let _turn = world.em.exclusive().await;
    let (job, event) = world.job(params("no-such-group"));
    world.invoke(event).await;
    let failure = &world.record(&job)["result"]["failureDetails"];
    assert_eq!(failure["type"], "ConfigurationError");
    assert!(failure["message"].as_str().unwrap().contains("`no-such-group` was not found"));
}

#[tokio::test]
async fn a_partial_rollout_of_50_on_a_4_instance_group_succeeds_with_percent_complete_50_and_instances_not_updated_2() {
    let world = World::new().await;
    let _turn = world.em.exclusive().await;
    world.group("web-partial", 4, false, false).await;
    let mut p = params("web-partial");
    // Two at a time (4 − ceil(4 × 50 %) below desired, none above): the first batch lands on 50 %.
    p["preferences"]["maxHealthyPercentage"] = json!(100);
    p["preferences"]["checkpointPercentages"] = json!([50]);
    p["partialRollout"] = json!(true);
    let (job, event) = world.job(p);

    let record = world.drive(job.clone(), event, |_| "CONTINUE").await;
    let started = world.record(&job);
    let started = started["result"]["executionDetails"]["summary"].as_str().unwrap_or_default();
    assert!(started.ends_with("; a partial rollout to 50% of the group"), "{started}");
    assert_eq!(record["result"]["kind"], "success", "{record}");
    let outputs = &record["result"]["outputVariables"];
    assert_eq!(outputs["PercentComplete"], "50", "{record}");
    assert_eq!(outputs["InstancesNotUpdated"], "2", "{record}");
    assert_eq!(outputs["PartialRollout"], "true", "{record}");
    assert_eq!(outputs["ReleaseId"], COMMIT);
    let summary = record["result"]["executionDetails"]["summary"].as_str().unwrap_or_default();
    assert!(
        summary.starts_with(&format!("Release {COMMIT} is live on 50% of web-partial (partial rollout; 2 instances not updated)")),
        "{record}"
    );

    let tags = world.instance_tags("web-partial").await;
    let released = tags.iter().filter(|t| t.get("deploy:release").map(String::as_str) == Some(COMMIT)).count();
    assert_eq!((tags.len(), released), (4, 2), "half the group runs the release: {tags:?}");
    let refreshes = world.em.get("/refreshes");
    assert_eq!(refreshes[0]["Status"], "Successful", "{refreshes}");
}

#[tokio::test]
async fn checkpoints_ending_below_100_without_partial_rollout_change_nothing() {
    let world = World::new().await;
    let _turn = world.em.exclusive().await;
    let template = world.group("web-half", 4, false, false).await;
    let mut p = params("web-half");
    p["preferences"]["checkpointPercentages"] = json!([50]);
    let (job, event) = world.job(p);
    world.invoke(event).await;
    let failure = &world.record(&job)["result"]["failureDetails"];
    assert_eq!(failure["type"], "ConfigurationError");
    assert!(failure["message"].as_str().unwrap().contains(r#"Set "partialRollout": true if that is meant"#), "{failure}");
    assert_eq!(world.versions(&template).await, vec![1], "no launch template version created");
    assert_eq!(world.em.get("/refreshes").as_array().unwrap().len(), 0, "no refresh started");
}

#[tokio::test]
async fn a_refresh_that_could_outlive_codepipelines_24_hours_changes_nothing() {
    let world = World::new().await;
    let _turn = world.em.exclusive().await;
    let template = world.group("web-slow", 2, false, false).await;
    let mut p = params("web-slow");
    p["preferences"]["checkpointPercentages"] = json!([50, 100]);
    p["preferences"]["checkpointDelaySeconds"] = json!(86_400);
    p["preferences"]["bakeTimeSeconds"] = json!(60);
    let (job, event) = world.job(p);
    world.invoke(event).await;
    let failure = &world.record(&job)["result"]["failureDetails"];
    assert_eq!(failure["type"], "ConfigurationError");
    let message = failure["message"].as_str().unwrap();
    assert!(message.contains("the refresh could run 24 h 1 min (1 checkpoint pause × 24 h delay + bake 1 min)"), "{message}");
    assert_eq!(world.versions(&template).await, vec![1], "no launch template version created");
    assert_eq!(world.em.get("/refreshes").as_array().unwrap().len(), 0, "no refresh started");
}

#[tokio::test]
async fn a_job_delivered_again_after_its_refresh_ended_answers_from_it_and_starts_no_second_one() {
    let world = World::new().await;
    let _turn = world.em.exclusive().await;
    world.group("web-again", 2, false, false).await;
    let (job, event) = world.job(params("web-again"));
    let done = world.drive(job, event.clone(), |_| "CONTINUE").await;
    assert_eq!(done["result"]["kind"], "success", "{done}");
    // The first job's event, delivered once more (a Lambda retry after a lost answer, a duplicate):
    // the same launch template version (its ClientToken is the job id), so the ended refresh is its.
    let answer = world.action.handle(CodePipelineJob::from_event(&event).unwrap(), Fallback::default()).await.unwrap();
    match answer.outcome {
        JobOutcome::Succeeded { summary, output_variables } => {
            assert!(summary.ends_with("succeeded"), "{summary}");
            assert_eq!(Some(output_variables["RefreshId"].as_str()), done["result"]["outputVariables"]["RefreshId"].as_str());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(world.em.get("/refreshes").as_array().unwrap().len(), 1, "no second refresh");
}
