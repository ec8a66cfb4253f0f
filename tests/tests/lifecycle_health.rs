//! lifecycle-health against the emulator: real refreshes, real lifecycle actions, the real
//! SDK over HTTP. The function is invoked in-process with the events the emulator emitted.

use std::time::Duration;

use aws_sdk_autoscaling::types::{DesiredConfiguration, LaunchTemplateSpecification, RefreshPreferences};
use aws_sdk_ec2::types::{LaunchTemplateTagSpecificationRequest, RequestLaunchTemplateData, ResourceType, Tag};
use chrono::{DateTime, Utc};
use integration_tests::{emulator, launch_template, launching_hook, Emulator};
use lambda_runtime::{Context, LambdaEvent};
use lifecycle_health::aws::probe::Probe;
use lifecycle_health::clock::Clock;
use lifecycle_health::handler::Rechecks;
use lifecycle_health::settings::Settings;
use lifecycle_health::HealthGate;
use serde_json::{json, Value};

/// The emulator's clock as the function's: sleeping advances it second by second, firing
/// hook timeouts and refresh steps on the way, so the function's waits and Auto Scaling's
/// timers run on one clock (review finding 12).
#[derive(Clone, Copy)]
struct EmulatorClock(&'static Emulator);

impl Clock for EmulatorClock {
    fn now(&self) -> DateTime<Utc> {
        let seconds = self.0.get("/clock")["now"].as_f64().unwrap();
        DateTime::from_timestamp_millis((seconds * 1000.0) as i64).unwrap()
    }

    fn sleep(&self, duration: Duration) -> impl std::future::Future<Output = ()> + Send {
        let emulator = self.0;
        async move {
            emulator.post("/clock/advance", json!({"seconds": duration.as_secs_f64()}));
        }
    }
}

struct World {
    em: &'static Emulator,
    config: aws_config::SdkConfig,
    autoscaling: aws_sdk_autoscaling::Client,
    ec2: aws_sdk_ec2::Client,
}

impl World {
    async fn new() -> Self {
        let em = emulator();
        let config = em.sdk_config().await;
        World { em, autoscaling: aws_sdk_autoscaling::Client::new(&config), ec2: aws_sdk_ec2::Client::new(&config), config }
    }

    fn clock(&self) -> EmulatorClock {
        EmulatorClock(self.em)
    }

    fn gate(&self, settings: Settings, recheck_queue_url: &str) -> HealthGate<EmulatorClock> {
        HealthGate::from_clients(
            Probe {
                autoscaling: self.autoscaling.clone(),
                ec2: self.ec2.clone(),
                elb: aws_sdk_elasticloadbalancingv2::Client::new(&self.config),
            },
            Rechecks { sqs: self.sqs(), queue_url: recheck_queue_url.into() },
            settings,
            self.clock(),
        )
    }

    fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.config)
    }

    /// The recheck queue, as the template makes it (no event source mapping: the test delivers).
    async fn recheck_queue(&self) -> String {
        let created = self.sqs().create_queue().queue_name("lifecycle-rechecks").send().await.unwrap();
        created.queue_url().unwrap().to_owned()
    }

    /// The next recheck in `queue`, if one is due now on the emulator's clock, deleted as the
    /// event source mapping deletes a message its function handled.
    async fn due_recheck(&self, queue: &str) -> Option<Value> {
        let received = self.sqs().receive_message().queue_url(queue).max_number_of_messages(10).send().await.unwrap();
        let messages = received.messages();
        assert!(messages.len() <= 1, "one recheck at a time: {messages:?}");
        let message = messages.first()?;
        self.sqs().delete_message().queue_url(queue).receipt_handle(message.receipt_handle().unwrap()).send().await.unwrap();
        Some(serde_json::from_str(message.body().unwrap()).unwrap())
    }

    /// A group of `desired` instances with a launching hook, and a refresh to a new version
    /// started on it; returns the refresh id once the first new instance waits on the hook.
    async fn refresh_with_hook(&self, name: &str, desired: i32, auto_rollback: bool, default_result: &str) -> String {
        self.refresh_with(name, desired, auto_rollback, default_result, &[], 30).await
    }

    /// The same, the group attached to `target_groups`, the hook's heartbeat timeout `heartbeat`.
    async fn refresh_with(
        &self,
        name: &str,
        desired: i32,
        auto_rollback: bool,
        default_result: &str,
        target_groups: &[String],
        heartbeat: i32,
    ) -> String {
        let template_id = launch_template(&self.ec2, &format!("{name}-lt"), &[]).await;
        self.autoscaling
            .create_auto_scaling_group()
            .auto_scaling_group_name(name)
            .min_size(0)
            .max_size(desired * 2)
            .desired_capacity(desired)
            .availability_zones("us-east-1a")
            .launch_template(LaunchTemplateSpecification::builder().launch_template_id(&template_id).version("1").build())
            .set_target_group_arns((!target_groups.is_empty()).then(|| target_groups.to_vec()))
            .send()
            .await
            .unwrap();
        launching_hook(&self.autoscaling, name, heartbeat, default_result).await;
        let version = self
            .ec2
            .create_launch_template_version()
            .launch_template_id(&template_id)
            .source_version("1")
            .launch_template_data(
                RequestLaunchTemplateData::builder()
                    .tag_specifications(
                        LaunchTemplateTagSpecificationRequest::builder()
                            .resource_type(ResourceType::Instance)
                            .tags(Tag::builder().key("release").value("r2").build())
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let number = version.launch_template_version().unwrap().version_number().unwrap();
        let started = self
            .autoscaling
            .start_instance_refresh()
            .auto_scaling_group_name(name)
            .desired_configuration(
                DesiredConfiguration::builder()
                    .launch_template(
                        LaunchTemplateSpecification::builder().launch_template_id(&template_id).version(number.to_string()).build(),
                    )
                    .build(),
            )
            .preferences(RefreshPreferences::builder().min_healthy_percentage(50).instance_warmup(0).auto_rollback(auto_rollback).build())
            .send()
            .await
            .unwrap();
        self.em.post("/clock/advance", json!({"seconds": 1.5}));
        started.instance_refresh_id().unwrap().to_owned()
    }

    fn launch_events(&self) -> Vec<Value> {
        let events = self.em.get("/events");
        events.as_array().unwrap().iter().filter(|e| e["detail-type"] == "EC2 Instance-launch Lifecycle Action").cloned().collect()
    }

    fn refresh_status(&self) -> String {
        self.em.get("/refreshes")[0]["Status"].as_str().unwrap().to_owned()
    }

    fn action(&self, token: &str) -> Value {
        let actions = self.em.get("/lifecycle-actions");
        actions.as_array().unwrap().iter().find(|a| a["LifecycleActionToken"] == token).cloned().unwrap()
    }
}

/// An invocation with `remaining` before its deadline, on the emulator's clock.
fn invocation(event: Value, remaining: Duration) -> LambdaEvent<Value> {
    let mut context = Context::default();
    let now = EmulatorClock(emulator()).now();
    context.deadline = u64::try_from((now + chrono::Duration::from_std(remaining).unwrap()).timestamp_millis()).unwrap();
    LambdaEvent::new(event, context)
}

/// The function's defaults (5 s first poll, 30 s maximum poll, 10 s margin), `max_wait_secs`.
fn quick(max_wait_secs: u64) -> Settings {
    Settings { max_wait: Duration::from_secs(max_wait_secs), ..Settings::default() }
}

fn emulator_seconds(world: &World) -> f64 {
    world.em.get("/clock")["now"].as_f64().unwrap()
}

/// Plays the hook's target for every launch event as it appears, until the refresh ends.
async fn answer_launches(world: &World, gate: &HealthGate<EmulatorClock>, before_each: impl Fn(&str)) {
    let mut handled = 0;
    for _ in 0..100 {
        let events = world.launch_events();
        for event in events.iter().skip(handled) {
            before_each(event["detail"]["EC2InstanceId"].as_str().unwrap());
            gate.handle(invocation(event.clone(), Duration::from_secs(60))).await.unwrap();
            handled += 1;
        }
        world.em.post("/clock/advance", json!({"seconds": 1}));
        if !["Pending", "InProgress", "RollbackInProgress", "Baking"].contains(&world.refresh_status().as_str()) {
            return;
        }
    }
    panic!("the refresh did not end");
}

#[tokio::test]
async fn healthy_new_instances_are_continued_and_the_refresh_succeeds() {
    let world = World::new().await;
    let _turn = world.em.exclusive().await;
    world.refresh_with_hook("web-healthy", 2, true, "ABANDON").await;
    let gate = world.gate(quick(30), &world.recheck_queue().await);
    answer_launches(&world, &gate, |_| {}).await;
    assert_eq!(world.refresh_status(), "Successful");
    let first = &world.launch_events()[0]["detail"];
    assert_eq!(world.action(first["LifecycleActionToken"].as_str().unwrap())["Result"], "CONTINUE");

    // A second delivery of the same event finds the action closed and does not fail.
    let again = gate.handle(invocation(world.launch_events()[0].clone(), Duration::from_secs(60))).await.unwrap();
    assert_eq!(again["alreadyClosed"], true);
}

#[tokio::test]
async fn launches_that_keep_coming_up_impaired_are_abandoned_until_the_refresh_rolls_back() {
    // Auto Scaling replaces an abandoned launch with a new instance; only launches that keep
    // failing (three, the emulator's inferred bound) fail the refresh and roll it back.
    let world = World::new().await;
    let _turn = world.em.exclusive().await;
    world.refresh_with_hook("web-impaired", 2, true, "CONTINUE").await;
    let gate = world.gate(quick(30), &world.recheck_queue().await);
    let em = world.em;
    let impaired = std::cell::RefCell::new(Vec::new());
    // The release's launches are impaired; the rollback's replacements are fine.
    answer_launches(&world, &gate, |instance| {
        if impaired.borrow().len() < 3 {
            impaired.borrow_mut().push(instance.to_owned());
            em.post("/health/instance", json!({"instanceId": instance, "status": "impaired"}));
        }
    })
    .await;
    assert_eq!(world.refresh_status(), "RollbackSuccessful");
    let events = world.launch_events();
    for event in &events[..3] {
        assert_eq!(world.action(event["detail"]["LifecycleActionToken"].as_str().unwrap())["Result"], "ABANDON");
    }
    let reason = world.em.get("/refreshes")[0]["RollbackDetails"]["RollbackReason"].as_str().unwrap().to_owned();
    assert!(reason.starts_with("3 instance launches failed") && reason.contains(&impaired.borrow()[2]), "{reason}");
}

#[tokio::test]
async fn heartbeats_keep_a_30_second_hook_open_while_the_instance_warms_for_200_seconds() {
    // Findings 1 and 12: on one clock, a lapse would let the emulator apply ABANDON. Polls
    // of up to a minute are allowed; against a 30 s hook they must be cut short.
    let world = World::new().await;
    let _turn = world.em.exclusive().await;
    world.refresh_with_hook("web-warming", 1, false, "ABANDON").await;
    let event = world.launch_events()[0].clone();
    let token = event["detail"]["LifecycleActionToken"].as_str().unwrap().to_owned();
    world.em.post("/health/instance", json!({"instanceId": event["detail"]["EC2InstanceId"], "status": "initializing", "forSeconds": 200}));
    let began = emulator_seconds(&world);
    let settings = Settings { max_poll: Duration::from_secs(60), ..quick(900) };
    let out = world.gate(settings, &world.recheck_queue().await).handle(invocation(event, Duration::from_secs(900))).await.unwrap();
    assert_eq!(out["result"], "CONTINUE", "{out}");
    assert_eq!(out["alreadyClosed"], false, "the action was still open when the function answered");
    let action = world.action(&token);
    assert_eq!(action["Result"], "CONTINUE", "{action}");
    assert!(action["Heartbeats"].as_i64().unwrap() >= 10, "{action}");
    let waited = emulator_seconds(&world) - began;
    assert!((200.0..215.0).contains(&waited), "continued soon after the instance became ok: {waited} s");
}

#[tokio::test]
async fn a_registered_target_still_unhealthy_after_its_grace_is_abandoned_at_the_grace_not_before() {
    // Finding 12: elapsed time is real emulator time, so the grace period is seen to pass.
    let world = World::new().await;
    let _turn = world.em.exclusive().await;
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&world.config);
    let vpc = world.ec2.describe_vpcs().send().await.unwrap().vpcs()[0].vpc_id().unwrap().to_owned();
    let tg = elb
        .create_target_group()
        .name("web-grace")
        .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
        .port(80)
        .vpc_id(vpc)
        .send()
        .await
        .unwrap()
        .target_groups()[0]
        .target_group_arn()
        .unwrap()
        .to_owned();
    world.refresh_with("web-grace", 1, false, "CONTINUE", std::slice::from_ref(&tg), 30).await;
    let event = world.launch_events()[0].clone();
    let instance = event["detail"]["EC2InstanceId"].as_str().unwrap().to_owned();
    elb.register_targets()
        .target_group_arn(&tg)
        .targets(aws_sdk_elasticloadbalancingv2::types::TargetDescription::builder().id(&instance).port(80).build())
        .send()
        .await
        .unwrap();
    world.em.post("/health/target", json!({"targetGroupArn": tg, "instanceId": instance, "state": "unhealthy"}));
    let settings = Settings { target_grace: Duration::from_secs(60), ..quick(900) };
    let began = emulator_seconds(&world);
    let out = world.gate(settings, &world.recheck_queue().await).handle(invocation(event, Duration::from_secs(900))).await.unwrap();
    assert_eq!(out["result"], "ABANDON", "{out}");
    assert!(out["reason"].as_str().unwrap().contains("after the 60 s grace period"), "{out}");
    let waited = emulator_seconds(&world) - began;
    assert!((58.0..90.0).contains(&waited), "abandoned once the grace had passed: {waited} s");
}

