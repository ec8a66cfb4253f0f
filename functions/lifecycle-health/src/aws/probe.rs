//! Looks at the instance: EC2 state and status checks, its tags, its target groups, and the
//! optional HTTP health endpoint; and reads the release its group launches now.

use std::time::Duration;

use aws_sdk_ec2::types::{Filter, InstanceStateName, InstanceStatusSummary, SummaryStatus};
use aws_sdk_elasticloadbalancingv2::types::{TargetDescription, TargetHealthReasonEnum, TargetHealthStateEnum};
use shared::aws::AwsCallError;

use aws_sdk_autoscaling::types::{LaunchTemplateSpecification, MixedInstancesPolicy};
use aws_sdk_ec2::types::ResourceType;
use chrono::{DateTime, Utc};

use crate::bootstrap::{self, Freshness, InstanceTags};
use crate::decision::{Checks, HttpCheckResult, InstanceCheck, Look, TargetCheck};
use crate::event::Transition;
use crate::release::{self, Expectation, Expected, LatestRefresh, TemplateRef};
use crate::settings::{HttpCheck, Settings};

/// What one invocation reads once and every look uses.
#[derive(Debug, Clone)]
pub struct Context {
    pub transition: Transition,
    /// The group's target groups (empty when they are not checked).
    pub target_groups: Vec<String>,
    pub release: Expectation,
}

/// Facts about the instance that do not change during an action, read on the first look
/// that needs them (`None` until then).
#[derive(Debug, Clone)]
pub struct InstanceFacts {
    private_ip: Option<String>,
    root_attached_at: Option<DateTime<Utc>>,
}

/// The group as lifecycle-health needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupView {
    pub target_groups: Vec<String>,
    /// Its launch template (or its MixedInstancesPolicy's), if it has one.
    pub template: Option<TemplateRef>,
}

#[derive(Clone, Debug)]
pub struct Probe {
    pub autoscaling: aws_sdk_autoscaling::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
}

impl Probe {
    /// One look, bounded by the settings' look budget (a look that takes longer is reported
    /// as timed out, so the heartbeat schedule holds whatever AWS or the instance does).
    /// `context`: read once per invocation; `facts`: filled on the first look that needs them.
    pub async fn look(
        &self,
        instance_id: &str,
        context: &Context,
        settings: &Settings,
        facts: &mut Option<InstanceFacts>,
    ) -> Result<Look, AwsCallError> {
        let budget = settings.look_budget();
        match tokio::time::timeout(budget, self.checks(instance_id, context, settings, facts)).await {
            Ok(checks) => checks.map(Look::Answered),
            Err(_) => Ok(Look::TimedOut { budget_ms: budget.as_millis() as u64 }),
        }
    }

