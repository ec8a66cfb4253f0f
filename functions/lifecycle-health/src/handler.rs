//! One invocation: look, decide, and answer the lifecycle action. While the instance is still
//! warming, the wait happens outside any invocation: the check goes to the recheck queue with
//! a delay (and a heartbeat when one is due), and the queue delivers it back for the next look.
//! Only a hook too short for a delivery to keep its heartbeats waits inside the invocation.

use std::time::Duration;

use chrono::{DateTime, Utc};
use lambda_runtime::LambdaEvent;
use serde_json::{json, Value};
use shared::aws::AwsCallError;
use shared::aws::SdkConfig;
use tracing::{error, info, warn};

use crate::aws::lifecycle::{self, bounded, Answered};
use crate::aws::probe::{Context, Probe};
use crate::clock::{Clock, SystemClock};
use crate::decision::{decide, Decision};
use crate::event::{
    continuation_payload, parse, recheck_batch, EventError, Incoming, LaunchCheck, LifecycleActionDetail, Progress, Recheck, Transition,
};
use crate::release::Expectation;
use crate::schedule::{
    backoff, delivered_look_ends, delivery_delay, delivery_keeps_heartbeats, effective_max_wait, heartbeat_due, longest_sleep,
    next_look_fits, LONGEST_DELIVERY_DELAY,
};
use crate::settings::Settings;

#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error("event rejected: {0}")]
    Event(#[from] EventError),
    /// After the SDK's retries. The invocation (or the recheck message) fails, so Lambda (or
    /// the queue) delivers it again; the hook's DefaultResult is the backstop if every retry fails.
    #[error(transparent)]
    Aws(#[from] AwsCallError),
    /// Too short to look and answer in.
    #[error(
        "the invocation had {had:.1} s, and these settings need at least {needs:.1} s (HEALTH_DEADLINE_MARGIN_SECONDS, one look, HEALTH_FIRST_POLL_SECONDS): \
         raise the function's Timeout to at least {needs:.0} s (60 s or more recommended)"
    )]
    InvocationTooShort { had: f64, needs: f64 },
}

/// What Lambda records for a failed invocation: a type to alarm on, and the message.
impl From<HealthError> for lambda_runtime::Diagnostic {
    fn from(err: HealthError) -> Self {
        let error_type = match &err {
            HealthError::Event(_) => "InvalidLifecycleEvent",
            HealthError::Aws(_) => "AwsCallFailed",
            HealthError::InvocationTooShort { .. } => "Misconfigured",
        };
        lambda_runtime::Diagnostic { error_type: error_type.into(), error_message: err.to_string() }
    }
}

#[derive(Clone, Debug)]
pub struct HealthGate<C: Clock = SystemClock> {
    probe: Probe,
    rechecks: Rechecks,
    settings: Settings,
    clock: C,
}

/// Where a check waits between looks: the queue that delivers it back to this function.
#[derive(Clone, Debug)]
pub struct Rechecks {
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
}

impl HealthGate {
    pub fn new(config: &SdkConfig, settings: Settings, recheck_queue_url: String) -> Self {
        Self::from_clients(
            Probe {
                autoscaling: shared::aws_client!(aws_sdk_autoscaling, config),
                ec2: shared::aws_client!(aws_sdk_ec2, config),
                elb: shared::aws_client!(aws_sdk_elasticloadbalancingv2, config),
            },
            Rechecks { sqs: shared::aws_client!(aws_sdk_sqs, config), queue_url: recheck_queue_url },
            settings,
            SystemClock,
        )
    }
}

/// How far one invocation has got with the action.
struct Waiting {
    progress: Progress,
    /// When the last heartbeat call started (or the action did): its timeout runs from there.
    last_heartbeat: DateTime<Utc>,
}

impl<C: Clock> HealthGate<C> {
    pub fn from_clients(probe: Probe, rechecks: Rechecks, settings: Settings, clock: C) -> Self {
        HealthGate { probe, rechecks, settings, clock }
    }

    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, HealthError> {
        let deadline = deadline_of(&event.context, self.clock.now());
        if let Some(batch) = recheck_batch(&event.payload) {
            return self.rechecks(batch?, deadline).await;
        }
        match parse(event.payload, self.clock.now()) {
            Err(err) => {
                // EventBridge retries a failed invocation; the log says what was wrong.
                error!(error = %err, "lifecycle event rejected");
                Err(err.into())
            }
            Ok(Incoming::TestNotification) => {
                info!("autoscaling:TEST_NOTIFICATION acknowledged and ignored");
                Ok(json!({"result": "ignored", "reason": "test notification"}))
            }
            Ok(Incoming::Launch(check)) => self.check(*check, deadline).await,
        }
    }

