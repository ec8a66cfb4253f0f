//! Which old launch template versions to delete, and which must never be.
//!
//! A template can be shared: staging and production groups on one template, a group moving
//! between templates, a refresh in flight that rolls out (or rolls back to) a version. Every
//! version anything still points at is protected, not only this group's.

use std::collections::BTreeSet;

/// How a group, an instance or a refresh names a version of the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionRef {
    Number(i64),
    /// `$Latest`, or no version at all where AWS reads it as the latest.
    Latest,
    /// `$Default`, or an absent version where AWS reads it as the default.
    Default,
}

impl VersionRef {
    /// AWS's spelling; an absent version means `$Default` in a launch template specification.
    pub fn parse(version: Option<&str>) -> Option<Self> {
        match version.map(str::trim) {
            None | Some("") => Some(VersionRef::Default),
            Some(v) if v.eq_ignore_ascii_case("$Latest") => Some(VersionRef::Latest),
            Some(v) if v.eq_ignore_ascii_case("$Default") => Some(VersionRef::Default),
            Some(v) => v.parse().ok().map(VersionRef::Number),
        }
    }
}

/// One thing that points at a version of the template, for the log line that says why a
/// version was kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateUse {
    /// e.g. "group web-production", "instance i-0abc (web-staging)", "refresh 08b9… of web-staging".
    pub user: String,
    pub version: VersionRef,
}

/// The version numbers nothing may delete: the default and latest versions, every version a
/// `user` names, and `extra` (the group's current and the new version).
pub fn protected_versions(uses: &[TemplateUse], default: Option<i64>, latest: Option<i64>, extra: &[i64]) -> BTreeSet<i64> {
    let mut protected: BTreeSet<i64> = extra.iter().copied().chain(default).chain(latest).collect();
    for used in uses {
        let number = match used.version {
            VersionRef::Number(n) => Some(n),
            VersionRef::Latest => latest,
            VersionRef::Default => default,
        };
        protected.extend(number);
    }
    protected
}

/// Keeps the `keep` newest versions and every protected one; returns the rest, oldest first.
pub fn versions_to_prune(existing: &[i64], keep: usize, protected: &BTreeSet<i64>) -> Vec<i64> {
    let mut newest_first = existing.to_vec();
    newest_first.sort_unstable_by(|a, b| b.cmp(a));
    newest_first.dedup();
    let mut prune: Vec<i64> = newest_first.into_iter().skip(keep).filter(|v| !protected.contains(v)).collect();
    prune.sort_unstable();
    prune
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[i64]) -> BTreeSet<i64> {
        v.iter().copied().collect()
    }

    fn used(user: &str, version: VersionRef) -> TemplateUse {
        TemplateUse { user: user.into(), version }
    }

    #[test]
    fn the_newest_are_kept_and_the_rest_pruned_oldest_first() {
        assert_eq!(versions_to_prune(&[1, 2, 3, 4, 5, 6], 3, &set(&[6])), vec![1, 2, 3]);
    }

    #[test]
    fn protected_versions_survive_however_old() {
        // Default version 1, group's current version 2, new version 9.
        assert_eq!(versions_to_prune(&[1, 2, 3, 4, 5, 6, 7, 8, 9], 2, &set(&[1, 2, 9])), vec![3, 4, 5, 6, 7]);
    }

    #[test]
    fn nothing_is_pruned_below_the_retention_count() {
        assert!(versions_to_prune(&[3, 1, 2], 5, &set(&[])).is_empty());
    }

    #[test]
    fn another_group_on_the_same_template_keeps_its_pinned_version_and_its_refresh_target() {
        // Production runs version 3 and is refreshing to 5; staging releases 9 from its 8.
        let uses = [
            used("group web-production", VersionRef::Number(3)),
            used("instance i-1 (web-production)", VersionRef::Number(4)),
            used("refresh r-1 of web-production", VersionRef::Number(5)),
            used("group web-staging", VersionRef::Number(8)),
        ];
        let protected = protected_versions(&uses, Some(1), Some(9), &[8, 9]);
        assert_eq!(protected, set(&[1, 3, 4, 5, 8, 9]));
        assert_eq!(versions_to_prune(&(1..=9).collect::<Vec<_>>(), 1, &protected), vec![2, 6, 7]);
    }

    #[test]
    fn symbolic_versions_protect_what_they_resolve_to() {
        let uses = [used("group a", VersionRef::Latest), used("group b", VersionRef::Default)];
        assert_eq!(protected_versions(&uses, Some(2), Some(7), &[]), set(&[2, 7]));
        assert_eq!(protected_versions(&[], None, None, &[4]), set(&[4]));
    }

    #[test]
    fn version_references_parse_as_aws_writes_them() {
        assert_eq!(VersionRef::parse(Some("12")), Some(VersionRef::Number(12)));
        assert_eq!(VersionRef::parse(Some("$Latest")), Some(VersionRef::Latest));
        assert_eq!(VersionRef::parse(Some("$default")), Some(VersionRef::Default));
        assert_eq!(VersionRef::parse(None), Some(VersionRef::Default));
        assert_eq!(VersionRef::parse(Some("twelve")), None);
    }
}