    async fn checks(
        &self,
        instance_id: &str,
        context: &Context,
        settings: &Settings,
        facts: &mut Option<InstanceFacts>,
    ) -> Result<Checks, AwsCallError> {
        let instance = self.instance(instance_id).await?;
        let tags = self.tags(instance_id, &settings.bootstrap_tag).await?;
        let strict = context.transition == Transition::RootVolumeReplacement;
        if facts.is_none() && (strict || tags.bootstrap_at.is_some() || settings.http.is_some()) && instance_is_listed(&instance) {
            *facts = self.facts(instance_id).await?;
        }
        let root_attached_at = facts.as_ref().and_then(|f| f.root_attached_at);
        let freshness = if strict { Freshness::Strict { root_attached_at } } else { Freshness::Lenient { root_attached_at } };
        let bootstrap = bootstrap::check(&tags, freshness);
        let release = context.release.check(&tags.launch);
        let targets = if settings.check_targets { self.targets(instance_id, &context.target_groups).await? } else { Vec::new() };
        let http = match (&settings.http, &instance) {
            (None, _) => HttpCheckResult::NotConfigured,
            (Some(http), InstanceCheck::Running { .. }) => match facts.as_ref().and_then(|f| f.private_ip.as_deref()) {
                Some(ip) => http_check(ip, http).await,
                None => HttpCheckResult::Failed { detail: "the instance has no private IP yet".into() },
            },
            (Some(_), _) => HttpCheckResult::Failed { detail: "the instance is not running yet".into() },
        };
        Ok(Checks { instance, targets, http, bootstrap, release })
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

    /// The private IP (for the HTTP check) and when the root volume was attached (a boot runs
    /// on it: a bootstrap tag from before then is an earlier boot's).
    async fn facts(&self, instance_id: &str) -> Result<Option<InstanceFacts>, AwsCallError> {
        let out = self
            .ec2
            .describe_instances()
            .instance_ids(instance_id)
            .send()
            .await
            .map_err(|e| AwsCallError::from_sdk("ec2:DescribeInstances", e))?;
        let Some(instance) = out.reservations().iter().flat_map(|r| r.instances()).find(|i| i.instance_id() == Some(instance_id)) else {
            return Ok(None);
        };
        let root = instance.root_device_name();
        let root_attached_at = instance
            .block_device_mappings()
            .iter()
            .find(|m| m.device_name().is_some() && m.device_name() == root)
            .and_then(|m| m.ebs())
            .and_then(|ebs| ebs.attach_time())
            .and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()));
        Ok(Some(InstanceFacts { private_ip: instance.private_ip_address().map(str::to_owned), root_attached_at }))
    }

    /// The bootstrap tags user data sets and the launch tags EC2 set, in one call.
    async fn tags(&self, instance_id: &str, tag: &str) -> Result<InstanceTags, AwsCallError> {
        let out = self
            .ec2
            .describe_tags()
            .filters(Filter::builder().name("resource-id").values(instance_id).build())
            .filters(Filter::builder().name("key").set_values(Some(bootstrap::keys(tag).to_vec())).build())
            .send()
            .await
            .map_err(|e| AwsCallError::from_sdk("ec2:DescribeTags", e))?;
        Ok(InstanceTags::from_pairs(tag, out.tags().iter().filter_map(|t| Some((t.key()?, t.value()?)))))
    }

    /// The group's target groups and launch template.
    pub async fn group(&self, group: &str) -> Result<GroupView, AwsCallError> {
        let out = self
            .autoscaling
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(group)
            .send()
            .await
            .map_err(|e| AwsCallError::from_sdk("autoscaling:DescribeAutoScalingGroups", e))?;
        let Some(found) = out.auto_scaling_groups().iter().find(|g| g.auto_scaling_group_name() == Some(group)) else {
            return Ok(GroupView::default());
        };
        Ok(GroupView {
            target_groups: found.target_group_arns().to_vec(),
            template: template_of(found.launch_template(), found.mixed_instances_policy()),
        })
    }

    /// The release `group` launches now: its refresh's desired version while one rolls forward,
    /// else its own; the version's number and `deploy:release` tag, from the launch template.
    pub async fn current_release(&self, group: &str, template: Option<TemplateRef>) -> Result<Option<Expected>, AwsCallError> {
        let out = self
            .autoscaling
            .describe_instance_refreshes()
            .auto_scaling_group_name(group)
            .max_records(1)
            .send()
            .await
            .map_err(|e| AwsCallError::from_sdk("autoscaling:DescribeInstanceRefreshes", e))?;
        let latest = out.instance_refreshes().first().map(|r| LatestRefresh {
            id: r.instance_refresh_id().unwrap_or_default().to_owned(),
            status: r.status().map(|s| s.as_str().to_owned()).unwrap_or_default(),
            desired: r.desired_configuration().and_then(|d| template_of(d.launch_template(), d.mixed_instances_policy())),
        });
        let Some((spec, source)) = release::current_template(template, latest) else { return Ok(None) };
        let out = self
            .ec2
            .describe_launch_template_versions()
            .set_launch_template_id(spec.id.clone())
            .set_launch_template_name(if spec.id.is_some() { None } else { spec.name.clone() })
            .versions(spec.version.clone().unwrap_or_else(|| "$Default".into()))
            .send()
            .await
            .map_err(|e| AwsCallError::from_sdk("ec2:DescribeLaunchTemplateVersions", e))?;
        let Some(version) = out.launch_template_versions().first() else {
            return Err(AwsCallError {
                operation: "ec2:DescribeLaunchTemplateVersions",
                code: None,
                detail: format!("launch template {:?} has no version {:?}", spec.id.or(spec.name), spec.version),
            });
        };
        let release = version
            .launch_template_data()
            .into_iter()
            .flat_map(|d| d.tag_specifications())
            .filter(|t| t.resource_type() == Some(&ResourceType::Instance))
            .flat_map(|t| t.tags())
            .find(|t| t.key() == Some(shared::release::RELEASE_TAG))
            .and_then(|t| t.value())
            .map(str::to_owned);
        Ok(Some(Expected {
            template_id: version.launch_template_id().unwrap_or_default().to_owned(),
            version: version.version_number().unwrap_or_default(),
            release,
            source,
        }))
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

/// The launch template a group (or a refresh's desired configuration) launches from: its own,
/// or its MixedInstancesPolicy's.
fn template_of(own: Option<&LaunchTemplateSpecification>, mixed: Option<&MixedInstancesPolicy>) -> Option<TemplateRef> {
    let spec = own.or_else(|| mixed.and_then(|m| m.launch_template()).and_then(|t| t.launch_template_specification()))?;
    Some(TemplateRef {
        id: spec.launch_template_id().map(str::to_owned),
        name: spec.launch_template_name().map(str::to_owned),
        version: spec.version().map(str::to_owned),
    })
}

fn instance_is_listed(instance: &InstanceCheck) -> bool {
    matches!(instance, InstanceCheck::Running { .. } | InstanceCheck::Pending)
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