    /// A batch from the recheck queue: each message continues one check. A message whose check
    /// failed is reported back (ReportBatchItemFailures), so the queue delivers it again after
    /// its visibility timeout and, after the last delivery, moves it to its dead-letter queue;
    /// the others are done.
    async fn rechecks(&self, batch: Vec<Recheck>, deadline: DateTime<Utc>) -> Result<Value, HealthError> {
        let mut failures = Vec::new();
        for recheck in batch {
            let outcome = match recheck.parse(self.clock.now()) {
                Ok(Incoming::Launch(check)) => self.check(*check, deadline).await.map(drop),
                Ok(Incoming::TestNotification) => Ok(()),
                Err(err) => Err(HealthError::Event(err)),
            };
            if let Err(err) = outcome {
                let diagnostic = lambda_runtime::Diagnostic::from(err);
                error!(message_id = %recheck.message_id, error_type = %diagnostic.error_type, error = %diagnostic.error_message, "recheck failed; the queue delivers it again");
                failures.push(json!({"itemIdentifier": recheck.message_id}));
            }
        }
        Ok(json!({"batchItemFailures": failures}))
    }

    async fn check(&self, check: LaunchCheck, deadline: DateTime<Utc>) -> Result<Value, HealthError> {
        let action = &check.action;
        let transition = action.transition();
        let settings = self
            .settings
            .for_hook(action.notification_metadata.as_deref())
            .unwrap_or_else(|err| {
                warn!(error = %err, hook = %action.lifecycle_hook_name, "hook metadata ignored; using the function's settings");
                self.settings.clone()
            })
            .for_transition(transition);
        let had = since(self.clock.now(), deadline);
        if had < settings.shortest_invocation() {
            let err = HealthError::InvocationTooShort { had: had.as_secs_f64(), needs: settings.shortest_invocation().as_secs_f64() };
            error!(error = %err, instance = %action.ec2_instance_id, "function misconfigured; the hook's DefaultResult will decide");
            return Err(err);
        }
        let (call, look_budget) = (settings.call_timeout, settings.look_budget());
        let heartbeat_timeout =
            bounded(call, "autoscaling:DescribeLifecycleHooks", lifecycle::heartbeat_timeout(&self.probe.autoscaling, action)).await?;
        let max_wait = effective_max_wait(settings.max_wait, heartbeat_timeout, look_budget, call);
        let longest = longest_sleep(heartbeat_timeout, look_budget, call);
        // Read once: the group's target groups and release do not change while one instance launches.
        let context = self.context(action, transition, &settings).await?;
        let mut progress = check.progress.clone();
        progress.invocation += 1;
        let mut waiting = Waiting { last_heartbeat: progress.last_heartbeat_at.unwrap_or(check.started_at), progress };
        let mut facts = None;
        loop {
            let look = self.probe.look(&action.ec2_instance_id, &context, &settings, &mut facts).await?;
            let attempt = waiting.progress.looks;
            waiting.progress.looks += 1;
            let now = self.clock.now();
            let elapsed = since(check.started_at, now);
            let (result, reason) = match decide(&look, elapsed, max_wait, &settings) {
                Decision::Continue => ("CONTINUE", "every required check passed".to_owned()),
                Decision::Abandon(reason) => ("ABANDON", reason),
                Decision::Wait(reasons) => {
                    // Never past the maximum wait, never so long a heartbeat could lapse.
                    let sleep = backoff(attempt, settings.first_poll, settings.max_poll, fastrand::f64())
                        .min(longest)
                        .min(max_wait.saturating_sub(elapsed) + Duration::from_millis(100))
                        .min(LONGEST_DELIVERY_DELAY);
                    let delay = delivery_delay(sleep);
                    let remaining = since(now, deadline);
                    let delivered_in_time =
                        delivery_keeps_heartbeats(delay, settings.calls_before_first_look(), look_budget, call, heartbeat_timeout);
                    if delivered_in_time || !next_look_fits(remaining, sleep, look_budget, settings.deadline_margin) {
                        return self.recheck_later(&check, waiting, delay, &reasons, heartbeat_timeout, &settings).await;
                    }
                    // A hook too short for a delivery: wait here, while the invocation lasts.
                    if heartbeat_due(since(waiting.last_heartbeat, now), sleep + look_budget, call, heartbeat_timeout)
                        && self.heartbeat(action, &mut waiting, call).await? == Answered::AlreadyClosed
                    {
                        return Ok(already_closed(&action.ec2_instance_id));
                    }
                    info!(instance = %action.ec2_instance_id, waiting_on = ?reasons, sleep_ms = sleep.as_millis() as u64, "instance still warming; the hook is too short to wait outside the invocation");
                    self.clock.sleep(sleep).await;
                    continue;
                }
            };
            let answered =
                bounded(call, "autoscaling:CompleteLifecycleAction", lifecycle::complete(&self.probe.autoscaling, action, result)).await?;
            info!(
                instance = %action.ec2_instance_id,
                group = %action.auto_scaling_group_name,
                hook = %action.lifecycle_hook_name,
                transition = ?transition,
                result,
                reason = %reason,
                checks = %serde_json::to_string(&look).unwrap_or_default(),
                elapsed_s = elapsed.as_secs(),
                invocation = waiting.progress.invocation,
                looks = waiting.progress.looks,
                heartbeats = waiting.progress.heartbeats,
                already_closed = answered == Answered::AlreadyClosed,
                "lifecycle decision"
            );
            return Ok(json!({"result": result, "reason": reason, "alreadyClosed": answered == Answered::AlreadyClosed}));
        }
    }

