//! What the instance's own tags say: the bootstrap tag user data sets, and the launch tags.
//!
//! A tag outlives the boot that set it. After a root volume replacement the instance keeps its
//! id and its tags, so `bootstrap=complete` may be the previous root volume's word. User data
//! (fleet/user-data.sh) sets `<tag>-at` beside it, the UTC time it tagged; a boot runs on its
//! root volume, so a tag set before that volume was attached belongs to an earlier boot.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::release::InstanceLaunch;

/// The tag keys read from the instance, in one DescribeTags call.
pub fn keys(tag: &str) -> [String; 6] {
    [
        tag.to_owned(),
        format!("{tag}-reason"),
        format!("{tag}-at"),
        LAUNCH_TEMPLATE_ID_TAG.to_owned(),
        LAUNCH_TEMPLATE_VERSION_TAG.to_owned(),
        shared::release::RELEASE_TAG.to_owned(),
    ]
}

/// EC2 tags every instance launched from a launch template with these.
pub const LAUNCH_TEMPLATE_ID_TAG: &str = "aws:ec2launchtemplate:id";
pub const LAUNCH_TEMPLATE_VERSION_TAG: &str = "aws:ec2launchtemplate:version";

/// The instance's tags among [`keys`], as DescribeTags answered them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceTags {
    pub bootstrap: Option<String>,
    pub reason: Option<String>,
    pub bootstrap_at: Option<String>,
    pub launch: InstanceLaunch,
}

impl InstanceTags {
    /// From (key, value) pairs; keys other than `tag`'s and the launch tags are ignored.
    pub fn from_pairs<'a>(tag: &str, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let [bootstrap, reason, at, template_id, version, release] = keys(tag);
        let mut tags = InstanceTags::default();
        for (key, value) in pairs {
            let slot = match key {
                k if k == bootstrap => &mut tags.bootstrap,
                k if k == reason => &mut tags.reason,
                k if k == at => &mut tags.bootstrap_at,
                k if k == template_id => &mut tags.launch.template_id,
                k if k == version => &mut tags.launch.version,
                k if k == release => &mut tags.launch.release,
                _ => continue,
            };
            *slot = Some(value.to_owned());
        }
        tags
    }
}

/// The instance's bootstrap tag, as user data left it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "tag", rename_all = "kebab-case")]
pub enum BootstrapCheck {
    Complete,
    /// With the reason user data gave in the `<tag>-reason` tag, if it gave one.
    Failed {
        reason: Option<String>,
    },
    Absent,
    Other {
        value: String,
    },
    /// Set before the instance's current root volume was attached (or, after a root volume
    /// replacement, without the time that would prove otherwise): not this boot's word.
    EarlierBoot {
        value: String,
        set_at: Option<String>,
    },
}

/// How recent the bootstrap tag must be to count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Any tag counts; a `<tag>-at` older than the root volume (when known) does not.
    Lenient { root_attached_at: Option<DateTime<Utc>> },
    /// The root volume was just replaced: only a tag proven newer than it counts.
    Strict { root_attached_at: Option<DateTime<Utc>> },
}

