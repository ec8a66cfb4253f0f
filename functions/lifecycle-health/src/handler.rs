//! One invocation: look, decide, and answer the lifecycle action, waiting (with backoff,
//! heartbeats and a hand-over to a new invocation) while the instance is still warming.

use std::time::Duration;

use aws_config::SdkConfig;
use chrono::{DateTime, Utc};
use lambda_runtime::LambdaEvent;
use serde_json::{json, Value};
use shared::aws::AwsCallError;
use tracing::{error, info, warn};

use crate::aws::lifecycle::{self, Answered};
use crate::aws::probe::Probe;
use crate::decision::{decide, Decision};
use crate::event::{continuation_payload, parse, EventError, Incoming, LaunchCheck};
use crate::schedule::{backoff, fits, heartbeat_due};
use crate::settings::Settings;

#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error("event rejected: {0}")]
    Event(#[from] EventError),
    /// After the SDK's retries. The invocation fails, so Lambda retries it; the hook's
    /// DefaultResult is the backstop if every retry fails.
    #[error(transparent)]
    Aws(#[from] AwsCallError),
    #[error("cannot hand the check over: AWS_LAMBDA_FUNCTION_NAME is not set")]
    NoFunctionName,
}

/// What Lambda records for a failed invocation: a type to alarm on, and the message.
impl From<HealthError> for lambda_runtime::Diagnostic {
    fn from(err: HealthError) -> Self {
        let error_type = match &err {
            HealthError::Event(_) => "InvalidLifecycleEvent",
            HealthError::Aws(_) => "AwsCallFailed",
            HealthError::NoFunctionName => "Misconfigured",
        };
        lambda_runtime::Diagnostic { error_type: error_type.into(), error_message: err.to_string() }
    }
}

#[derive(Clone, Debug)]
pub struct HealthGate {
    probe: Probe,
    lambda: aws_sdk_lambda::Client,
    settings: Settings,
    /// This function's own name, for continuing a check in a new invocation.
    function_name: Option<String>,
}

impl HealthGate {
    pub fn new(config: &SdkConfig, settings: Settings, function_name: Option<String>) -> Self {
        Self::from_clients(
            Probe {
                autoscaling: aws_sdk_autoscaling::Client::new(config),
                ec2: aws_sdk_ec2::Client::new(config),
                elb: aws_sdk_elasticloadbalancingv2::Client::new(config),
            },
            aws_sdk_lambda::Client::new(config),
            settings,
            function_name,
        )
    }

    pub fn from_clients(probe: Probe, lambda: aws_sdk_lambda::Client, settings: Settings, function_name: Option<String>) -> Self {
        HealthGate { probe, lambda, settings, function_name }
    }

    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, HealthError> {
        let deadline = deadline_of(&event.context);
        match parse(event.payload, Utc::now()) {
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

    async fn check(&self, check: LaunchCheck, deadline: DateTime<Utc>) -> Result<Value, HealthError> {
        let action = &check.action;
        let settings = self.settings.for_hook(action.notification_metadata.as_deref()).unwrap_or_else(|err| {
            warn!(error = %err, hook = %action.lifecycle_hook_name, "hook metadata ignored; using the function's settings");
            self.settings.clone()
        });
        let heartbeat_timeout = lifecycle::heartbeat_timeout(&self.probe.autoscaling, action).await?;
        // Read once: the group's target groups do not change while one instance launches.
        let target_groups = if settings.check_targets {
            self.probe.target_groups(&action.auto_scaling_group_name).await?
        } else {
            Vec::new()
        };
        let mut progress = check.progress.clone();
        progress.invocation += 1;
        let mut last_heartbeat = progress.last_heartbeat_at.unwrap_or(check.started_at);
        let mut attempt = 0;
        loop {
            let checks = self.probe.look(&action.ec2_instance_id, &target_groups, &settings).await?;
            let now = Utc::now();
            let elapsed = since(check.started_at, now);
            let decision = decide(&checks, elapsed, &settings);
            let (result, reason) = match &decision {
                Decision::Continue => ("CONTINUE", "every required check passed".to_owned()),
                Decision::Abandon(reason) => ("ABANDON", reason.clone()),
                Decision::Wait(reasons) => {
                    let sleep = backoff(attempt, settings.first_poll, settings.max_poll, fastrand::f64())
                        .min(settings.max_wait.saturating_sub(elapsed) + Duration::from_millis(100));
                    attempt += 1;
                    if !fits(since(now, deadline), sleep, settings.deadline_margin) {
                        return self.hand_over(&check, progress, reasons).await;
                    }
                    if heartbeat_due(since(last_heartbeat, now), sleep, heartbeat_timeout) {
                        if lifecycle::heartbeat(&self.probe.autoscaling, action).await? == Answered::AlreadyClosed {
                            return Ok(already_closed(action.ec2_instance_id.as_str()));
                        }
                        last_heartbeat = Utc::now();
                        progress.heartbeats += 1;
                        progress.last_heartbeat_at = Some(last_heartbeat);
                    }
                    info!(instance = %action.ec2_instance_id, waiting_on = ?reasons, sleep_ms = sleep.as_millis() as u64, "instance still warming");
                    tokio::time::sleep(sleep).await;
                    continue;
                }
            };
            let answered = lifecycle::complete(&self.probe.autoscaling, action, result).await?;
            info!(
                instance = %action.ec2_instance_id,
                group = %action.auto_scaling_group_name,
                hook = %action.lifecycle_hook_name,
                result,
                reason = %reason,
                checks = %serde_json::to_string(&checks).unwrap_or_default(),
                elapsed_s = elapsed.as_secs(),
                invocation = progress.invocation,
                heartbeats = progress.heartbeats,
                already_closed = answered == Answered::AlreadyClosed,
                "lifecycle decision"
            );
            return Ok(json!({"result": result, "reason": reason, "alreadyClosed": answered == Answered::AlreadyClosed}));
        }
    }

    /// The invocation's time is running out: extend the hook, and continue in a new
    /// invocation of this function with the same event and the progress so far.
    async fn hand_over(&self, check: &LaunchCheck, mut progress: crate::event::Progress, reasons: &[String]) -> Result<Value, HealthError> {
        let action = &check.action;
        if lifecycle::heartbeat(&self.probe.autoscaling, action).await? == Answered::AlreadyClosed {
            return Ok(already_closed(&action.ec2_instance_id));
        }
        progress.heartbeats += 1;
        progress.last_heartbeat_at = Some(Utc::now());
        let function = self.function_name.as_deref().ok_or(HealthError::NoFunctionName)?;
        lifecycle::continue_in_new_invocation(&self.lambda, function, &continuation_payload(check, &progress)).await?;
        info!(instance = %action.ec2_instance_id, invocation = progress.invocation, waiting_on = ?reasons, "check continues in a new invocation");
        Ok(json!({"result": "CONTINUED_IN_NEW_INVOCATION", "waitingOn": reasons}))
    }
}

fn already_closed(instance: &str) -> Value {
    info!(instance, "the lifecycle action is no longer active (completed elsewhere, duplicate delivery or timed out)");
    json!({"result": "ALREADY_CLOSED"})
}

fn since(earlier: DateTime<Utc>, later: DateTime<Utc>) -> Duration {
    (later - earlier).to_std().unwrap_or(Duration::ZERO)
}

fn deadline_of(context: &lambda_runtime::Context) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(i64::try_from(context.deadline).unwrap_or(i64::MAX)).unwrap_or_else(Utc::now)
}
