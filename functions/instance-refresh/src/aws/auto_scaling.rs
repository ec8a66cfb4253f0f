//! Auto Scaling calls: the group's launch source, its refreshes, and starting one.

use aws_sdk_autoscaling::types::{
    AlarmSpecification, DesiredConfiguration, InstanceRefresh, LaunchTemplateSpecification, MixedInstancesPolicy,
    RefreshPreferences as SdkPreferences, RefreshStrategy, ScaleInProtectedInstances, StandbyInstances,
};
use aws_sdk_autoscaling::Client;
use shared::aws::AwsCallError;

pub use crate::desired::TemplateRef;
use crate::duration::GroupFacts;
use crate::preferences::{InstancePolicy, RefreshPreferences};
use crate::pruning::{TemplateUse, VersionRef};
use crate::tracking::{RefreshSnapshot, RefreshStatus};

/// Which launch template a group launches from, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchSource {
    pub template: TemplateRef,
    /// The group's MixedInstancesPolicy, when it has one: the new version goes inside it.
    pub mixed_instances_policy: Option<MixedInstancesPolicy>,
    /// What sets a refresh's pace on this group, read in the same call.
    pub facts: GroupFacts,
}

pub enum GroupLookup {
    Found(Box<LaunchSource>),
    NotFound,
    /// The group launches from a launch configuration, which cannot pin a release.
    NoLaunchTemplate,
}

pub async fn launch_source(client: &Client, group: &str) -> Result<GroupLookup, AwsCallError> {
    let out = client
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(group)
        .send()
        .await
        .map_err(|e| AwsCallError::from_sdk("autoscaling:DescribeAutoScalingGroups", e))?;
    let Some(found) = out.auto_scaling_groups().iter().find(|g| g.auto_scaling_group_name() == Some(group)) else {
        return Ok(GroupLookup::NotFound);
    };
    let mixed = found.mixed_instances_policy();
    let spec = found.launch_template().or_else(|| mixed.and_then(|m| m.launch_template()).and_then(|t| t.launch_template_specification()));
    Ok(match spec {
        None => GroupLookup::NoLaunchTemplate,
        Some(spec) => GroupLookup::Found(Box::new(LaunchSource {
            template: TemplateRef {
                id: spec.launch_template_id().map(str::to_owned),
                name: spec.launch_template_name().map(str::to_owned),
                version: spec.version().map(str::to_owned),
            },
            mixed_instances_policy: mixed.cloned(),
            facts: GroupFacts {
                desired_capacity: found.desired_capacity().unwrap_or(0),
                default_instance_warmup: found.default_instance_warmup(),
                health_check_grace_period: found.health_check_grace_period(),
                maintenance_min_healthy: found.instance_maintenance_policy().and_then(|p| p.min_healthy_percentage()),
                maintenance_max_healthy: found.instance_maintenance_policy().and_then(|p| p.max_healthy_percentage()),
            },
        })),
    })
}

/// The group's newest refresh (AWS lists newest first), if any.
pub async fn latest_refresh(client: &Client, group: &str) -> Result<Option<RefreshSnapshot>, AwsCallError> {
    let out = client
        .describe_instance_refreshes()
        .auto_scaling_group_name(group)
        .max_records(1)
        .send()
        .await
        .map_err(|e| AwsCallError::from_sdk("autoscaling:DescribeInstanceRefreshes", e))?;
    Ok(out.instance_refreshes().first().map(snapshot))
}

pub async fn refresh(client: &Client, group: &str, id: &str) -> Result<Option<RefreshSnapshot>, AwsCallError> {
    let out = client
        .describe_instance_refreshes()
        .auto_scaling_group_name(group)
        .instance_refresh_ids(id)
        .send()
        .await
        .map_err(|e| AwsCallError::from_sdk("autoscaling:DescribeInstanceRefreshes", e))?;
    Ok(out.instance_refreshes().iter().find(|r| r.instance_refresh_id() == Some(id)).map(snapshot))
}

pub enum StartResult {
    Started(String),
    /// `InstanceRefreshInProgress`: someone started one between our check and our start.
    AlreadyRunning,
}

/// Starts a rolling refresh to `desired` (which names an exact launch template version).
pub async fn start_refresh(
    client: &Client,
    group: &str,
    desired: DesiredConfiguration,
    preferences: &RefreshPreferences,
) -> Result<StartResult, AwsCallError> {
    let result = client
        .start_instance_refresh()
        .auto_scaling_group_name(group)
        .strategy(RefreshStrategy::Rolling)
        .desired_configuration(desired)
        .preferences(sdk_preferences(preferences))
        .send()
        .await
        .map_err(|e| AwsCallError::from_sdk("autoscaling:StartInstanceRefresh", e));
    match result {
        Ok(out) => Ok(StartResult::Started(out.instance_refresh_id().unwrap_or_default().to_owned())),
        Err(err) if err.is("InstanceRefreshInProgress") => Ok(StartResult::AlreadyRunning),
        Err(err) => Err(err),
    }
}

