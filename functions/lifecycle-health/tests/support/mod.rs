//! Mocked AWS for the lifecycle-health scenarios: canned outputs and one way to run an event.
#![allow(dead_code)]

use std::time::Duration;

use aws_sdk_autoscaling::operation::complete_lifecycle_action::CompleteLifecycleActionOutput;
use aws_sdk_autoscaling::operation::describe_auto_scaling_groups::DescribeAutoScalingGroupsOutput;
use aws_sdk_autoscaling::operation::describe_lifecycle_hooks::DescribeLifecycleHooksOutput;
use aws_sdk_autoscaling::operation::record_lifecycle_action_heartbeat::RecordLifecycleActionHeartbeatOutput;
use aws_sdk_autoscaling::types::{AutoScalingGroup, LifecycleHook};
use aws_sdk_ec2::operation::describe_instance_status::DescribeInstanceStatusOutput;
use aws_sdk_ec2::operation::describe_tags::DescribeTagsOutput;
use aws_sdk_ec2::types::{InstanceState, InstanceStateName, InstanceStatus, InstanceStatusSummary, SummaryStatus, TagDescription};
use aws_sdk_elasticloadbalancingv2::operation::describe_target_health::DescribeTargetHealthOutput;
use aws_sdk_elasticloadbalancingv2::types::{TargetDescription, TargetHealth, TargetHealthDescription, TargetHealthStateEnum};
use aws_sdk_sqs::operation::send_message::SendMessageOutput;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use chrono::{DateTime, Utc};
use lambda_runtime::{Context, LambdaEvent};
use lifecycle_health::aws::probe::Probe;
use lifecycle_health::clock::Clock;
use lifecycle_health::handler::Rechecks;
use lifecycle_health::settings::Settings;
use lifecycle_health::{HealthError, HealthGate};
use serde_json::Value;
use shared::testing::fast_retries;
use std::sync::{Arc, Mutex};

pub const INSTANCE: &str = "i-0123456789abcdef0";
pub const TOKEN: &str = "87654321-4321-4321-4321-210987654321";
pub const QUEUE_URL: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/stack-lifecycle-rechecks";

pub fn sample(name: &str) -> Value {
    let path = format!("{}/../../events/lifecycle-health/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The launch sample, started `ago` before now, without hook metadata.
pub fn launch(ago: Duration) -> Value {
    let mut event = sample("launch.json");
    event["time"] = Value::String((chrono::Utc::now() - chrono::Duration::from_std(ago).unwrap()).to_rfc3339());
    event["detail"].as_object_mut().unwrap().remove("NotificationMetadata");
    event
}

/// The function's defaults without the release check, which has its own scenarios (in
/// `release.rs`) and needs the group's launch template; time is virtual in these tests (see
/// [`VirtualClock`]).
pub fn fast() -> Settings {
    Settings { check_release: false, ..Settings::default() }
}

/// A clock that starts at the real now and moves only when the function sleeps (recorded in
/// `sleeps`) or a recheck waits in the queue (recorded in `delays`), instantly: scenarios over
/// minutes run in milliseconds.
#[derive(Clone, Debug)]
pub struct VirtualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
    pub sleeps: Arc<Mutex<Vec<Duration>>>,
    pub delays: Arc<Mutex<Vec<Duration>>>,
}

impl VirtualClock {
    pub fn new() -> Self {
        VirtualClock { now: Arc::new(Mutex::new(Utc::now())), sleeps: Arc::default(), delays: Arc::default() }
    }

    /// Time spent waiting inside invocations.
    pub fn slept(&self) -> Duration {
        self.sleeps.lock().unwrap().iter().sum()
    }

    /// Time passing outside any invocation, while a recheck waits for its delivery.
    pub fn pass(&self, duration: Duration) {
        *self.now.lock().unwrap() += chrono::Duration::from_std(duration).unwrap();
        self.delays.lock().unwrap().push(duration);
    }

    pub fn delays(&self) -> Vec<Duration> {
        self.delays.lock().unwrap().clone()
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap()
    }

    fn sleep(&self, duration: Duration) -> impl std::future::Future<Output = ()> + Send {
        *self.now.lock().unwrap() += chrono::Duration::from_std(duration).unwrap();
        self.sleeps.lock().unwrap().push(duration);
        std::future::ready(())
    }
}

#[derive(Clone, Copy)]
pub struct Mocks<'a> {
    pub autoscaling: &'a [&'a Rule],
    pub ec2: &'a [&'a Rule],
    pub elb: &'a [&'a Rule],
}

