//! staging fleet: the group at desired capacity, every instance InService, Healthy, on the
//! refreshed launch template version, and healthy in each of the group's target groups.

use super::Check;

pub const NAME: &str = "staging fleet";
/// Instances named in evidence before "and N more".
const NAMED: usize = 3;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fleet {
    pub group: String,
    pub desired: i32,
    pub instances: Vec<Instance>,
    /// Target group → (instance → state) for the group's instances.
    pub targets: Vec<TargetGroupHealth>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub id: String,
    pub lifecycle_state: String,
    pub health_status: String,
    pub version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetGroupHealth {
    pub name: String,
    pub states: Vec<(String, String)>,
}

/// `version`: the launch template version the staging refresh rolled out, when known.
pub fn check(fleet: &Fleet, version: Option<i64>) -> Check {
    let mut problems = Vec::new();
    let in_service = fleet.instances.iter().filter(|i| i.lifecycle_state == "InService").count();
    if (in_service as i64) < i64::from(fleet.desired) {
        problems.push(format!("{in_service} of {} desired instances InService", fleet.desired));
    }
    let mut bad: Vec<String> = Vec::new();
    for i in &fleet.instances {
        let mut why = Vec::new();
        if i.lifecycle_state != "InService" {
            why.push(i.lifecycle_state.clone());
        }
        if i.health_status != "Healthy" {
            why.push(i.health_status.clone());
        }
        if let Some(v) = version {
            if i.version.as_deref() != Some(v.to_string().as_str()) {
                why.push(format!("on version {} not {v}", i.version.as_deref().unwrap_or("unknown")));
            }
        }
        for tg in &fleet.targets {
            match tg.states.iter().find(|(id, _)| id == &i.id) {
                Some((_, state)) if state == "healthy" => {}
                Some((_, state)) => why.push(format!("{state} in {}", tg.name)),
                None => why.push(format!("not registered in {}", tg.name)),
            }
        }
        if !why.is_empty() {
            bad.push(format!("{} {}", i.id, why.join(", ")));
        }
    }
    if !bad.is_empty() {
        let more = bad.len().saturating_sub(NAMED);
        let mut named = bad.into_iter().take(NAMED).collect::<Vec<_>>().join("; ");
        if more > 0 {
            named.push_str(&format!("; and {more} more"));
        }
        problems.push(named);
    }
    if problems.is_empty() {
        let tgs = if fleet.targets.is_empty() {
            String::new()
        } else {
            format!(", healthy in {}", fleet.targets.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", "))
        };
        return Check::pass(NAME, format!("{}: {} of {} InService and Healthy{tgs}", fleet.group, in_service, fleet.desired));
    }
    Check::fail(NAME, format!("{}: {}", fleet.group, problems.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(id: &str) -> Instance {
        Instance { id: id.into(), lifecycle_state: "InService".into(), health_status: "Healthy".into(), version: Some("7".into()) }
    }

    fn fleet(instances: Vec<Instance>) -> Fleet {
        let states = instances.iter().map(|i| (i.id.clone(), "healthy".to_owned())).collect();
        Fleet { group: "web-staging".into(), desired: 2, instances, targets: vec![TargetGroupHealth { name: "web-tg".into(), states }] }
    }

    #[test]
    fn a_full_healthy_fleet_on_the_version_passes() {
        let c = check(&fleet(vec![instance("i-1"), instance("i-2")]), Some(7));
        assert!(c.passed, "{c:?}");
        assert_eq!(c.evidence, "web-staging: 2 of 2 InService and Healthy, healthy in web-tg");
    }

    #[test]
    fn an_unhealthy_or_old_or_unregistered_instance_is_named_with_why() {
        let mut f =
            fleet(vec![instance("i-1"), Instance { health_status: "Unhealthy".into(), version: Some("6".into()), ..instance("i-2") }]);
        f.targets[0].states[1].1 = "unhealthy".into();
        let c = check(&f, Some(7));
        assert!(!c.passed);
        assert_eq!(c.evidence, "web-staging: i-2 Unhealthy, on version 6 not 7, unhealthy in web-tg");
        f.targets[0].states.pop();
        assert!(check(&f, Some(7)).evidence.contains("not registered in web-tg"));
    }

    #[test]
    fn a_group_below_desired_capacity_fails_even_when_every_instance_is_fine() {
        let c = check(&fleet(vec![instance("i-1")]), Some(7));
        assert_eq!(c.evidence, "web-staging: 1 of 2 desired instances InService");
        let pending = fleet(vec![instance("i-1"), Instance { lifecycle_state: "Pending:Wait".into(), ..instance("i-2") }]);
        assert_eq!(check(&pending, Some(7)).evidence, "web-staging: 1 of 2 desired instances InService; i-2 Pending:Wait");
    }

    #[test]
    fn many_bad_instances_are_summarised_after_three() {
        let mut f = fleet((1..=5).map(|n| Instance { health_status: "Unhealthy".into(), ..instance(&format!("i-{n}")) }).collect());
        f.desired = 5;
        let c = check(&f, None);
        assert!(c.evidence.ends_with("i-3 Unhealthy; and 2 more"), "{}", c.evidence);
    }
}
