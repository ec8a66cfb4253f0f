//! The staging group as the checks see it: its latest refresh and the release that refresh
//! rolled out, its instances, and their health in each target group.

use aws_sdk_autoscaling::types::LaunchTemplateSpecification;
use shared::aws::AwsCallError;
use shared::release::RELEASE_TAG;

use crate::checks::fleet::{Fleet, Instance, TargetGroupHealth};
use crate::checks::refresh::LatestRefresh;

pub struct Clients<'a> {
    pub autoscaling: &'a aws_sdk_autoscaling::Client,
    pub ec2: &'a aws_sdk_ec2::Client,
    pub elbv2: &'a aws_sdk_elasticloadbalancingv2::Client,
}

pub async fn latest_refresh(c: &Clients<'_>, group: &str) -> Result<Option<LatestRefresh>, AwsCallError> {
    let out = c
        .autoscaling
        .describe_instance_refreshes()
        .auto_scaling_group_name(group)
        .max_records(1)
        .send()
        .await
        .map_err(|e| AwsCallError::from_sdk("autoscaling:DescribeInstanceRefreshes", e))?;
    let Some(r) = out.instance_refreshes().first() else { return Ok(None) };
    let spec: Option<&LaunchTemplateSpecification> = r.desired_configuration().and_then(|d| {
        d.launch_template()
            .or_else(|| d.mixed_instances_policy().and_then(|m| m.launch_template()).and_then(|t| t.launch_template_specification()))
    });
    let version = spec.and_then(|s| s.version()).and_then(|v| v.parse::<i64>().ok());
    let release = match (spec, version) {
        (Some(spec), Some(v)) => release_of(c, spec.launch_template_id(), spec.launch_template_name(), v).await?,
        _ => None,
    };
    Ok(Some(LatestRefresh {
        id: r.instance_refresh_id().unwrap_or_default().to_owned(),
        status: r.status().map(|s| s.as_str().to_owned()).unwrap_or_default(),
        status_reason: r.status_reason().map(str::to_owned),
        version,
        release,
    }))
}

/// The `deploy:release` tag a launch template version puts on its instances.
async fn release_of(c: &Clients<'_>, id: Option<&str>, name: Option<&str>, version: i64) -> Result<Option<String>, AwsCallError> {
    let out = c
        .ec2
        .describe_launch_template_versions()
        .set_launch_template_id(id.map(str::to_owned))
        .set_launch_template_name(if id.is_some() { None } else { name.map(str::to_owned) })
        .versions(version.to_string())
        .send()
        .await
        .map_err(|e| AwsCallError::from_sdk("ec2:DescribeLaunchTemplateVersions", e))?;
    Ok(out
        .launch_template_versions()
        .first()
        .and_then(|v| v.launch_template_data())
        .map(|d| d.tag_specifications())
        .unwrap_or_default()
        .iter()
        .flat_map(|s| s.tags())
        .find(|t| t.key() == Some(RELEASE_TAG))
        .and_then(|t| t.value())
        .map(str::to_owned))
}

pub async fn fleet(c: &Clients<'_>, group: &str) -> Result<Option<Fleet>, AwsCallError> {
    let out = c
        .autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(group)
        .send()
        .await
        .map_err(|e| AwsCallError::from_sdk("autoscaling:DescribeAutoScalingGroups", e))?;
    let Some(g) = out.auto_scaling_groups().first() else { return Ok(None) };
    let instances: Vec<Instance> = g
        .instances()
        .iter()
        .map(|i| Instance {
            id: i.instance_id().unwrap_or_default().to_owned(),
            lifecycle_state: i.lifecycle_state().map(|s| s.as_str().to_owned()).unwrap_or_default(),
            health_status: i.health_status().unwrap_or_default().to_owned(),
            version: i.launch_template().and_then(|t| t.version()).map(str::to_owned),
        })
        .collect();
    let mut targets = Vec::new();
    for arn in g.target_group_arns() {
        let health = c
            .elbv2
            .describe_target_health()
            .target_group_arn(arn)
            .send()
            .await
            .map_err(|e| AwsCallError::from_sdk("elasticloadbalancing:DescribeTargetHealth", e))?;
        let states = health
            .target_health_descriptions()
            .iter()
            .filter_map(|d| {
                let id = d.target().and_then(|t| t.id())?;
                let state = d.target_health().and_then(|h| h.state()).map(|s| s.as_str().to_owned()).unwrap_or_default();
                Some((id.to_owned(), state))
            })
            .collect();
        let name = arn.split('/').nth(1).unwrap_or(arn).to_owned();
        targets.push(TargetGroupHealth { name, states });
    }
    Ok(Some(Fleet { group: group.to_owned(), desired: g.desired_capacity().unwrap_or_default(), instances, targets }))
}
