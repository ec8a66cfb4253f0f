//! The release check: an instance is let into the group only on the release the group
//! launches now. A warm-pool instance prepared before a release can be promoted after it;
//! its launch template version says which release it runs.
//!
//! Which version is current: during a refresh that is rolling forward, the refresh's desired
//! version (the group's own configuration changes only when the refresh succeeds); otherwise,
//! and during a rollback, the group's.

use serde::Serialize;

pub use shared::release::TemplateRef;

/// The group's newest instance refresh, as far as the release check needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestRefresh {
    pub id: String,
    pub status: String,
    /// The launch template of its DesiredConfiguration, if it has one.
    pub desired: Option<TemplateRef>,
}

/// Where the current version comes from, for the reason a person reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "from", rename_all = "kebab-case")]
pub enum Source {
    Group,
    Refresh { id: String },
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Group => f.write_str("the group's launch template"),
            Source::Refresh { id } => write!(f, "instance refresh {id}"),
        }
    }
}

/// Statuses in which a refresh launches instances from its desired configuration. A rollback
/// launches from the group's own, which the refresh never changed.
const ROLLING_FORWARD: [&str; 3] = ["Pending", "InProgress", "Baking"];

/// The template (as named) whose version the group launches now, and where that comes from;
/// `None` when the group launches from no launch template (a launch configuration).
pub fn current_template(group: Option<TemplateRef>, latest: Option<LatestRefresh>) -> Option<(TemplateRef, Source)> {
    if let Some(refresh) = latest.filter(|r| ROLLING_FORWARD.contains(&r.status.as_str())) {
        if let Some(desired) = refresh.desired {
            return Some((desired, Source::Refresh { id: refresh.id }));
        }
    }
    group.map(|spec| (spec, Source::Group))
}

/// The release the group launches now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Expected {
    pub template_id: String,
    pub version: i64,
    /// The version's `deploy:release` instance tag, if it carries one.
    pub release: Option<String>,
    #[serde(flatten)]
    pub source: Source,
}

/// What this invocation checks the instance's release against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expectation {
    Expect(Expected),
    Skip { why: String },
}

impl Expectation {
    pub fn check(&self, instance: &InstanceLaunch) -> ReleaseCheck {
        match self {
            Expectation::Expect(expected) => check(instance, expected),
            Expectation::Skip { why } => ReleaseCheck::NotChecked { why: why.clone() },
        }
    }
}

/// What the instance was launched from: EC2's own `aws:ec2launchtemplate:*` tags and the
/// release tag the launch template version gave it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct InstanceLaunch {
    pub template_id: Option<String>,
    pub version: Option<String>,
    pub release: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "release", rename_all = "kebab-case")]
pub enum ReleaseCheck {
    /// Not asked for here (a hook that switched it off, an instance going into the warm pool,
    /// a root volume replacement) or impossible (the group has no launch template).
    NotChecked {
        why: String,
    },
    Current,
    /// The instance's launch tags are not visible yet (they come with the instance, but
    /// DescribeTags is eventually consistent).
    Unknown {
        detail: String,
    },
    Stale {
        reason: String,
    },
}

