//! qa-notify against the local emulator: a real pipeline, approval and jobs; the real SNS
//! Publish, delivered to real SQS subscriptions (raw and enveloped, filtered), and the bodies
//! an e-mail and an https (AWS Chatbot) subscriber would get.

use aws_sdk_codepipeline::types::{ApprovalResult, ApprovalStatus, FailureDetails, FailureType};
use integration_tests::{emulator, Emulator};
use qa_notify::settings::Settings;
use qa_notify::Notifier;
use serde_json::{json, Value};
use shared::codepipeline::JobReporter;
use shared::testing::invocation;
use std::time::Duration;

const COMMIT: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b";
const EXECUTION: &str = "3a7c1e52-6b0f-4e9a-9d1c-2f5e8b7a6c41";

struct World {
    em: &'static Emulator,
    sns: aws_sdk_sns::Client,
    sqs: aws_sdk_sqs::Client,
    codepipeline: aws_sdk_codepipeline::Client,
    config: aws_config::SdkConfig,
    topic: String,
}

struct Queue {
    url: String,
}

impl World {
    async fn new() -> Self {
        let em = emulator();
        let config = em.sdk_config().await;
        World {
            em,
            sns: aws_sdk_sns::Client::new(&config),
            sqs: aws_sdk_sqs::Client::new(&config),
            codepipeline: aws_sdk_codepipeline::Client::new(&config),
            config,
            topic: String::new(),
        }
    }

    /// The release pipeline, the topic, and a staging refresh job of `EXECUTION` that succeeded.
    async fn release_pipeline(&mut self) {
        self.em.post(
            "/codepipeline/pipelines",
            json!({"name": "release", "stages": [
                {"name": "Source", "actions": [{"name": "Source", "kind": "source"}]},
                {"name": "Staging", "actions": [{"name": "Refresh", "kind": "lambda", "functionName": "instance-refresh"}]},
                {"name": "Approval", "actions": [{"name": "QA", "kind": "approval", "timeoutInMinutes": 1440}]},
                {"name": "Production", "actions": [{"name": "Refresh", "kind": "lambda", "functionName": "instance-refresh"}]},
            ]}),
        );
        self.topic = self.sns.create_topic().name("releases").send().await.unwrap().topic_arn().unwrap().to_owned();
        let job = self.job("Staging", "Refresh");
        self.codepipeline.put_job_success_result().job_id(job).send().await.unwrap();
    }

    fn job(&self, stage: &str, action: &str) -> String {
        let created = self.em.post(
            "/codepipeline/jobs",
            json!({
                "functionName": "instance-refresh", "pipelineName": "release", "stageName": stage, "actionName": action,
                "pipelineExecutionId": EXECUTION, "userParameters": "{}",
                "inputArtifacts": [{
                    "name": "SourceArtifact", "revision": COMMIT,
                    "revisionSummary": json!({"ProviderType": "GitHub", "CommitMessage": "Fix checkout totals\n\nRounding per basket."}).to_string(),
                    "revisionUrl": format!("https://github.com/shop/web/commit/{COMMIT}"),
                }],
            }),
        );
        created["jobId"].as_str().unwrap().to_owned()
    }

    async fn queue(&self, name: &str, raw: bool, filter: Option<Value>) -> Queue {
        let url = self.sqs.create_queue().queue_name(name).send().await.unwrap().queue_url().unwrap().to_owned();
        let arn = format!("arn:aws:sqs:us-east-1:123456789012:{name}");
        let mut subscribe =
            self.sns.subscribe().topic_arn(&self.topic).protocol("sqs").endpoint(arn).attributes("RawMessageDelivery", raw.to_string());
        if let Some(policy) = filter {
            subscribe = subscribe.attributes("FilterPolicy", policy.to_string());
        }
        subscribe.send().await.unwrap();
        Queue { url }
    }

