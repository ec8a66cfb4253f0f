//! approval-gate against the local emulator: a staging group really refreshed to a release,
//! CloudWatch alarms over the SDK's RPC v2 CBOR, a real pipeline approval, and the answers
//! CodePipeline records.

use approval_gate::settings::Settings;
use approval_gate::Gate;
use aws_sdk_autoscaling::types::{DesiredConfiguration, LaunchTemplateSpecification, RefreshPreferences};
use aws_sdk_cloudwatch::types::{ComparisonOperator, StateValue, Statistic};
use aws_sdk_ec2::types::{LaunchTemplateTagSpecificationRequest, RequestLaunchTemplateData, ResourceType, Tag};
use integration_tests::{emulator, launch_template, Emulator};
use jiff::Timestamp;
use serde_json::{json, Value};
use shared::codepipeline::JobReporter;
use shared::testing::invocation;
use std::time::Duration;

const RELEASE: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b";
const EXECUTION: &str = "3a7c1e52-6b0f-4e9a-9d1c-2f5e8b7a6c41";
const GROUP: &str = "web-staging";

struct World {
    em: &'static Emulator,
    config: aws_config::SdkConfig,
    autoscaling: aws_sdk_autoscaling::Client,
    ec2: aws_sdk_ec2::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
    codepipeline: aws_sdk_codepipeline::Client,
}

impl World {
    async fn new() -> Self {
        let em = emulator();
        let config = em.sdk_config().await;
        World {
            em,
            autoscaling: aws_sdk_autoscaling::Client::new(&config),
            ec2: aws_sdk_ec2::Client::new(&config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(&config),
            codepipeline: aws_sdk_codepipeline::Client::new(&config),
            config,
        }
    }

    /// Staging refreshed to `release` (a launch template version tagged with it), the release
    /// pipeline, the staging job of `EXECUTION` on `RELEASE`, and the QA approval waiting.
    async fn staging_on(&self, release: &str) -> String {
        let template = launch_template(&self.ec2, "web-staging-lt", &[("Name", "web")]).await;
        let spec = LaunchTemplateSpecification::builder().launch_template_id(&template).version("1").build();
        self.autoscaling
            .create_auto_scaling_group()
            .auto_scaling_group_name(GROUP)
            .min_size(0)
            .max_size(4)
            .desired_capacity(2)
            .availability_zones("us-east-1a")
            .launch_template(spec)
            .send()
            .await
            .unwrap();
        let tags = LaunchTemplateTagSpecificationRequest::builder()
            .resource_type(ResourceType::Instance)
            .tags(Tag::builder().key("deploy:release").value(release).build())
            .build();
        let version = self
            .ec2
            .create_launch_template_version()
            .launch_template_id(&template)
            .source_version("1")
            .launch_template_data(RequestLaunchTemplateData::builder().tag_specifications(tags).build())
            .send()
            .await
            .unwrap()
            .launch_template_version()
            .unwrap()
            .version_number()
            .unwrap();
        self.autoscaling
            .start_instance_refresh()
            .auto_scaling_group_name(GROUP)
            .desired_configuration(
                DesiredConfiguration::builder()
                    .launch_template(
                        LaunchTemplateSpecification::builder().launch_template_id(&template).version(version.to_string()).build(),
                    )
                    .build(),
            )
            .preferences(RefreshPreferences::builder().min_healthy_percentage(50).instance_warmup(0).build())
            .send()
            .await
            .unwrap();
        self.em.settle();
        self.em.post(
            "/codepipeline/pipelines",
            json!({"name": "release", "stages": [
                {"name": "Source", "actions": [{"name": "Source", "kind": "source"}]},
                {"name": "Staging", "actions": [{"name": "Refresh", "kind": "lambda"}]},
                {"name": "Approval", "actions": [{"name": "QA", "kind": "approval"}]},
                {"name": "Production", "actions": [{"name": "Gate", "kind": "lambda"}, {"name": "Refresh", "kind": "lambda"}]},
            ]}),
        );
        let job = self.em.post(
            "/codepipeline/jobs",
            json!({"functionName": "instance-refresh", "pipelineName": "release", "stageName": "Staging", "actionName": "Refresh",
                   "pipelineExecutionId": EXECUTION, "inputArtifacts": [{"name": "SourceArtifact", "revision": RELEASE}]}),
        );
        self.codepipeline.put_job_success_result().job_id(job["jobId"].as_str().unwrap()).send().await.unwrap();
        template
    }

    fn start_approval(&self, execution: &str) -> Value {
        self.em.post(
            "/codepipeline/approvals",
            json!({"pipelineName": "release", "stageName": "Approval", "actionName": "QA", "pipelineExecutionId": execution}),
        )
    }

    fn started_event(&self, execution: &str) -> Value {
        let events = self.em.get("/events");
        events
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["detail"]["action"] == "QA" && e["detail"]["state"] == "STARTED" && e["detail"]["execution-id"] == execution)
            .cloned()
            .expect("the approval's STARTED event")
    }