/// Compares the instance's launch with the current release.
pub fn check(instance: &InstanceLaunch, expected: &Expected) -> ReleaseCheck {
    let (Some(template_id), Some(version)) = (&instance.template_id, &instance.version) else {
        return ReleaseCheck::Unknown {
            detail: "the instance's aws:ec2launchtemplate:id / aws:ec2launchtemplate:version tags are not visible yet".into(),
        };
    };
    let runs = |release: &Option<String>| release.as_deref().map_or("an untagged release".to_owned(), |r| format!("release {r}"));
    let now_launches = format!(
        "the group now launches {} ({} version {}, from {})",
        runs(&expected.release),
        expected.template_id,
        expected.version,
        expected.source
    );
    if template_id != &expected.template_id || version.trim().parse::<i64>().ok() != Some(expected.version) {
        return ReleaseCheck::Stale {
            reason: format!("stale instance: it runs {} ({template_id} version {version}), but {now_launches}", runs(&instance.release)),
        };
    }
    match (&instance.release, &expected.release) {
        (Some(has), Some(wanted)) if has != wanted => ReleaseCheck::Stale {
            reason: format!("stale instance: its {} tag says {has}, but {now_launches}", shared::release::RELEASE_TAG),
        },
        _ => ReleaseCheck::Current,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(version: &str) -> TemplateRef {
        TemplateRef { id: Some("lt-0abc".into()), name: None, version: Some(version.into()) }
    }

    fn refresh(status: &str, desired: Option<TemplateRef>) -> LatestRefresh {
        LatestRefresh { id: "r-1".into(), status: status.into(), desired }
    }

    fn expected(version: i64, release: &str) -> Expected {
        Expected { template_id: "lt-0abc".into(), version, release: Some(release.into()), source: Source::Refresh { id: "r-1".into() } }
    }

    fn launched(version: &str, release: Option<&str>) -> InstanceLaunch {
        InstanceLaunch { template_id: Some("lt-0abc".into()), version: Some(version.into()), release: release.map(str::to_owned) }
    }

    #[test]
    fn a_refresh_rolling_forward_sets_the_current_version() {
        for status in ["Pending", "InProgress", "Baking"] {
            assert_eq!(
                current_template(Some(spec("3")), Some(refresh(status, Some(spec("5"))))),
                Some((spec("5"), Source::Refresh { id: "r-1".into() })),
                "{status}"
            );
        }
    }

    #[test]
    fn otherwise_the_group_sets_it() {
        for status in ["RollbackInProgress", "Cancelling", "Successful", "Failed", "Cancelled", "RollbackSuccessful"] {
            assert_eq!(
                current_template(Some(spec("3")), Some(refresh(status, Some(spec("5"))))),
                Some((spec("3"), Source::Group)),
                "{status}"
            );
        }
        assert_eq!(current_template(Some(spec("3")), Some(refresh("InProgress", None))), Some((spec("3"), Source::Group)));
        assert_eq!(current_template(Some(spec("3")), None), Some((spec("3"), Source::Group)));
        assert_eq!(current_template(None, None), None, "a launch configuration pins no release");
    }

    #[test]
    fn an_instance_on_the_current_version_passes() {
        assert_eq!(check(&launched("5", Some("def5678")), &expected(5, "def5678")), ReleaseCheck::Current);
        assert_eq!(check(&launched("5", None), &expected(5, "def5678")), ReleaseCheck::Current, "the version decides");
    }

    #[test]
    fn a_warm_instance_on_an_older_version_is_stale_naming_both_releases() {
        assert_eq!(
            check(&launched("3", Some("abc1234")), &expected(5, "def5678")),
            ReleaseCheck::Stale {
                reason: "stale instance: it runs release abc1234 (lt-0abc version 3), but the group now launches release def5678 \
                         (lt-0abc version 5, from instance refresh r-1)"
                    .into()
            }
        );
    }

    #[test]
    fn another_template_or_a_contradicting_release_tag_is_stale() {
        let other = InstanceLaunch { template_id: Some("lt-0other".into()), ..launched("5", None) };
        let ReleaseCheck::Stale { reason } = check(&other, &expected(5, "def5678")) else { panic!() };
        assert!(reason.contains("an untagged release (lt-0other version 5)"), "{reason}");
        let ReleaseCheck::Stale { reason } = check(&launched("5", Some("abc1234")), &expected(5, "def5678")) else { panic!() };
        assert!(reason.starts_with("stale instance: its deploy:release tag says abc1234, but the group now launches"), "{reason}");
        let untagged = Expected { release: None, source: Source::Group, ..expected(5, "") };
        let ReleaseCheck::Stale { reason } = check(&launched("4", None), &untagged) else { panic!() };
        assert!(reason.ends_with("launches an untagged release (lt-0abc version 5, from the group's launch template)"), "{reason}");
    }

    #[test]
    fn a_skipped_check_says_why() {
        let skip = Expectation::Skip { why: "going into the warm pool".into() };
        assert_eq!(skip.check(&launched("1", None)), ReleaseCheck::NotChecked { why: "going into the warm pool".into() });
        assert_eq!(Expectation::Expect(expected(5, "x")).check(&launched("5", None)), ReleaseCheck::Current);
    }

    #[test]
    fn missing_launch_tags_are_unknown_not_current() {
        assert!(matches!(check(&InstanceLaunch::default(), &expected(5, "x")), ReleaseCheck::Unknown { .. }));
        let no_version = InstanceLaunch { version: None, ..launched("5", None) };
        assert!(matches!(check(&no_version, &expected(5, "x")), ReleaseCheck::Unknown { .. }));
        assert!(matches!(check(&launched("five", None), &expected(5, "x")), ReleaseCheck::Stale { .. }));
    }
}