    async fn received(&self, queue: &Queue) -> Vec<aws_sdk_sqs::types::Message> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&queue.url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .send()
            .await
            .unwrap();
        out.messages().to_vec()
    }

    fn notifier(&self, topic: &str) -> Notifier {
        self.notifier_with(topic, &[])
    }

    fn notifier_with(&self, topic: &str, extra: &[(&str, String)]) -> Notifier {
        let mut vars = vec![
            ("QA_NOTIFY_TOPIC_ARN", topic.to_owned()),
            ("QA_NOTIFY_PIPELINES", "release".to_owned()),
            (
                "QA_NOTIFY_ENVIRONMENT_URLS",
                json!({"staging": "https://staging.shop.example.com", "production": "https://shop.example.com"}).to_string(),
            ),
        ];
        vars.extend(extra.iter().cloned());
        let settings = Settings::from_vars(|key| vars.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone()));
        Notifier::new(&self.config, settings)
    }

    fn events(&self, action: &str, state: &str) -> Vec<Value> {
        let all = self.em.get("/events");
        all.as_array().unwrap().iter().filter(|e| e["detail"]["action"] == action && e["detail"]["state"] == state).cloned().collect()
    }

    fn published(&self) -> Vec<Value> {
        self.em.get("/sns/published").as_array().unwrap().clone()
    }
}

fn string_attribute(m: &aws_sdk_sqs::types::Message, name: &str) -> Option<String> {
    m.message_attributes().and_then(|a| a.get(name)).and_then(|v| v.string_value()).map(str::to_owned)
}

#[tokio::test]
async fn ready_for_qa_reaches_each_subscriber_in_its_own_format() {
    let mut world = World::new().await;
    let _turn = world.em.exclusive().await;
    world.release_pipeline().await;
    let raw = world.queue("qa-raw", true, None).await;
    let enveloped = world.queue("qa-enveloped", false, None).await;
    let failures_only = world.queue("qa-failures", true, Some(json!({"kind": ["deployment-failed"]}))).await;
    let approval = world.em.post(
        "/codepipeline/approvals",
        json!({"pipelineName": "release", "stageName": "Approval", "actionName": "QA", "pipelineExecutionId": EXECUTION}),
    );
    let token = approval["token"].as_str().unwrap();
    let (event,) = <[Value; 1]>::try_from(world.events("QA", "STARTED")).map(|[e]| (e,)).unwrap();

    let out = world.notifier(&world.topic).on_event(&event).await.unwrap();
    assert_eq!(out["result"], "published", "{out}");
    assert_eq!(out["kind"], "ready-for-qa");

    // Raw delivery: the body is the `sqs` document; the attributes are SQS message attributes.
    let [message] = <[_; 1]>::try_from(world.received(&raw).await).unwrap();
    let document: Value = serde_json::from_str(message.body().unwrap()).unwrap();
    assert_eq!(document["schemaVersion"], 1);
    assert_eq!(document["kind"], "ready-for-qa");
    assert_eq!(document["release"]["commitId"], COMMIT);
    assert_eq!(document["release"]["commitMessage"], "Fix checkout totals\n\nRounding per basket.");
    assert_eq!(document["environmentUrl"], "https://staging.shop.example.com");
    assert!(document["approval"]["reviewUrl"].as_str().unwrap().ends_with(&format!("/release/Approval/QA/approve/{token}")));
    assert!(document["approval"]["expires"].is_string(), "{document}");
    assert_eq!(string_attribute(&message, "kind").as_deref(), Some("ready-for-qa"));
    assert_eq!(string_attribute(&message, "pipeline").as_deref(), Some("release"));
    assert_eq!(string_attribute(&message, "stage").as_deref(), Some("staging"));

    // Enveloped: SNS's JSON around the same document, with the subject and attributes.
    let [message] = <[_; 1]>::try_from(world.received(&enveloped).await).unwrap();
    let envelope: Value = serde_json::from_str(message.body().unwrap()).unwrap();
    assert_eq!(envelope["Subject"], "Ready for QA release staging 9f86d08");
    assert_eq!(envelope["MessageAttributes"]["kind"]["Value"], "ready-for-qa");
    assert_eq!(serde_json::from_str::<Value>(envelope["Message"].as_str().unwrap()).unwrap(), document);

    assert!(world.received(&failures_only).await.is_empty(), "the filter policy keeps ready-for-qa away");

    // What an e-mail and an https (AWS Chatbot) subscriber would get.
    let [published] = <[_; 1]>::try_from(world.published()).unwrap();
    let email = published["protocolBodies"]["email"].as_str().unwrap();
    assert!(email.starts_with("Release 9f86d08 of release is ready for QA on staging: \"Fix checkout totals\"."), "{email}");
    assert!(email.contains("Test it at:   https://staging.shop.example.com"), "{email}");
    assert!(email.contains(&format!("/approve/{token}")), "{email}");
    let chatbot: Value = serde_json::from_str(published["protocolBodies"]["https"].as_str().unwrap()).unwrap();
    assert_eq!((chatbot["version"].as_str(), chatbot["source"].as_str()), (Some("1.0"), Some("custom")));
    assert_eq!(chatbot["metadata"]["threadId"], EXECUTION);
}