pub fn check(tags: &InstanceTags, freshness: Freshness) -> BootstrapCheck {
    let Some(value) = tags.bootstrap.as_deref() else { return BootstrapCheck::Absent };
    let set_at = tags.bootstrap_at.as_deref().and_then(|t| t.trim().parse::<DateTime<Utc>>().ok());
    // Tags carry whole seconds: a tag set in the second the volume was attached is this boot's.
    let predates = |attached: DateTime<Utc>| set_at.is_some_and(|at| at.timestamp() < attached.timestamp());
    let earlier = match freshness {
        Freshness::Lenient { root_attached_at } => root_attached_at.is_some_and(predates),
        Freshness::Strict { root_attached_at } => set_at.is_none() || root_attached_at.is_none_or(predates),
    };
    if earlier {
        return BootstrapCheck::EarlierBoot { value: value.to_owned(), set_at: tags.bootstrap_at.clone() };
    }
    if value.eq_ignore_ascii_case("complete") {
        BootstrapCheck::Complete
    } else if value.eq_ignore_ascii_case("failed") {
        BootstrapCheck::Failed { reason: tags.reason.clone().filter(|r| !r.trim().is_empty()) }
    } else {
        BootstrapCheck::Other { value: value.to_owned() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: &str) -> DateTime<Utc> {
        t.parse().unwrap()
    }

    fn tagged(value: &str, set_at: Option<&str>) -> InstanceTags {
        InstanceTags { bootstrap: Some(value.into()), bootstrap_at: set_at.map(str::to_owned), ..InstanceTags::default() }
    }

    const ATTACHED: &str = "2026-11-25T10:05:00.400Z";

    #[test]
    fn the_tags_are_read_by_key() {
        let tags = InstanceTags::from_pairs(
            "bootstrap",
            [
                ("bootstrap", "failed"),
                ("bootstrap-reason", "no secret"),
                ("bootstrap-at", "2026-11-25T10:06:00Z"),
                ("aws:ec2launchtemplate:id", "lt-1"),
                ("aws:ec2launchtemplate:version", "4"),
                ("deploy:release", "abc"),
                ("Name", "web"),
            ],
        );
        assert_eq!(tags.bootstrap.as_deref(), Some("failed"));
        assert_eq!(tags.reason.as_deref(), Some("no secret"));
        assert_eq!(tags.bootstrap_at.as_deref(), Some("2026-11-25T10:06:00Z"));
        assert_eq!(
            tags.launch,
            InstanceLaunch { template_id: Some("lt-1".into()), version: Some("4".into()), release: Some("abc".into()) }
        );
        assert_eq!(keys("app:boot")[..3], ["app:boot", "app:boot-reason", "app:boot-at"]);
    }

    #[test]
    fn tag_values_mean_what_user_data_says() {
        let lenient = Freshness::Lenient { root_attached_at: None };
        assert_eq!(check(&InstanceTags::default(), lenient), BootstrapCheck::Absent);
        assert_eq!(check(&tagged("Complete", None), lenient), BootstrapCheck::Complete);
        assert_eq!(check(&tagged("running", None), lenient), BootstrapCheck::Other { value: "running".into() });
        let failed = InstanceTags { reason: Some(" ".into()), ..tagged("failed", None) };
        assert_eq!(check(&failed, lenient), BootstrapCheck::Failed { reason: None });
        let failed = InstanceTags { reason: Some("exit 3".into()), ..tagged("FAILED", None) };
        assert_eq!(check(&failed, lenient), BootstrapCheck::Failed { reason: Some("exit 3".into()) });
    }

    #[test]
    fn after_a_root_volume_replacement_only_a_tag_newer_than_the_volume_counts() {
        let strict = Freshness::Strict { root_attached_at: Some(at(ATTACHED)) };
        let old = tagged("complete", Some("2026-11-25T10:01:00Z"));
        assert_eq!(
            check(&old, strict),
            BootstrapCheck::EarlierBoot { value: "complete".into(), set_at: Some("2026-11-25T10:01:00Z".into()) }
        );
        assert_eq!(check(&tagged("complete", Some("2026-11-25T10:05:00Z")), strict), BootstrapCheck::Complete, "the same second");
        assert_eq!(
            check(&tagged("complete", Some("2026-11-25T10:04:59Z")), strict),
            BootstrapCheck::EarlierBoot { value: "complete".into(), set_at: Some("2026-11-25T10:04:59Z".into()) }
        );
        let untimed = tagged("failed", None);
        assert_eq!(check(&untimed, strict), BootstrapCheck::EarlierBoot { value: "failed".into(), set_at: None }, "unproven");
        let unreadable = tagged("complete", Some("yesterday"));
        assert!(matches!(check(&unreadable, strict), BootstrapCheck::EarlierBoot { .. }));
        let volume_unknown = Freshness::Strict { root_attached_at: None };
        assert!(matches!(check(&tagged("complete", Some("2026-11-25T10:06:00Z")), volume_unknown), BootstrapCheck::EarlierBoot { .. }));
        assert_eq!(check(&InstanceTags::default(), strict), BootstrapCheck::Absent);
    }

    #[test]
    fn otherwise_a_timed_tag_older_than_the_root_volume_is_still_an_earlier_boots() {
        let lenient = Freshness::Lenient { root_attached_at: Some(at(ATTACHED)) };
        assert!(matches!(check(&tagged("complete", Some("2026-11-25T10:01:00Z")), lenient), BootstrapCheck::EarlierBoot { .. }));
        assert_eq!(check(&tagged("complete", Some("2026-11-25T10:06:00Z")), lenient), BootstrapCheck::Complete);
        assert_eq!(check(&tagged("complete", None), lenient), BootstrapCheck::Complete, "user data from before the time tag");
        assert_eq!(
            check(&tagged("complete", Some("2026-11-25T10:01:00Z")), Freshness::Lenient { root_attached_at: None }),
            BootstrapCheck::Complete
        );
    }
}