/// The recheck queue: remembers each message sent to `QUEUE_URL` as (body, DelaySeconds).
#[derive(Clone, Debug, Default)]
pub struct RecheckQueue(pub Arc<Mutex<Vec<(Value, u64)>>>);

impl RecheckQueue {
    pub fn rule(&self) -> Rule {
        let sent = self.0.clone();
        mock!(aws_sdk_sqs::Client::send_message)
            .match_requests(move |r| {
                let body = serde_json::from_str(r.message_body().unwrap_or_default()).expect("a JSON body");
                sent.lock().unwrap().push((body, u64::try_from(r.delay_seconds().unwrap_or(0)).unwrap()));
                r.queue_url() == Some(QUEUE_URL)
            })
            .then_output(|| SendMessageOutput::builder().message_id("m-1").build())
    }

    pub fn sent(&self) -> Vec<(Value, u64)> {
        self.0.lock().unwrap().clone()
    }
}

/// Runs `event` with `remaining` before each invocation's deadline, and each recheck it sends
/// after the recheck's delay (moving the clock), until the check is answered: the whole check, however many
/// invocations it takes. Each call is answered by the first of its service's rules that
/// matches and is not used up (looks repeat, and how many there are depends on the jitter);
/// scenarios assert counts and, where order matters, the virtual times the rules recorded.
pub async fn run(event: Value, mocks: Mocks<'_>, settings: Settings, remaining: Duration) -> Result<Value, HealthError> {
    run_on(&VirtualClock::new(), event, mocks, settings, remaining).await
}

pub async fn run_on(
    clock: &VirtualClock,
    event: Value,
    mocks: Mocks<'_>,
    settings: Settings,
    remaining: Duration,
) -> Result<Value, HealthError> {
    let queue = RecheckQueue::default();
    let rule = queue.rule();
    let mut out = invoke(clock, event, mocks, &rule, settings.clone(), remaining).await?;
    while out["result"] == "RECHECK_SCHEDULED" {
        let (body, delay) = queue.sent().pop().expect("a recheck was sent");
        assert_eq!(out["delaySeconds"], delay, "the answer names the delay sent");
        clock.pass(Duration::from_secs(delay));
        // The continuation itself, as a direct event: its answer says what the check did (a
        // batch from the queue answers only its failures; `rechecks.rs` runs those).
        out = invoke(clock, body, mocks, &rule, settings.clone(), remaining).await?;
    }
    Ok(out)
}

/// One invocation with `event`, the recheck queue answering with `queue`.
pub async fn invoke(
    clock: &VirtualClock,
    event: Value,
    mocks: Mocks<'_>,
    queue: &Rule,
    settings: Settings,
    remaining: Duration,
) -> Result<Value, HealthError> {
    let gate = HealthGate::from_clients(
        Probe {
            autoscaling: mock_client!(aws_sdk_autoscaling, RuleMode::MatchAny, mocks.autoscaling, |c| c.retry_config(fast_retries())),
            ec2: mock_client!(aws_sdk_ec2, RuleMode::MatchAny, mocks.ec2, |c| c.retry_config(fast_retries())),
            elb: mock_client!(aws_sdk_elasticloadbalancingv2, RuleMode::MatchAny, mocks.elb, |c| c.retry_config(fast_retries())),
        },
        Rechecks {
            sqs: mock_client!(aws_sdk_sqs, RuleMode::MatchAny, &[queue], |c| c.retry_config(fast_retries())),
            queue_url: QUEUE_URL.into(),
        },
        settings,
        clock.clone(),
    );
    let mut context = Context::default();
    context.deadline = u64::try_from((clock.now() + chrono::Duration::from_std(remaining).unwrap()).timestamp_millis()).unwrap();
    gate.handle(LambdaEvent::new(event, context)).await
}

pub fn hook(timeout: i32) -> Rule {
    mock!(aws_sdk_autoscaling::Client::describe_lifecycle_hooks).then_output(move || {
        DescribeLifecycleHooksOutput::builder().lifecycle_hooks(LifecycleHook::builder().heartbeat_timeout(timeout).build()).build()
    })
}