/// Everything in the account that points at a version of the template (`id`, or `name`):
/// each group's configuration and MixedInstancesPolicy overrides, each group's instances, and
/// the desired configuration of each active refresh on those groups. `None` for a reference
/// whose version cannot be read, so the caller can refuse to guess.
pub async fn template_uses(client: &Client, id: &str, name: Option<&str>) -> Result<Vec<Option<TemplateUse>>, AwsCallError> {
    let names = |spec: &LaunchTemplateSpecification| {
        spec.launch_template_id() == Some(id) || (spec.launch_template_name().is_some() && spec.launch_template_name() == name)
    };
    let used =
        |user: String, spec: &LaunchTemplateSpecification| VersionRef::parse(spec.version()).map(|version| TemplateUse { user, version });
    let mut uses = Vec::new();
    let mut groups_using = Vec::new();
    let mut pages = client.describe_auto_scaling_groups().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsCallError::from_sdk("autoscaling:DescribeAutoScalingGroups", e))?;
        for group in page.auto_scaling_groups() {
            let group_name = group.auto_scaling_group_name().unwrap_or_default();
            let mixed = group.mixed_instances_policy().and_then(|m| m.launch_template());
            let configured = group
                .launch_template()
                .into_iter()
                .chain(mixed.and_then(|t| t.launch_template_specification()))
                .chain(mixed.into_iter().flat_map(|t| t.overrides()).filter_map(|o| o.launch_template_specification()));
            let before = uses.len();
            uses.extend(configured.filter(|s| names(s)).map(|s| used(format!("group {group_name}"), s)));
            uses.extend(group.instances().iter().filter_map(|i| {
                let spec = i.launch_template().filter(|s| names(s))?;
                Some(used(format!("instance {} ({group_name})", i.instance_id().unwrap_or_default()), spec))
            }));
            if uses.len() > before {
                groups_using.push(group_name.to_owned());
            }
        }
    }
    for group in groups_using {
        let Some(refresh) = latest_refresh(client, &group).await? else { continue };
        if !refresh.status.is_active() {
            continue;
        }
        if let Some(desired) =
            refresh.desired_template.as_ref().filter(|t| t.id.as_deref() == Some(id) || (t.name.is_some() && t.name.as_deref() == name))
        {
            let user = format!("refresh {} of {group}", refresh.id);
            uses.push(VersionRef::parse(desired.version.as_deref()).map(|version| TemplateUse { user, version }));
        }
    }
    Ok(uses)
}

fn sdk_preferences(p: &RefreshPreferences) -> SdkPreferences {
    SdkPreferences::builder()
        .set_min_healthy_percentage(p.min_healthy_percentage)
        .set_max_healthy_percentage(p.max_healthy_percentage)
        .set_instance_warmup(p.instance_warmup_seconds)
        .set_checkpoint_percentages((!p.checkpoint_percentages.is_empty()).then(|| p.checkpoint_percentages.clone()))
        .set_checkpoint_delay(p.checkpoint_delay_seconds)
        .set_bake_time(p.bake_time_seconds)
        .set_skip_matching(p.skip_matching)
        .set_auto_rollback(p.auto_rollback)
        .set_alarm_specification((!p.alarms.is_empty()).then(|| AlarmSpecification::builder().set_alarms(Some(p.alarms.clone())).build()))
        .set_scale_in_protected_instances(p.scale_in_protected_instances.map(|i| ScaleInProtectedInstances::from(policy_name(i))))
        .set_standby_instances(p.standby_instances.map(|i| StandbyInstances::from(policy_name(i))))
        .build()
}

fn policy_name(policy: InstancePolicy) -> &'static str {
    match policy {
        InstancePolicy::Ignore => "Ignore",
        InstancePolicy::Wait => "Wait",
        InstancePolicy::Refresh => "Refresh",
    }
}

fn snapshot(r: &InstanceRefresh) -> RefreshSnapshot {
    let status_text = r.status().map(|s| s.as_str().to_owned()).unwrap_or_default();
    let desired = r.desired_configuration();
    let desired_spec = desired.and_then(|d| d.launch_template()).or_else(|| {
        desired.and_then(|d| d.mixed_instances_policy()).and_then(|m| m.launch_template()).and_then(|t| t.launch_template_specification())
    });
    RefreshSnapshot {
        id: r.instance_refresh_id().unwrap_or_default().to_owned(),
        status: RefreshStatus::parse(&status_text),
        status_text,
        status_reason: r.status_reason().map(str::to_owned),
        percent_complete: r.percentage_complete(),
        instances_to_update: r.instances_to_update(),
        rollback_reason: r.rollback_details().and_then(|d| d.rollback_reason()).map(str::to_owned),
        percent_complete_on_rollback: r.rollback_details().and_then(|d| d.percentage_complete_on_rollback()),
        desired_template: desired_spec.map(|s| TemplateRef {
            id: s.launch_template_id().map(str::to_owned),
            name: s.launch_template_name().map(str::to_owned),
            version: s.version().map(str::to_owned),
        }),
        start_time: r.start_time().and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok()),
        last_checkpoint: r.preferences().and_then(|p| p.checkpoint_percentages().last().copied()),
    }
}