    fn approvals(&self) -> Vec<Value> {
        self.em.get("/codepipeline/approvals").as_array().unwrap().clone()
    }

    async fn alarm(&self, name: &str, state: StateValue, reason: &str) {
        self.cloudwatch
            .put_metric_alarm()
            .alarm_name(name)
            .metric_name("HTTPCode_Target_5XX_Count")
            .namespace("AWS/ApplicationELB")
            .statistic(Statistic::Sum)
            .period(60)
            .evaluation_periods(3)
            .threshold(5.0)
            .comparison_operator(ComparisonOperator::GreaterThanThreshold)
            .send()
            .await
            .unwrap();
        self.cloudwatch.set_alarm_state().alarm_name(name).state_value(state).state_reason(reason).send().await.unwrap();
    }

    fn gate(&self, vars: &[(&str, &str)]) -> Gate {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Gate::new(&self.config, Settings::from_vars(|key| vars.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())))
    }
}

const STAGING: &[(&str, &str)] = &[("GATE_PIPELINES", "release"), ("GATE_STAGING_GROUP", GROUP), ("GATE_ALARMS", "web-staging-5xx")];

#[tokio::test]
async fn cloudwatch_speaks_rpc_v2_cbor_with_the_real_sdk() {
    let world = World::new().await;
    let _turn = world.em.exclusive().await;
    world.alarm("web-staging-5xx", StateValue::Alarm, "Threshold Crossed: 3 datapoints > 5.0").await;
    let out = world.cloudwatch.describe_alarms().alarm_names("web-staging-5xx").send().await.unwrap();
    let [alarm] = <[_; 1]>::try_from(out.metric_alarms().to_vec()).unwrap();
    assert_eq!(alarm.state_value(), Some(&StateValue::Alarm));
    assert_eq!(alarm.state_reason(), Some("Threshold Crossed: 3 datapoints > 5.0"));
    assert_eq!((alarm.threshold(), alarm.evaluation_periods()), (Some(5.0), Some(3)));
    let now = world.em.get("/clock")["now"].as_f64().unwrap();
    let updated = alarm.state_updated_timestamp().unwrap().as_secs_f64();
    assert!((updated - now).abs() < 5.0, "the timestamp decodes (CBOR tag 1): {updated} vs {now}");
    let err =
        world.cloudwatch.set_alarm_state().alarm_name("missing").state_value(StateValue::Ok).state_reason("x").send().await.unwrap_err();
    let service = err.into_service_error();
    assert!(service.is_resource_not_found(), "{service:?}");
}