pub fn group(target_groups: &'static [&'static str]) -> Rule {
    mock!(aws_sdk_autoscaling::Client::describe_auto_scaling_groups).then_output(move || {
        DescribeAutoScalingGroupsOutput::builder()
            .auto_scaling_groups(
                AutoScalingGroup::builder()
                    .auto_scaling_group_name("web-staging")
                    .set_target_group_arns(Some(target_groups.iter().map(|s| (*s).to_owned()).collect()))
                    .build(),
            )
            .build()
    })
}

pub fn complete(result: &'static str) -> Rule {
    mock!(aws_sdk_autoscaling::Client::complete_lifecycle_action)
        .match_requests(move |r| r.lifecycle_action_result() == Some(result) && r.lifecycle_action_token() == Some(TOKEN))
        .then_output(|| CompleteLifecycleActionOutput::builder().build())
}

pub fn heartbeat() -> Rule {
    mock!(aws_sdk_autoscaling::Client::record_lifecycle_action_heartbeat)
        .match_requests(|r| r.lifecycle_action_token() == Some(TOKEN))
        .then_output(|| RecordLifecycleActionHeartbeatOutput::builder().build())
}

pub fn status(state: InstanceStateName, instance: &'static str, system: &'static str) -> Rule {
    statuses(&[(state, instance, system)])
}

fn status_output(state: &InstanceStateName, instance: &str, system: &str) -> DescribeInstanceStatusOutput {
    DescribeInstanceStatusOutput::builder()
        .instance_statuses(
            InstanceStatus::builder()
                .instance_id(INSTANCE)
                .instance_state(InstanceState::builder().name(state.clone()).build())
                .instance_status(InstanceStatusSummary::builder().status(SummaryStatus::from(instance)).build())
                .system_status(InstanceStatusSummary::builder().status(SummaryStatus::from(system)).build())
                .build(),
        )
        .build()
}

/// One answer per look, the last one repeated.
pub fn statuses(looks: &[(InstanceStateName, &'static str, &'static str)]) -> Rule {
    let mut sequence = mock!(aws_sdk_ec2::Client::describe_instance_status)
        .match_requests(|r| r.instance_ids() == [INSTANCE] && r.include_all_instances() == Some(true))
        .sequence();
    for (state, instance, system) in looks.iter().cloned() {
        sequence = sequence.output(move || status_output(&state, instance, system));
    }
    sequence.repeatedly().build()
}

/// EC2 does not know the instance for `looks` looks (eventual consistency), then it runs, ok.
pub fn unknown_then_ok(looks: usize) -> Rule {
    mock!(aws_sdk_ec2::Client::describe_instance_status)
        .sequence()
        .http_response(|| {
            Response::new(
                StatusCode::try_from(400).unwrap(),
                SdkBody::from(format!("<Response><Errors><Error><Code>InvalidInstanceID.NotFound</Code><Message>The instance ID '{INSTANCE}' does not exist</Message></Error></Errors><RequestID>1</RequestID></Response>")),
            )
        })
        .times(looks)
        .output(|| status_output(&InstanceStateName::Running, "ok", "ok"))
        .repeatedly()
        .build()
}

pub fn tags(bootstrap: Option<&'static str>) -> Rule {
    mock!(aws_sdk_ec2::Client::describe_tags).then_output(move || {
        DescribeTagsOutput::builder()
            .set_tags(bootstrap.map(|v| vec![TagDescription::builder().key("bootstrap").value(v).resource_id(INSTANCE).build()]))
            .build()
    })
}

/// `bootstrap=failed` with the `bootstrap-reason` tag, answered only when both keys are asked for.
pub fn failed_with_reason(reason: &'static str) -> Rule {
    mock!(aws_sdk_ec2::Client::describe_tags)
        .match_requests(|r| {
            let keys: Vec<&str> =
                r.filters().iter().filter(|f| f.name() == Some("key")).flat_map(|f| f.values()).map(String::as_str).collect();
            keys.starts_with(&["bootstrap", "bootstrap-reason"])
        })
        .then_output(move || {
            let tag = |k: &str, v: &str| TagDescription::builder().key(k).value(v).resource_id(INSTANCE).build();
            DescribeTagsOutput::builder().tags(tag("bootstrap", "failed")).tags(tag("bootstrap-reason", reason)).build()
        })
}