/// qa-notify's record of notices sent, as template.yaml makes it.
async fn notices_sent_table(config: &aws_config::SdkConfig) -> String {
    use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};
    let dynamodb = aws_sdk_dynamodb::Client::new(config);
    dynamodb
        .create_table()
        .table_name("notices-sent")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder().attribute_name("notice").attribute_type(ScalarAttributeType::S).build().unwrap(),
        )
        .key_schema(KeySchemaElement::builder().attribute_name("notice").key_type(KeyType::Hash).build().unwrap())
        .send()
        .await
        .unwrap();
    "notices-sent".to_owned()
}

#[tokio::test]
async fn an_event_delivered_again_tells_qa_once_and_a_failed_publish_leaves_it_to_the_retry() {
    let mut world = World::new().await;
    let _turn = world.em.exclusive().await;
    world.release_pipeline().await;
    let table = notices_sent_table(&world.config).await;
    world.em.post(
        "/codepipeline/approvals",
        json!({"pipelineName": "release", "stageName": "Approval", "actionName": "QA", "pipelineExecutionId": EXECUTION}),
    );
    let event = world.events("QA", "STARTED")[0].clone();
    let notifier = world.notifier_with(&world.topic, &[("QA_NOTIFY_SENT_TABLE", table)]);

    // SNS fails past the SDK's retries: nothing is sent, the invocation fails, the claim is given up.
    world.em.post("/faults", json!({"service": "sns", "operation": "Publish", "kind": "error", "status": 503}));
    let err = notifier.on_event(&event).await.unwrap_err().to_string();
    assert!(err.contains("sns:Publish"), "{err}");
    world.em.clear_faults();
    assert!(world.published().is_empty());

    // Lambda's retry sends it; the same event delivered again (EventBridge: at least once) does not.
    let sent = notifier.on_event(&event).await.unwrap();
    assert_eq!(sent["result"], "published", "{sent}");
    let again = notifier.on_event(&event).await.unwrap();
    assert_eq!(again["result"], "sent already", "{again}");
    assert_eq!(world.published().len(), 1, "QA is told once");

    // Another event (a new approval's STARTED has a new id) is its own notice.
    let mut other = event.clone();
    other["id"] = json!("another-delivery-id");
    assert_eq!(notifier.on_event(&other).await.unwrap()["result"], "published");
}

#[tokio::test]
async fn a_superseded_approval_is_never_announced() {
    let mut world = World::new().await;
    let _turn = world.em.exclusive().await;
    world.release_pipeline().await;
    world.em.post(
        "/codepipeline/approvals",
        json!({"pipelineName": "release", "stageName": "Approval", "actionName": "QA", "pipelineExecutionId": EXECUTION}),
    );
    world.em.post("/codepipeline/approvals", json!({"pipelineName": "release", "stageName": "Approval", "actionName": "QA", "pipelineExecutionId": "0c2d1e8f-5a4b-4c3d-9e8f-7a6b5c4d3e2f"}));
    let first = world.events("QA", "STARTED")[0].clone();
    let out = world.notifier(&world.topic).on_event(&first).await.unwrap();
    assert_eq!(out["result"], "ignored", "{out}");
    assert!(world.published().is_empty(), "nobody is sent another execution's token");
}

