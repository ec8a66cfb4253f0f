//! Looks at the instance: EC2 state and status checks, its tags, its target groups, and the
//! optional HTTP health endpoint.

use std::time::Duration;

use aws_sdk_ec2::types::{Filter, InstanceStateName, InstanceStatusSummary, SummaryStatus};
use aws_sdk_elasticloadbalancingv2::types::{TargetDescription, TargetHealthReasonEnum, TargetHealthStateEnum};
use shared::aws::AwsCallError;

use crate::decision::{BootstrapCheck, Checks, HttpCheckResult, InstanceCheck, Look, TargetCheck};
use crate::settings::{HttpCheck, Settings};

#[derive(Clone, Debug)]
pub struct Probe {
    pub autoscaling: aws_sdk_autoscaling::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
}

impl Probe {
    /// One look, bounded by the settings' look budget (a look that takes longer is reported
    /// as timed out, so the heartbeat schedule holds whatever AWS or the instance does).
    /// `target_groups`: the group's, read once per invocation with [`Probe::target_groups`];
    /// `private_ip`: filled on the first look that needs it, kept for the invocation.
    pub async fn look(
        &self,
        instance_id: &str,
        target_groups: &[String],
        settings: &Settings,
        private_ip: &mut Option<String>,
    ) -> Result<Look, AwsCallError> {
        let budget = settings.look_budget();
        match tokio::time::timeout(budget, self.checks(instance_id, target_groups, settings, private_ip)).await {
            Ok(checks) => checks.map(Look::Answered),
            Err(_) => Ok(Look::TimedOut { budget_ms: budget.as_millis() as u64 }),
        }
    }

    async fn checks(
        &self,
        instance_id: &str,
        target_groups: &[String],
        settings: &Settings,
        private_ip: &mut Option<String>,
    ) -> Result<Checks, AwsCallError> {
        let instance = self.instance(instance_id).await?;
        let bootstrap = self.bootstrap(instance_id, &settings.bootstrap_tag).await?;
        let targets = if settings.check_targets { self.targets(instance_id, target_groups).await? } else { Vec::new() };
        let http = match (&settings.http, &instance) {
            (None, _) => HttpCheckResult::NotConfigured,
            (Some(http), InstanceCheck::Running { .. }) => {
                if private_ip.is_none() {
                    *private_ip = self.private_ip(instance_id).await?;
                }
                match private_ip.as_deref() {
                    Some(ip) => http_check(ip, http).await,
                    None => HttpCheckResult::Failed { detail: "the instance has no private IP yet".into() },
                }
            }
            (Some(_), _) => HttpCheckResult::Failed { detail: "the instance is not running yet".into() },
        };
        Ok(Checks { instance, targets, http, bootstrap })
    }

    async fn instance(&self, instance_id: &str) -> Result<InstanceCheck, AwsCallError> {
        let statuses = self.ec2.describe_instance_status().instance_ids(instance_id).include_all_instances(true).send().await;
        let statuses = match statuses {
            Ok(out) => out,
            Err(err) => {
                let err = AwsCallError::from_sdk("ec2:DescribeInstanceStatus", err);
                return if err.is("InvalidInstanceID.NotFound") { Ok(InstanceCheck::NotFound) } else { Err(err) };
            }
        };
        let Some(status) = statuses.instance_statuses().iter().find(|s| s.instance_id() == Some(instance_id)) else {
            return Ok(InstanceCheck::NotFound);
        };
        let summary = |s: Option<&InstanceStatusSummary>| s.and_then(|s| s.status()).cloned().unwrap_or(SummaryStatus::InsufficientData);
        Ok(match status.instance_state().and_then(|s| s.name()) {
            None | Some(InstanceStateName::Pending) => InstanceCheck::Pending,
            Some(InstanceStateName::Running) => InstanceCheck::Running {
                instance_status: summary(status.instance_status()),
                system_status: summary(status.system_status()),
            },
            Some(state) => InstanceCheck::Gone { state: state.clone() },
        })
    }