pub fn target(state: &'static str, reason: Option<&'static str>) -> Rule {
    mock!(aws_sdk_elasticloadbalancingv2::Client::describe_target_health).then_output(move || {
        let mut health = TargetHealth::builder().state(TargetHealthStateEnum::from(state));
        if let Some(r) = reason {
            health = health.reason(aws_sdk_elasticloadbalancingv2::types::TargetHealthReasonEnum::from(r));
        }
        DescribeTargetHealthOutput::builder()
            .target_health_descriptions(
                TargetHealthDescription::builder()
                    .target(TargetDescription::builder().id(INSTANCE).build())
                    .target_health(health.build())
                    .build(),
            )
            .build()
    })
}

pub fn throttled() -> Response {
    Response::new(
        StatusCode::try_from(400).unwrap(),
        SdkBody::from(
            r#"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>1</RequestId></ErrorResponse>"#,
        ),
    )
}

pub fn no_active_action() -> Response {
    Response::new(
        StatusCode::try_from(400).unwrap(),
        SdkBody::from(format!(
            r#"<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code><Message>No active Lifecycle Action found with token {TOKEN}</Message></Error><RequestId>1</RequestId></ErrorResponse>"#
        )),
    )
}

pub const MINUTE: Duration = Duration::from_secs(60);
pub const NO_RULES: &[&Rule] = &[];

/// A health endpoint on 127.0.0.1 answering each request with the next of `status_lines`
/// (the last one repeated), remembering the request lines.
pub fn health_server(status_lines: &'static [&'static str]) -> (u16, std::sync::mpsc::Receiver<String>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let mut stream = stream.unwrap();
            let mut buf = [0u8; 1024];
            let read = stream.read(&mut buf).unwrap();
            let _ = tx.send(String::from_utf8_lossy(&buf[..read]).lines().next().unwrap_or_default().to_owned());
            let status = status_lines[n.min(status_lines.len() - 1)];
            let _ = stream.write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes());
        }
    });
    (port, rx)
}

/// `DescribeInstances` answering the instance's private IP.
pub fn private_ip(ip: &'static str) -> Rule {
    mock!(aws_sdk_ec2::Client::describe_instances).then_output(move || {
        aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput::builder()
            .reservations(
                aws_sdk_ec2::types::Reservation::builder()
                    .instances(aws_sdk_ec2::types::Instance::builder().instance_id(INSTANCE).private_ip_address(ip).build())
                    .build(),
            )
            .build()
    })
}

/// A sample event of `name`, started `ago` before now.
pub fn sample_at(name: &str, ago: Duration) -> Value {
    let mut event = sample(name);
    event["time"] = Value::String((chrono::Utc::now() - chrono::Duration::from_std(ago).unwrap()).to_rfc3339());
    event
}

/// The group (target group `arn:tg/web`), launching from launch template `lt-0abc` at
/// `version` (a number, `$Latest`...).
pub fn group_launching(version: &'static str) -> Rule {
    use aws_sdk_autoscaling::types::LaunchTemplateSpecification;
    mock!(aws_sdk_autoscaling::Client::describe_auto_scaling_groups).then_output(move || {
        DescribeAutoScalingGroupsOutput::builder()
            .auto_scaling_groups(
                AutoScalingGroup::builder()
                    .auto_scaling_group_name("web-staging")
                    .target_group_arns("arn:tg/web")
                    .launch_template(LaunchTemplateSpecification::builder().launch_template_id("lt-0abc").version(version).build())
                    .build(),
            )
            .build()
    })
}