    /// The group's target groups and the release an instance must run, as far as `settings`
    /// ask for them.
    async fn context(&self, action: &LifecycleActionDetail, transition: Transition, settings: &Settings) -> Result<Context, HealthError> {
        let call = settings.call_timeout;
        let group_name = &action.auto_scaling_group_name;
        if !settings.check_targets && !settings.check_release {
            return Ok(Context {
                transition,
                target_groups: Vec::new(),
                release: Expectation::Skip { why: not_checked(transition).into() },
            });
        }
        let group = bounded(call, "autoscaling:DescribeAutoScalingGroups", self.probe.group(group_name)).await?;
        let release = if !settings.check_release {
            Expectation::Skip { why: not_checked(transition).into() }
        } else {
            // Two calls, each within its own allowance.
            let reading = "autoscaling:DescribeInstanceRefreshes and ec2:DescribeLaunchTemplateVersions";
            match bounded(2 * call, reading, self.probe.current_release(group_name, group.template)).await? {
                Some(expected) => Expectation::Expect(expected),
                None => Expectation::Skip { why: "the group launches from no launch template".into() },
            }
        };
        let target_groups = if settings.check_targets { group.target_groups } else { Vec::new() };
        Ok(Context { transition, target_groups, release })
    }

    async fn heartbeat(&self, action: &LifecycleActionDetail, waiting: &mut Waiting, call: Duration) -> Result<Answered, HealthError> {
        let sent_at = self.clock.now();
        let answered =
            bounded(call, "autoscaling:RecordLifecycleActionHeartbeat", lifecycle::heartbeat(&self.probe.autoscaling, action)).await?;
        waiting.last_heartbeat = sent_at;
        waiting.progress.heartbeats += 1;
        waiting.progress.last_heartbeat_at = Some(sent_at);
        Ok(answered)
    }

    /// The instance is still warming: keep the action alive until the recheck's invocation can
    /// look (only if it would not live that long anyway), and send the check with its progress
    /// to the recheck queue, delivered back to this function after `delay`.
    async fn recheck_later(
        &self,
        check: &LaunchCheck,
        mut waiting: Waiting,
        delay: Duration,
        reasons: &[String],
        heartbeat_timeout: Duration,
        settings: &Settings,
    ) -> Result<Value, HealthError> {
        let action = &check.action;
        let call = settings.call_timeout;
        // The next invocation reads the hook (and the group, its refresh and the release) before
        // its first look.
        let next_chance = delivered_look_ends(delay, settings.calls_before_first_look(), settings.look_budget(), call);
        if heartbeat_due(since(waiting.last_heartbeat, self.clock.now()), next_chance, call, heartbeat_timeout)
            && self.heartbeat(action, &mut waiting, call).await? == Answered::AlreadyClosed
        {
            return Ok(already_closed(&action.ec2_instance_id));
        }
        let payload = continuation_payload(check, &waiting.progress);
        let queue = &self.rechecks;
        bounded(call, "sqs:SendMessage", lifecycle::recheck_later(&queue.sqs, &queue.queue_url, &payload, delay)).await?;
        info!(
            instance = %action.ec2_instance_id,
            invocation = waiting.progress.invocation,
            looks = waiting.progress.looks,
            delay_s = delay.as_secs(),
            waiting_on = ?reasons,
            "instance still warming; the check looks again after the delay"
        );
        Ok(json!({"result": "RECHECK_SCHEDULED", "delaySeconds": delay.as_secs(), "waitingOn": reasons}))
    }
}

/// Why the release is not checked for `transition` when the settings leave it out.
fn not_checked(transition: Transition) -> &'static str {
    match transition {
        Transition::IntoWarmPool => "going into the warm pool, filled from the group's own launch template",
        Transition::RootVolumeReplacement => "a root volume replacement keeps the instance's launch tags; the refresh chose its image",
        Transition::IntoGroup | Transition::FromWarmPool => "switched off for this hook (checkRelease / HEALTH_CHECK_RELEASE)",
    }
}

fn already_closed(instance: &str) -> Value {
    info!(instance, "the lifecycle action is no longer active (completed elsewhere, duplicate delivery or timed out)");
    json!({"result": "ALREADY_CLOSED"})
}

fn since(earlier: DateTime<Utc>, later: DateTime<Utc>) -> Duration {
    (later - earlier).to_std().unwrap_or(Duration::ZERO)
}

/// The invocation's deadline. One already past as the invocation starts is none Lambda sends
/// (`cargo lambda watch` sends a fixed 600000, January 1970): the check then runs without a
/// deadline, bounded by the maximum wait alone, and never hands over.
fn deadline_of(context: &lambda_runtime::Context, now: DateTime<Utc>) -> DateTime<Utc> {
    match DateTime::from_timestamp_millis(i64::try_from(context.deadline).unwrap_or(i64::MAX)) {
        Some(deadline) if deadline > now => deadline,
        _ => {
            warn!(deadline_ms = context.deadline, "the runtime's deadline is already past; running without one");
            DateTime::<Utc>::MAX_UTC
        }
    }
}