#[tokio::test]
async fn an_instance_ec2_does_not_list_yet_is_waited_for_and_continued() {
    // Findings 2 and 14: InvalidInstanceID.NotFound for the first 20 s after launch.
    let world = World::new().await;
    let _turn = world.em.exclusive().await;
    world.em.post("/ec2/visibility", json!({"delaySeconds": 20}));
    world.refresh_with_hook("web-unseen", 1, false, "ABANDON").await;
    let event = world.launch_events()[0].clone();
    let out = world.gate(quick(900), &world.recheck_queue().await).handle(invocation(event, Duration::from_secs(900))).await.unwrap();
    assert_eq!(out["result"], "CONTINUE", "{out}");
}

#[tokio::test]
async fn an_instance_that_stays_initializing_is_abandoned_at_the_maximum_wait_counted_across_rechecks() {
    // Findings 3, 4 and 12: the event carries no time, the first invocation is short; the
    // second one must still count from the first one's start.
    let world = World::new().await;
    let _turn = world.em.exclusive().await;
    world.refresh_with_hook("web-slow", 1, false, "CONTINUE").await;
    let mut event = world.launch_events()[0].clone();
    event.as_object_mut().unwrap().remove("time");
    let token = event["detail"]["LifecycleActionToken"].as_str().unwrap().to_owned();
    world.em.post("/health/instance", json!({"instanceId": event["detail"]["EC2InstanceId"], "status": "initializing"}));
    let queue = world.recheck_queue().await;
    let gate = world.gate(quick(120), &queue);
    let began = emulator_seconds(&world);

    // 30 s: it looks and waits in the invocation (a 30 s hook is too short for a delivered
    // recheck) while a look still fits, then sends the recheck.
    let first = gate.handle(invocation(event, Duration::from_secs(30))).await.unwrap();
    assert_eq!(first["result"], "RECHECK_SCHEDULED", "{first}");
    let after_first = emulator_seconds(&world) - began;
    assert!(after_first <= 20.5, "the first invocation kept its 10 s margin: {after_first} s");
    assert!(world.due_recheck(&queue).await.is_none(), "not delivered before its delay");
    world.em.post("/clock/advance", json!({"seconds": first["delaySeconds"]}));
    let recheck = world.due_recheck(&queue).await.expect("the recheck is due after its delay");
    assert_eq!(recheck["progress"]["invocation"], 1);

    // The next invocation abandons at 120 s from the first one's start.
    let second = gate.handle(invocation(recheck, Duration::from_secs(300))).await.unwrap();
    assert_eq!(second["result"], "ABANDON", "{second}");
    assert!(second["reason"].as_str().unwrap().contains("(maximum wait 120 s): EC2 instance status is initializing"), "{second}");
    let total = emulator_seconds(&world) - began;
    assert!((120.0..126.0).contains(&total), "the maximum wait counted from the first invocation: {total} s");
    let action = world.action(&token);
    assert_eq!(action["Result"], "ABANDON", "the function answered before the hook's own timeout: {action}");
    assert!(action["Heartbeats"].as_i64().unwrap() >= 5, "{action}");
    world.em.post("/clock/advance", json!({"seconds": 1}));
    assert_eq!(world.refresh_status(), "InProgress", "Auto Scaling retries an abandoned launch");
    let retry = &world.launch_events()[1]["detail"];
    assert_ne!(retry["LifecycleActionToken"].as_str(), Some(token.as_str()), "a new instance with its own action");
}

