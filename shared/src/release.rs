//! How a release is recorded on AWS resources: one definition for the function that writes
//! it (instance-refresh) and those that read it (approval-gate).

/// The tag on a launch template version (and so on its instances) naming the release it runs.
pub const RELEASE_TAG: &str = "deploy:release";
