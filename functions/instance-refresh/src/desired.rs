//! The configuration a refresh rolls out: the group's own, with the release's launch
//! template version pinned everywhere the template appears.
//!
//! A MixedInstancesPolicy override may carry its own launch template specification (an arm64
//! template beside an x86 one, say). Copied as it is, instances of that type would launch
//! from a version that does not carry the release. An override on the group's template is
//! pinned to the new version too; an override on another template cannot be pinned by this
//! action, so the refresh is refused before anything changes.

use aws_sdk_autoscaling::types::{
    DesiredConfiguration, LaunchTemplate, LaunchTemplateOverrides, LaunchTemplateSpecification, MixedInstancesPolicy,
};

pub use shared::release::TemplateRef;

/// The template the release is pinned in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedTemplate<'a> {
    pub id: &'a str,
    pub name: Option<&'a str>,
    pub version: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the MixedInstancesPolicy override for instance type {instance_type} launches from its own launch template ({template}), \
     which this action cannot pin the release in; instances of that type would not run the release. \
     Remove the override's LaunchTemplateSpecification so it uses the group's template, or deploy that template separately"
)]
pub struct UnpinnableOverride {
    pub instance_type: String,
    pub template: String,
}

impl PinnedTemplate<'_> {
    fn spec(&self) -> LaunchTemplateSpecification {
        LaunchTemplateSpecification::builder().launch_template_id(self.id).version(self.version.to_string()).build()
    }

    fn names(&self, spec: &LaunchTemplateSpecification) -> bool {
        spec.launch_template_id() == Some(self.id) || (spec.launch_template_name().is_some() && spec.launch_template_name() == self.name)
    }
}

/// Every override that names its own template, checked before any change is made.
pub fn check_overrides(
    policy: Option<&MixedInstancesPolicy>,
    template_id: &str,
    template_name: Option<&str>,
) -> Result<(), UnpinnableOverride> {
    let pinned = PinnedTemplate { id: template_id, name: template_name, version: 0 };
    pin_overrides(policy, &pinned).map(drop)
}

/// The group's configuration with only the launch template version changed: a
/// MixedInstancesPolicy keeps its overrides (pinned too) and its distribution.
pub fn desired_configuration(
    policy: Option<&MixedInstancesPolicy>,
    pinned: &PinnedTemplate<'_>,
) -> Result<DesiredConfiguration, UnpinnableOverride> {
    let Some(policy) = policy else {
        return Ok(DesiredConfiguration::builder().launch_template(pinned.spec()).build());
    };
    let template =
        LaunchTemplate::builder().launch_template_specification(pinned.spec()).set_overrides(pin_overrides(Some(policy), pinned)?).build();
    let policy = MixedInstancesPolicy::builder()
        .launch_template(template)
        .set_instances_distribution(policy.instances_distribution().cloned())
        .build();
    Ok(DesiredConfiguration::builder().mixed_instances_policy(policy).build())
}

fn pin_overrides(
    policy: Option<&MixedInstancesPolicy>,
    pinned: &PinnedTemplate<'_>,
) -> Result<Option<Vec<LaunchTemplateOverrides>>, UnpinnableOverride> {
    let Some(overrides) = policy.and_then(|p| p.launch_template()).map(|t| t.overrides()) else { return Ok(None) };
    overrides
        .iter()
        .map(|o| match o.launch_template_specification() {
            None => Ok(o.clone()),
            Some(spec) if pinned.names(spec) => {
                let mut pinned_override = o.clone();
                pinned_override.launch_template_specification = Some(pinned.spec());
                Ok(pinned_override)
            }
            Some(spec) => Err(UnpinnableOverride {
                instance_type: o.instance_type().unwrap_or("(by instance requirements)").to_owned(),
                template: spec.launch_template_id().or(spec.launch_template_name()).unwrap_or("unnamed").to_owned(),
            }),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_autoscaling::types::InstancesDistribution;

    const PINNED: PinnedTemplate<'static> = PinnedTemplate { id: "lt-main", name: Some("web"), version: 7 };

    fn spec(id: Option<&str>, name: Option<&str>, version: &str) -> LaunchTemplateSpecification {
        LaunchTemplateSpecification::builder()
            .set_launch_template_id(id.map(Into::into))
            .set_launch_template_name(name.map(Into::into))
            .version(version)
            .build()
    }

    fn policy(overrides: Vec<LaunchTemplateOverrides>) -> MixedInstancesPolicy {
        MixedInstancesPolicy::builder()
            .launch_template(
                LaunchTemplate::builder()
                    .launch_template_specification(spec(Some("lt-main"), None, "3"))
                    .set_overrides(Some(overrides))
                    .build(),
            )
            .instances_distribution(InstancesDistribution::builder().on_demand_base_capacity(1).build())
            .build()
    }

    fn override_of(instance_type: &str, template: Option<LaunchTemplateSpecification>) -> LaunchTemplateOverrides {
        LaunchTemplateOverrides::builder().instance_type(instance_type).set_launch_template_specification(template).build()
    }

    #[test]
    fn a_plain_group_gets_exactly_the_new_version() {
        let desired = desired_configuration(None, &PINNED).unwrap();
        let lt = desired.launch_template().unwrap();
        assert_eq!((lt.launch_template_id(), lt.version()), (Some("lt-main"), Some("7")));
    }

    #[test]
    fn a_mixed_group_keeps_its_overrides_and_distribution_and_pins_overrides_on_its_own_template() {
        let group = policy(vec![
            override_of("t4g.small", None),
            override_of("t4g.medium", Some(spec(None, Some("web"), "$Latest"))),
            override_of("t4g.large", Some(spec(Some("lt-main"), None, "2"))),
        ]);
        let desired = desired_configuration(Some(&group), &PINNED).unwrap();
        let mixed = desired.mixed_instances_policy().unwrap();
        let template = mixed.launch_template().unwrap();
        assert_eq!(template.launch_template_specification().unwrap().version(), Some("7"));
        let versions: Vec<Option<&str>> =
            template.overrides().iter().map(|o| o.launch_template_specification().and_then(|s| s.version())).collect();
        assert_eq!(versions, [None, Some("7"), Some("7")]);
        assert_eq!(template.overrides()[0].instance_type(), Some("t4g.small"));
        assert_eq!(mixed.instances_distribution().and_then(|d| d.on_demand_base_capacity()), Some(1));
    }

    #[test]
    fn an_override_on_another_template_is_refused_naming_it() {
        let group = policy(vec![override_of("c7i.large", Some(spec(Some("lt-x86"), None, "$Default")))]);
        let err = check_overrides(Some(&group), "lt-main", Some("web")).unwrap_err();
        assert_eq!(err, UnpinnableOverride { instance_type: "c7i.large".into(), template: "lt-x86".into() });
        assert!(err.to_string().contains("instances of that type would not run the release"));
        assert_eq!(desired_configuration(Some(&group), &PINNED).unwrap_err(), err);
        assert!(check_overrides(Some(&policy(vec![override_of("t4g.small", None)])), "lt-main", None).is_ok());
        assert!(check_overrides(None, "lt-main", None).is_ok());
    }
}