#[tokio::test]
async fn a_healthy_staging_on_this_release_leaves_the_approval_to_qa() {
    let world = World::new().await;
    let _turn = world.em.exclusive().await;
    world.staging_on(RELEASE).await;
    world.alarm("web-staging-5xx", StateValue::Ok, "fine").await;
    world.start_approval(EXECUTION);
    let out = world.gate(STAGING).on_event(&world.started_event(EXECUTION)).await.unwrap();
    assert_eq!(out["result"], "left to QA", "{out}");
    let checks: Vec<(String, bool)> = out["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["check"].as_str().unwrap().to_owned(), c["passed"].as_bool().unwrap()))
        .collect();
    assert_eq!(checks, [("staging refresh".to_owned(), true), ("staging fleet".to_owned(), true), ("alarms".to_owned(), true)], "{out}");
    assert_eq!(world.approvals()[0]["status"], "InProgress", "QA still decides");

    // A pipeline that lets the gate approve on its own (no QA): the same checks approve it.
    let auto = [STAGING, &[("GATE_AUTO_APPROVE", "true")]].concat();
    let out = world.gate(&auto).on_event(&world.started_event(EXECUTION)).await.unwrap();
    assert_eq!(out["result"], "approved", "{out}");
    let approval = &world.approvals()[0];
    assert_eq!(approval["status"], "Succeeded");
    assert!(
        approval["summary"].as_str().unwrap().starts_with("approval-gate: every check passed: staging refresh: refresh "),
        "{approval}"
    );
}

#[tokio::test]
async fn an_unhealthy_staging_instance_rejects_the_approval_naming_it() {
    let world = World::new().await;
    let _turn = world.em.exclusive().await;
    world.staging_on(RELEASE).await;
    world.alarm("web-staging-5xx", StateValue::Ok, "fine").await;
    let group = world.autoscaling.describe_auto_scaling_groups().auto_scaling_group_names(GROUP).send().await.unwrap();
    let sick = group.auto_scaling_groups()[0].instances()[0].instance_id().unwrap().to_owned();
    world.autoscaling.set_instance_health().instance_id(&sick).health_status("Unhealthy").send().await.unwrap();
    world.start_approval(EXECUTION);
    let out = world.gate(STAGING).on_event(&world.started_event(EXECUTION)).await.unwrap();
    assert_eq!(out["result"], "rejected", "{out}");
    let [approval] = <[_; 1]>::try_from(world.approvals()).unwrap();
    assert_eq!(approval["status"], "Failed");
    let summary = approval["summary"].as_str().unwrap();
    assert!(summary.starts_with("approval-gate rejected: staging fleet: web-staging: "), "{summary}");
    assert!(summary.contains(&format!("{sick} Unhealthy")), "{summary}");
}

#[tokio::test]
async fn an_alarm_in_alarm_rejects_with_its_evidence_and_a_second_delivery_answers_nothing() {
    let world = World::new().await;
    let _turn = world.em.exclusive().await;
    world.staging_on(RELEASE).await;
    world.alarm("web-staging-5xx", StateValue::Alarm, "Threshold Crossed: 3 datapoints > 5.0").await;
    world.start_approval(EXECUTION);
    let event = world.started_event(EXECUTION);
    let gate = world.gate(STAGING);
    // A concurrent duplicate delivery: both decide, CodePipeline takes one answer.
    let (first, second) = tokio::join!(gate.on_event(&event), gate.on_event(&event));
    let results = [first.unwrap()["result"].clone(), second.unwrap()["result"].clone()];
    assert!(results.contains(&json!("rejected")), "{results:?}");
    let [approval] = <[_; 1]>::try_from(world.approvals()).unwrap();
    let summary = approval["summary"].as_str().unwrap();
    assert!(summary.contains("alarms: alarm web-staging-5xx is ALARM since "), "{summary}");
    assert!(summary.ends_with(": Threshold Crossed: 3 datapoints > 5.0"), "{summary}");
    // A later redelivery finds the approval answered and leaves it.
    let again = gate.on_event(&event).await.unwrap();
    assert_eq!(again["result"], "ignored", "{again}");
}

#[tokio::test]
async fn a_stale_execution_is_never_answered() {
    let world = World::new().await;
    let _turn = world.em.exclusive().await;
    world.staging_on("0000000000000000000000000000000000000000").await;
    world.start_approval(EXECUTION);
    world.start_approval("0c2d1e8f-5a4b-4c3d-9e8f-7a6b5c4d3e2f");
    let out = world.gate(STAGING).on_event(&world.started_event(EXECUTION)).await.unwrap();
    assert_eq!(out["result"], "ignored", "{out}");
    assert!(world.approvals().iter().all(|a| a["status"] == "InProgress"), "nothing answered");
}

fn sunday_noon() -> Timestamp {
    "2026-11-29T12:00:00Z".parse().unwrap()
}

fn friday_noon() -> Timestamp {
    "2026-11-27T12:00:00Z".parse().unwrap()
}

#[tokio::test]
async fn the_production_check_fails_its_job_with_the_reasons_and_waits_for_a_closed_window() {
    let world = World::new().await;
    let _turn = world.em.exclusive().await;
    world.staging_on(RELEASE).await;
    world.alarm("web-staging-5xx", StateValue::Ok, "fine").await;
    let reporter = JobReporter::new(world.codepipeline.clone());
    let window = r#"{"timeZone":"UTC","weekly":[{"days":["Mon","Tue","Wed","Thu"],"from":"09:00","to":"16:00"}]}"#;
    let job = |params: Value| {
        world.em.post(
            "/codepipeline/jobs",
            json!({"functionName": "approval-gate", "pipelineName": "release", "stageName": "Production", "actionName": "Gate",
                   "pipelineExecutionId": EXECUTION, "userParameters": params.to_string(),
                   "inputArtifacts": [{"name": "SourceArtifact", "revision": RELEASE}]}),
        )
    };
    let record = |created: &Value| world.em.get(&format!("/codepipeline/jobs/{}", created["jobId"].as_str().unwrap()));
    let params = json!({"pipeline": "release", "pipelineExecutionId": EXECUTION, "window": serde_json::from_str::<Value>(window).unwrap()});

    // Sunday noon: only the window is closed, and Monday 09:00 comes within 24 h: wait.
    let gate = world.gate(STAGING).with_clock(sunday_noon);
    let created = job(params.clone());
    gate.handle(&reporter, invocation(created["event"].clone(), Duration::from_secs(60))).await.unwrap();
    let waiting = record(&created);
    assert_eq!(waiting["result"]["kind"], "continuation", "{waiting}");
    let summary = waiting["result"]["executionDetails"]["summary"].as_str().unwrap();
    assert!(summary.contains("opens Mon 2026-11-30 09:00 UTC"), "{summary}");

    // Friday noon: Monday is beyond the action's 24 h: fail, saying when it would have opened.
    let created = job(params.clone());
    world
        .gate(STAGING)
        .with_clock(friday_noon)
        .handle(&reporter, invocation(created["event"].clone(), Duration::from_secs(60)))
        .await
        .unwrap();
    let failure = &record(&created)["result"]["failureDetails"];
    assert_eq!(failure["type"], "JobFailed", "{failure}");
    assert!(failure["message"].as_str().unwrap().contains("after CodePipeline's 24 h limit"), "{failure}");

    // An alarm firing fails it with the same words the approval would get.
    world.alarm("web-staging-5xx", StateValue::Alarm, "Threshold Crossed").await;
    let created = job(json!({"pipeline": "release", "pipelineExecutionId": EXECUTION}));
    world.gate(STAGING).handle(&reporter, invocation(created["event"].clone(), Duration::from_secs(60))).await.unwrap();
    let failure = &record(&created)["result"]["failureDetails"];
    assert!(
        failure["message"].as_str().unwrap().starts_with("approval-gate rejected: alarms: alarm web-staging-5xx is ALARM"),
        "{failure}"
    );
}
