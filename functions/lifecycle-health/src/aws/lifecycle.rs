//! Answering the lifecycle action, and sending a check to the recheck queue to look again later.

use std::future::Future;
use std::time::Duration;

use serde_json::Value;
use shared::aws::AwsCallError;

use crate::event::LifecycleActionDetail;

// Completion and heartbeats name the action by its token alone. Through a warm pool one
// instance gets two launch actions; an instance id would let a late delivery of the first
// answer the second, with checks meant for the first.

/// Whether Auto Scaling still had the action open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answered {
    Recorded,
    /// "No active Lifecycle Action found": completed elsewhere, a duplicate delivery, or
    /// timed out. Nothing is left to do.
    AlreadyClosed,
}

/// `call`, given at most `budget`: a call that hangs (or retries for longer) must not hold up
/// the heartbeat schedule or the invocation's deadline.
pub async fn bounded<T>(
    budget: Duration,
    operation: &'static str,
    call: impl Future<Output = Result<T, AwsCallError>>,
) -> Result<T, AwsCallError> {
    tokio::time::timeout(budget, call).await.unwrap_or_else(|_| {
        Err(AwsCallError { operation, code: None, detail: format!("AWS did not answer within {} ms", budget.as_millis()) })
    })
}

fn closed_or(err: AwsCallError) -> Result<Answered, AwsCallError> {
    if err.is("ValidationError") && err.detail.contains("No active Lifecycle Action") {
        Ok(Answered::AlreadyClosed)
    } else {
        Err(err)
    }
}

pub async fn complete(
    client: &aws_sdk_autoscaling::Client,
    action: &LifecycleActionDetail,
    result: &str,
) -> Result<Answered, AwsCallError> {
    let sent = client
        .complete_lifecycle_action()
        .auto_scaling_group_name(&action.auto_scaling_group_name)
        .lifecycle_hook_name(&action.lifecycle_hook_name)
        .lifecycle_action_token(&action.lifecycle_action_token)
        .lifecycle_action_result(result)
        .send()
        .await;
    match sent {
        Ok(_) => Ok(Answered::Recorded),
        Err(e) => closed_or(AwsCallError::from_sdk("autoscaling:CompleteLifecycleAction", e)),
    }
}

pub async fn heartbeat(client: &aws_sdk_autoscaling::Client, action: &LifecycleActionDetail) -> Result<Answered, AwsCallError> {
    let sent = client
        .record_lifecycle_action_heartbeat()
        .auto_scaling_group_name(&action.auto_scaling_group_name)
        .lifecycle_hook_name(&action.lifecycle_hook_name)
        .lifecycle_action_token(&action.lifecycle_action_token)
        .send()
        .await;
    match sent {
        Ok(_) => Ok(Answered::Recorded),
        Err(e) => closed_or(AwsCallError::from_sdk("autoscaling:RecordLifecycleActionHeartbeat", e)),
    }
}

/// The hook's heartbeat timeout; AWS's default (1 h) if the hook cannot be read.
pub async fn heartbeat_timeout(client: &aws_sdk_autoscaling::Client, action: &LifecycleActionDetail) -> Result<Duration, AwsCallError> {
    let out = client
        .describe_lifecycle_hooks()
        .auto_scaling_group_name(&action.auto_scaling_group_name)
        .lifecycle_hook_names(&action.lifecycle_hook_name)
        .send()
        .await
        .map_err(|e| AwsCallError::from_sdk("autoscaling:DescribeLifecycleHooks", e))?;
    let seconds = out.lifecycle_hooks().first().and_then(|h| h.heartbeat_timeout()).unwrap_or(3600);
    Ok(Duration::from_secs(u64::try_from(seconds).unwrap_or(3600)))
}

/// Sends `payload` to the recheck queue, to be delivered back to this function after `delay`
/// (whole seconds, at most 900): the check goes on there, and no invocation waits meanwhile.
pub async fn recheck_later(client: &aws_sdk_sqs::Client, queue_url: &str, payload: &Value, delay: Duration) -> Result<(), AwsCallError> {
    client
        .send_message()
        .queue_url(queue_url)
        .message_body(payload.to_string())
        .delay_seconds(i32::try_from(delay.as_secs()).unwrap_or(900))
        .send()
        .await
        .map(drop)
        .map_err(|e| AwsCallError::from_sdk("sqs:SendMessage", e))
}
