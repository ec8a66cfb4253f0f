//! staging refresh: the latest instance refresh of the staging group succeeded, and it rolled
//! out this execution's release.

use super::Check;

pub const NAME: &str = "staging refresh";

/// The latest refresh of a group, as read from Auto Scaling and the launch template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestRefresh {
    pub id: String,
    pub status: String,
    pub status_reason: Option<String>,
    /// The launch template version it rolled out, when it named one.
    pub version: Option<i64>,
    /// The `deploy:release` tag of that version.
    pub release: Option<String>,
}

pub fn check(group: &str, latest: Option<&LatestRefresh>, release: &str) -> Check {
    let Some(r) = latest else {
        return Check::fail(NAME, format!("{group} has no instance refresh on record"));
    };
    if r.status != "Successful" {
        let reason = r.status_reason.as_deref().map(|s| format!(": {s}")).unwrap_or_default();
        return Check::fail(NAME, format!("the latest refresh of {group} ({}) is {}{reason}", r.id, r.status));
    }
    match (&r.release, r.version) {
        (Some(tagged), Some(v)) if tagged == release => {
            Check::pass(NAME, format!("refresh {} of {group} rolled out {release} (version {v})", r.id))
        }
        (Some(tagged), _) => {
            Check::fail(NAME, format!("the latest refresh of {group} ({}) rolled out release {tagged}, not {release}", r.id))
        }
        (None, _) => Check::fail(NAME, format!("the latest refresh of {group} ({}) rolled out a version with no deploy:release tag", r.id)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refresh(status: &str, release: Option<&str>) -> LatestRefresh {
        LatestRefresh {
            id: "r-1".into(),
            status: status.into(),
            status_reason: Some("Alarm 5xx is in ALARM state.".into()),
            version: Some(7),
            release: release.map(str::to_owned),
        }
    }

    #[test]
    fn a_successful_refresh_of_this_release_passes() {
        let c = check("web-staging", Some(&refresh("Successful", Some("c1"))), "c1");
        assert!(c.passed, "{c:?}");
        assert_eq!(c.evidence, "refresh r-1 of web-staging rolled out c1 (version 7)");
    }

    #[test]
    fn a_refresh_that_failed_is_named_with_its_reason() {
        let c = check("web-staging", Some(&refresh("RollbackSuccessful", Some("c1"))), "c1");
        assert!(!c.passed);
        assert_eq!(c.evidence, "the latest refresh of web-staging (r-1) is RollbackSuccessful: Alarm 5xx is in ALARM state.");
    }

    #[test]
    fn another_release_or_an_untagged_version_or_no_refresh_fails() {
        assert!(check("web-staging", Some(&refresh("Successful", Some("old"))), "c1").evidence.contains("rolled out release old, not c1"));
        assert!(check("web-staging", Some(&refresh("Successful", None)), "c1").evidence.contains("no deploy:release tag"));
        assert_eq!(check("web-staging", None, "c1").evidence, "web-staging has no instance refresh on record");
        let unnumbered = LatestRefresh { version: None, ..refresh("Successful", Some("c1")) };
        assert!(!check("web-staging", Some(&unnumbered), "c1").passed, "a refresh to $Latest proves nothing about a version");
    }
}
