//! How a release is recorded on AWS resources: one definition for the function that writes
//! it (instance-refresh) and those that read it (approval-gate, lifecycle-health).

/// The tag on a launch template version (and so on its instances) naming the release it runs.
pub const RELEASE_TAG: &str = "deploy:release";

/// A launch template as a group or a refresh names it (by id or name; `version` may be
/// `$Latest`, `$Default`, a number, or absent meaning `$Default`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateRef {
    pub id: Option<String>,
    pub name: Option<String>,
    pub version: Option<String>,
}