/// The group's newest refresh: `status`, rolling towards `desired` (a version of `lt-0abc`).
pub fn latest_refresh(status: &'static str, desired: Option<&'static str>) -> Rule {
    use aws_sdk_autoscaling::operation::describe_instance_refreshes::DescribeInstanceRefreshesOutput;
    use aws_sdk_autoscaling::types::{DesiredConfiguration, InstanceRefresh, InstanceRefreshStatus, LaunchTemplateSpecification};
    mock!(aws_sdk_autoscaling::Client::describe_instance_refreshes).then_output(move || {
        let refresh = InstanceRefresh::builder()
            .instance_refresh_id("r-1")
            .status(InstanceRefreshStatus::from(status))
            .set_desired_configuration(desired.map(|v| {
                DesiredConfiguration::builder()
                    .launch_template(LaunchTemplateSpecification::builder().launch_template_id("lt-0abc").version(v).build())
                    .build()
            }))
            .build();
        DescribeInstanceRefreshesOutput::builder().instance_refreshes(refresh).build()
    })
}

/// Version `number` of `lt-0abc`, asked for as `asked`, tagging its instances `deploy:release`.
pub fn template_version(asked: &'static str, number: i64, release: &'static str) -> Rule {
    use aws_sdk_ec2::operation::describe_launch_template_versions::DescribeLaunchTemplateVersionsOutput;
    use aws_sdk_ec2::types::{LaunchTemplateTagSpecification, LaunchTemplateVersion, ResourceType, ResponseLaunchTemplateData, Tag};
    mock!(aws_sdk_ec2::Client::describe_launch_template_versions)
        .match_requests(move |r| r.launch_template_id() == Some("lt-0abc") && r.versions() == [asked])
        .then_output(move || {
            let tags = LaunchTemplateTagSpecification::builder()
                .resource_type(ResourceType::Instance)
                .tags(Tag::builder().key("deploy:release").value(release).build())
                .build();
            DescribeLaunchTemplateVersionsOutput::builder()
                .launch_template_versions(
                    LaunchTemplateVersion::builder()
                        .launch_template_id("lt-0abc")
                        .version_number(number)
                        .launch_template_data(ResponseLaunchTemplateData::builder().tag_specifications(tags).build())
                        .build(),
                )
                .build()
        })
}

/// The instance's tags: EC2's launch tags for `lt-0abc` `version`, its release, and each look's
/// bootstrap tag with its time (the last one repeated).
pub fn instance_tags(version: &'static str, release: &'static str, looks: &[(&'static str, Option<&'static str>)]) -> Rule {
    let mut sequence = mock!(aws_sdk_ec2::Client::describe_tags).sequence();
    for (bootstrap, at) in looks.iter().copied() {
        sequence = sequence.output(move || {
            let tag = |k: &str, v: &str| TagDescription::builder().key(k).value(v).resource_id(INSTANCE).build();
            let mut out = DescribeTagsOutput::builder()
                .tags(tag("aws:ec2launchtemplate:id", "lt-0abc"))
                .tags(tag("aws:ec2launchtemplate:version", version))
                .tags(tag("deploy:release", release))
                .tags(tag("bootstrap", bootstrap));
            if let Some(at) = at {
                out = out.tags(tag("bootstrap-at", at));
            }
            out.build()
        });
    }
    sequence.repeatedly().build()
}

/// `DescribeInstances` answering the root volume (`/dev/xvda`), attached at `attached` (RFC 3339).
pub fn root_volume_attached(attached: &'static str) -> Rule {
    use aws_sdk_ec2::types::{EbsInstanceBlockDevice, Instance, InstanceBlockDeviceMapping, Reservation};
    mock!(aws_sdk_ec2::Client::describe_instances).then_output(move || {
        let at = attached.parse::<DateTime<Utc>>().unwrap();
        let ebs = EbsInstanceBlockDevice::builder().attach_time(aws_smithy_types::DateTime::from_secs(at.timestamp())).build();
        aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput::builder()
            .reservations(
                Reservation::builder()
                    .instances(
                        Instance::builder()
                            .instance_id(INSTANCE)
                            .root_device_name("/dev/xvda")
                            .block_device_mappings(InstanceBlockDeviceMapping::builder().device_name("/dev/xvda").ebs(ebs).build())
                            .build(),
                    )
                    .build(),
            )
            .build()
    })
}

/// CompleteLifecycleAction naming the action by its token alone.
pub fn complete_by_token(result: &'static str) -> Rule {
    mock!(aws_sdk_autoscaling::Client::complete_lifecycle_action)
        .match_requests(move |r| r.lifecycle_action_result() == Some(result) && r.instance_id().is_none())
        .then_output(|| CompleteLifecycleActionOutput::builder().build())
}