#[tokio::test]
async fn a_rejection_tells_who_rejected_it_and_why() {
    let mut world = World::new().await;
    let _turn = world.em.exclusive().await;
    world.release_pipeline().await;
    let approval = world.em.post(
        "/codepipeline/approvals",
        json!({"pipelineName": "release", "stageName": "Approval", "actionName": "QA", "pipelineExecutionId": EXECUTION}),
    );
    world
        .codepipeline
        .put_approval_result()
        .pipeline_name("release")
        .stage_name("Approval")
        .action_name("QA")
        .token(approval["token"].as_str().unwrap())
        .result(ApprovalResult::builder().status(ApprovalStatus::Rejected).summary("Totals wrong for EUR baskets").build().unwrap())
        .send()
        .await
        .unwrap();
    let event = world.events("QA", "FAILED")[0].clone();
    let out = world.notifier(&world.topic).on_event(&event).await.unwrap();
    assert_eq!(out["kind"], "approval-rejected", "{out}");
    let [published] = <[_; 1]>::try_from(world.published()).unwrap();
    assert_eq!(published["subject"], "Rejected at QA release staging 9f86d08");
    let message: Value = serde_json::from_str(published["message"].as_str().unwrap()).unwrap();
    let text = message["default"].as_str().unwrap();
    assert!(text.starts_with("Release 9f86d08 of release was rejected at QA by AKIDINTEGRATION"), "{text}");
    assert!(text.contains("Reason: Totals wrong for EUR baskets"), "{text}");
}