    async fn private_ip(&self, instance_id: &str) -> Result<Option<String>, AwsCallError> {
        let out = self
            .ec2
            .describe_instances()
            .instance_ids(instance_id)
            .send()
            .await
            .map_err(|e| AwsCallError::from_sdk("ec2:DescribeInstances", e))?;
        Ok(out.reservations().iter().flat_map(|r| r.instances()).find_map(|i| i.private_ip_address().map(str::to_owned)))
    }

    /// The bootstrap tag and, beside it, `<tag>-reason` (fleet/user-data.sh sets both on failure).
    async fn bootstrap(&self, instance_id: &str, tag: &str) -> Result<BootstrapCheck, AwsCallError> {
        let reason_tag = format!("{tag}-reason");
        let out = self
            .ec2
            .describe_tags()
            .filters(Filter::builder().name("resource-id").values(instance_id).build())
            .filters(Filter::builder().name("key").values(tag).values(&reason_tag).build())
            .send()
            .await
            .map_err(|e| AwsCallError::from_sdk("ec2:DescribeTags", e))?;
        let value_of = |key: &str| out.tags().iter().find(|t| t.key() == Some(key)).and_then(|t| t.value());
        Ok(match value_of(tag) {
            None => BootstrapCheck::Absent,
            Some(v) if v.eq_ignore_ascii_case("complete") => BootstrapCheck::Complete,
            Some(v) if v.eq_ignore_ascii_case("failed") => {
                BootstrapCheck::Failed { reason: value_of(&reason_tag).filter(|r| !r.trim().is_empty()).map(str::to_owned) }
            }
            Some(v) => BootstrapCheck::Other { value: v.to_owned() },
        })
    }

    /// The target groups attached to the Auto Scaling group.
    pub async fn target_groups(&self, group: &str) -> Result<Vec<String>, AwsCallError> {
        let out = self
            .autoscaling
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(group)
            .send()
            .await
            .map_err(|e| AwsCallError::from_sdk("autoscaling:DescribeAutoScalingGroups", e))?;
        Ok(out.auto_scaling_groups().iter().flat_map(|g| g.target_group_arns()).cloned().collect())
    }

    async fn targets(&self, instance_id: &str, target_groups: &[String]) -> Result<Vec<TargetCheck>, AwsCallError> {
        let mut checks = Vec::with_capacity(target_groups.len());
        for arn in target_groups {
            let health = self
                .elb
                .describe_target_health()
                .target_group_arn(arn)
                .targets(TargetDescription::builder().id(instance_id).build())
                .send()
                .await
                .map_err(|e| AwsCallError::from_sdk("elasticloadbalancing:DescribeTargetHealth", e))?;
            let found = health.target_health_descriptions().iter().find(|d| d.target().and_then(|t| t.id()) == Some(instance_id));
            let th = found.and_then(|d| d.target_health());
            // Not listed at all: as good as AWS's own "unused / Target.NotRegistered".
            let (state, reason) = match th {
                Some(h) => (h.state().cloned().unwrap_or(TargetHealthStateEnum::Unused), h.reason().cloned()),
                None => (TargetHealthStateEnum::Unused, Some(TargetHealthReasonEnum::NotRegistered)),
            };
            checks.push(TargetCheck { target_group: arn.clone(), state, reason });
        }
        Ok(checks)
    }
}

/// GET `http://<ip>:<port><path>`, expecting a 2xx within the timeout.
pub async fn http_check(ip: &str, check: &HttpCheck) -> HttpCheckResult {
    let url = format!("http://{ip}:{}{}", check.port, check.path);
    let timeout = check.timeout;
    let result = tokio::task::spawn_blocking(move || get(&url, timeout)).await;
    result.unwrap_or_else(|e| HttpCheckResult::Failed { detail: format!("the check did not run: {e}") })
}

fn get(url: &str, timeout: Duration) -> HttpCheckResult {
    let agent: ureq::Agent = ureq::Agent::config_builder().timeout_global(Some(timeout)).build().into();
    match agent.get(url).call() {
        Ok(response) => HttpCheckResult::Passed { status: response.status().as_u16() },
        Err(ureq::Error::StatusCode(code)) => HttpCheckResult::Failed { detail: format!("{url} answered {code}") },
        Err(err) => HttpCheckResult::Failed { detail: format!("{url}: {err}") },
    }
}