#[tokio::test]
async fn behind_a_300_second_hook_a_warming_instance_waits_in_the_recheck_queue_not_in_an_invocation() {
    let world = World::new().await;
    let _turn = world.em.exclusive().await;
    world.refresh_with("web-queued", 1, false, "ABANDON", &[], 300).await;
    let event = world.launch_events()[0].clone();
    let token = event["detail"]["LifecycleActionToken"].as_str().unwrap().to_owned();
    world.em.post("/health/instance", json!({"instanceId": event["detail"]["EC2InstanceId"], "status": "initializing", "forSeconds": 40}));
    let queue = world.recheck_queue().await;
    let gate = world.gate(quick(900), &queue);
    let began = emulator_seconds(&world);
    let (mut event, mut rechecks) = (event, 0);
    let out = loop {
        let before = emulator_seconds(&world);
        let out = gate.handle(invocation(event, Duration::from_secs(60))).await.unwrap();
        assert!(emulator_seconds(&world) - before < 2.0, "no waiting inside an invocation");
        if out["result"] != "RECHECK_SCHEDULED" {
            break out;
        }
        assert!(world.due_recheck(&queue).await.is_none(), "not delivered before its delay");
        world.em.post("/clock/advance", json!({"seconds": out["delaySeconds"]}));
        event = world.due_recheck(&queue).await.expect("due after its delay");
        rechecks += 1;
    };
    assert_eq!(out["result"], "CONTINUE", "{out}");
    assert!(rechecks >= 3, "{rechecks} rechecks over 40 s");
    let waited = emulator_seconds(&world) - began;
    assert!((40.0..80.0).contains(&waited), "continued soon after the instance became ok: {waited} s");
    let action = world.action(&token);
    assert_eq!((action["Result"].as_str(), action["Heartbeats"].as_i64()), (Some("CONTINUE"), Some(0)), "{action}");
}

#[tokio::test]
async fn an_instance_whose_user_data_tagged_bootstrap_failed_is_abandoned_with_the_reason_it_gave() {
    let world = World::new().await;
    let _turn = world.em.exclusive().await;
    world.refresh_with_hook("web-bootfail", 1, false, "CONTINUE").await;
    let event = world.launch_events()[0].clone();
    let instance = event["detail"]["EC2InstanceId"].as_str().unwrap().to_owned();
    let tag = |k: &str, v: &str| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build();
    // What fleet/user-data.sh's ERR trap leaves on the instance.
    let reason = "reading secret web/staging from Secrets Manager - exit 254";
    world
        .ec2
        .create_tags()
        .resources(&instance)
        .tags(tag("bootstrap", "failed"))
        .tags(tag("bootstrap-reason", reason))
        .send()
        .await
        .unwrap();

    let out =
        world.gate(quick(300), &world.recheck_queue().await).handle(invocation(event.clone(), Duration::from_secs(60))).await.unwrap();
    assert_eq!(out["reason"], format!("user data reported bootstrap=failed: {reason}"), "{out}");
    assert_eq!(world.action(event["detail"]["LifecycleActionToken"].as_str().unwrap())["Result"], "ABANDON");
}