#[tokio::test]
async fn a_failed_execution_names_the_stage_action_and_error() {
    let mut world = World::new().await;
    let _turn = world.em.exclusive().await;
    world.release_pipeline().await;
    let job = world.job("Production", "Refresh");
    world
        .codepipeline
        .put_job_failure_result()
        .job_id(job)
        .failure_details(
            FailureDetails::builder()
                .r#type(FailureType::JobFailed)
                .message("instance refresh r-1 rolled back: Alarm 5xx is in ALARM state.")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let event = json!({
        "version": "0", "id": "e-9", "detail-type": "CodePipeline Pipeline Execution State Change", "source": "aws.codepipeline",
        "account": "123456789012", "time": "2026-11-26T11:00:00Z", "region": "us-east-1", "resources": [],
        "detail": {"pipeline": "release", "execution-id": EXECUTION, "state": "FAILED", "version": 4.0, "pipeline-execution-attempt": 1.0}
    });
    let out = world.notifier(&world.topic).on_event(&event).await.unwrap();
    assert_eq!(out["kind"], "deployment-failed", "{out}");
    let [published] = <[_; 1]>::try_from(world.published()).unwrap();
    let email = published["protocolBodies"]["email"].as_str().unwrap();
    assert!(email.starts_with("Release 9f86d08 of release failed in Production (action Refresh)"), "{email}");
    assert!(email.contains("Reason:       instance refresh r-1 rolled back: Alarm 5xx is in ALARM state."), "{email}");
    assert!(email.contains("Environment:  https://shop.example.com"), "the failing stage's URL, found case-blind: {email}");
    assert_eq!(published["messageAttributes"]["stage"]["StringValue"], "Production");
}

#[tokio::test]
async fn deployed_answers_its_job_once_published_and_fails_it_when_the_topic_is_missing() {
    let mut world = World::new().await;
    let _turn = world.em.exclusive().await;
    world.release_pipeline().await;
    let reporter = JobReporter::new(world.codepipeline.clone());
    let params = json!({"pipeline": "release", "stage": "production", "pipelineExecutionId": EXECUTION, "release": {"branch": "main"}});
    let job = |world: &World| {
        world.em.post(
            "/codepipeline/jobs",
            json!({"functionName": "qa-notify", "pipelineName": "release", "stageName": "Production", "actionName": "Announce",
                   "pipelineExecutionId": EXECUTION, "userParameters": params.to_string(),
                   "inputArtifacts": [{"name": "SourceArtifact", "revision": COMMIT}]}),
        )
    };

    // SNS throttles twice; the SDK's retries get the message through and the job succeeds.
    world.em.post("/faults", json!({"service": "sns", "operation": "Publish", "kind": "throttle", "count": 2}));
    let created = job(&world);
    world.notifier(&world.topic).handle(&reporter, invocation(created["event"].clone(), Duration::from_secs(60))).await.unwrap();
    let record = world.em.get(&format!("/codepipeline/jobs/{}", created["jobId"].as_str().unwrap()));
    assert_eq!(record["result"]["kind"], "success", "{record}");
    assert!(record["result"]["outputVariables"]["MessageId"].is_string(), "{record}");
    let summary = record["result"]["executionDetails"]["summary"].as_str().unwrap();
    assert!(summary.starts_with("Told releases: Release 9f86d08 of release is live on production: \"Fix checkout totals\""), "{summary}");
    let [published] = <[_; 1]>::try_from(world.published()).unwrap();
    assert_eq!(published["subject"], "Deployed release production 9f86d08");

    // A topic that does not exist fails the job with what to fix, and never leaves it waiting.
    let missing = world.topic.replace("releases", "gone");
    let created = job(&world);
    world.notifier(&missing).handle(&reporter, invocation(created["event"].clone(), Duration::from_secs(60))).await.unwrap();
    let failure = &world.em.get(&format!("/codepipeline/jobs/{}", created["jobId"].as_str().unwrap()))["result"]["failureDetails"];
    assert_eq!(failure["type"], "ConfigurationError", "{failure}");
    assert!(failure["message"].as_str().unwrap().contains("SNS topic arn:aws:sns:us-east-1:123456789012:gone does not exist"), "{failure}");

    // Bad parameters fail the job naming the field.
    let created = world.em.post(
        "/codepipeline/jobs",
        json!({"functionName": "qa-notify", "userParameters": "{\"pipeline\": \"release\"}", "inputArtifacts": []}),
    );
    world.notifier(&world.topic).handle(&reporter, invocation(created["event"].clone(), Duration::from_secs(60))).await.unwrap();
    let failure = &world.em.get(&format!("/codepipeline/jobs/{}", created["jobId"].as_str().unwrap()))["result"]["failureDetails"];
    assert_eq!(failure["type"], "ConfigurationError", "{failure}");
    assert!(failure["message"].as_str().unwrap().contains("stage"), "{failure}");
}

#[tokio::test]
async fn without_a_topic_setting_an_event_fails_the_invocation_and_a_job_is_still_answered() {
    let mut world = World::new().await;
    let _turn = world.em.exclusive().await;
    world.release_pipeline().await;
    let notifier = Notifier::new(&world.config, Settings::from_vars(|_| None));
    world.em.post(
        "/codepipeline/approvals",
        json!({"pipelineName": "release", "stageName": "Approval", "actionName": "QA", "pipelineExecutionId": EXECUTION}),
    );
    let event = world.events("QA", "STARTED")[0].clone();
    let err = notifier.on_event(&event).await.unwrap_err().to_string();
    assert!(err.contains("QA_NOTIFY_TOPIC_ARN is not set"), "{err}");
    let created = world.em.post(
        "/codepipeline/jobs",
        json!({"functionName": "qa-notify", "userParameters": "{\"pipeline\": \"release\", \"stage\": \"dev\"}", "inputArtifacts": []}),
    );
    let reporter = JobReporter::new(world.codepipeline.clone());
    notifier.handle(&reporter, invocation(created["event"].clone(), Duration::from_secs(60))).await.unwrap();
    let failure = &world.em.get(&format!("/codepipeline/jobs/{}", created["jobId"].as_str().unwrap()))["result"]["failureDetails"];
    assert_eq!(failure["type"], "ConfigurationError", "{failure}");
    assert!(failure["message"].as_str().unwrap().contains("QA_NOTIFY_TOPIC_ARN is not set"), "{failure}");
}
