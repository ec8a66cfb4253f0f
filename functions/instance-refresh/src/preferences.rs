//! Instance refresh preferences: checked here, with the same bounds AWS applies, so a
//! mistake fails the job before anything is changed.

use serde::Deserialize;
use shared::parameters::ParameterError;

use crate::pruning::VersionRef;

/// AWS's bound on CheckpointDelay and BakeTime.
const MAX_WAIT_SECONDS: i64 = 172_800;
/// AWS's bound on AlarmSpecification.Alarms.
const MAX_ALARMS: usize = 10;

/// Preferences as written in `UserParameters`; wide integer types so an out-of-range value
/// gets our message rather than a serde type error.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PreferenceParameters {
    pub min_healthy_percentage: Option<i64>,
    pub max_healthy_percentage: Option<i64>,
    pub instance_warmup_seconds: Option<i64>,
    #[serde(default)]
    pub checkpoint_percentages: Vec<i64>,
    pub checkpoint_delay_seconds: Option<i64>,
    pub bake_time_seconds: Option<i64>,
    pub skip_matching: Option<bool>,
    pub auto_rollback: Option<bool>,
    #[serde(default)]
    pub alarms: Vec<String>,
    pub scale_in_protected_instances: Option<InstancePolicy>,
    pub standby_instances: Option<InstancePolicy>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum InstancePolicy {
    Ignore,
    Wait,
    Refresh,
}

/// Preferences that passed validation; `None` leaves AWS's default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RefreshPreferences {
    pub min_healthy_percentage: Option<i32>,
    pub max_healthy_percentage: Option<i32>,
    pub instance_warmup_seconds: Option<i32>,
    pub checkpoint_percentages: Vec<i32>,
    pub checkpoint_delay_seconds: Option<i32>,
    pub bake_time_seconds: Option<i32>,
    pub skip_matching: Option<bool>,
    pub auto_rollback: Option<bool>,
    pub alarms: Vec<String>,
    pub scale_in_protected_instances: Option<InstancePolicy>,
    pub standby_instances: Option<InstancePolicy>,
}

impl RefreshPreferences {
    /// AutoRollback returns a group to its own launch template version, so AWS offers none to
    /// a group on `$Latest` or `$Default` (absent means `$Default`): say so before anything
    /// changes, with the fix.
    pub fn check_rollback_target(&self, group: &str, group_version: Option<&str>) -> Result<(), ParameterError> {
        let symbolic = match VersionRef::parse(group_version) {
            Some(VersionRef::Number(_)) | None => return Ok(()),
            Some(VersionRef::Latest) => "$Latest",
            Some(VersionRef::Default) => "$Default",
        };
        if self.auto_rollback != Some(true) {
            return Ok(());
        }
        Err(ParameterError::field(
            "preferences.autoRollback",
            format!(
                "is true, but Auto Scaling group `{group}` uses launch template version {symbolic}, and AWS offers no rollback \
                 for a group on $Latest or $Default. Pin the group to a numbered version (aws autoscaling update-auto-scaling-group \
                 --auto-scaling-group-name {group} --launch-template LaunchTemplateId=<id>,Version=<number>), or set autoRollback to false"
            ),
        ))
    }
}

impl RefreshPreferences {
    /// AWS ends a refresh Successful once its last checkpoint's share of the group is
    /// replaced, leaving the rest on the old version. That has to be asked for by name, and
    /// asking for it without such a checkpoint is a contradiction worth stopping on too.
    pub fn check_rollout_extent(&self, partial_rollout: bool) -> Result<(), ParameterError> {
        let last = self.checkpoint_percentages.last().copied();
        match (last, partial_rollout) {
            (Some(last), false) if last < 100 => Err(ParameterError::field(
                "preferences.checkpointPercentages",
                format!(
                    "ends at {last}: the refresh would stop once {last}% of the group is replaced and leave the rest on the version it \
                     runs now. Set \"partialRollout\": true if that is meant, or end the checkpoints at 100"
                ),
            )),
            (None, true) => Err(ParameterError::field(
                "partialRollout",
                "is true, but no checkpointPercentages are set, so the refresh would replace the whole group. Remove partialRollout, \
                 or end checkpointPercentages below 100 (e.g. [25]) to stop at that share",
            )),
            (Some(100), true) => Err(ParameterError::field(
                "partialRollout",
                "is true, but checkpointPercentages end at 100, so the refresh would replace the whole group. Remove partialRollout, \
                 or end checkpointPercentages below 100 (e.g. [25]) to stop at that share",
            )),
            _ => Ok(()),
        }
    }
}

impl PreferenceParameters {
    pub fn validate(&self) -> Result<RefreshPreferences, ParameterError> {
        let min = in_range("preferences.minHealthyPercentage", self.min_healthy_percentage, 0, 100)?;
        let max = in_range("preferences.maxHealthyPercentage", self.max_healthy_percentage, 100, 200)?;
        match (min, max) {
            (None, Some(_)) => {
                return Err(ParameterError::field(
                    "preferences.minHealthyPercentage",
                    "is required when maxHealthyPercentage is set (AWS needs both)",
                ))
            }
            (Some(min), Some(max)) if max - min > 100 => {
                return Err(ParameterError::field(
                    "preferences.maxHealthyPercentage",
                    format!("{max} − minHealthyPercentage {min} = {}; the difference may be at most 100", max - min),
                ))
            }
            _ => {}
        }
        let warmup = in_range("preferences.instanceWarmupSeconds", self.instance_warmup_seconds, 0, i64::from(i32::MAX))?;
        let checkpoints = checkpoints(&self.checkpoint_percentages)?;
        let delay = in_range("preferences.checkpointDelaySeconds", self.checkpoint_delay_seconds, 0, MAX_WAIT_SECONDS)?;
        if delay.is_some() && checkpoints.is_empty() {
            return Err(ParameterError::field(
                "preferences.checkpointDelaySeconds",
                "only applies with checkpointPercentages; add them or remove the delay",
            ));
        }
        let bake = in_range("preferences.bakeTimeSeconds", self.bake_time_seconds, 0, MAX_WAIT_SECONDS)?;
        if self.alarms.len() > MAX_ALARMS {
            return Err(ParameterError::field(
                "preferences.alarms",
                format!("{} alarms given; AWS accepts at most {MAX_ALARMS}", self.alarms.len()),
            ));
        }
        if let Some(i) = self.alarms.iter().position(|a| a.trim().is_empty()) {
            return Err(ParameterError::field(format!("preferences.alarms[{i}]"), "must be an alarm name"));
        }
        Ok(RefreshPreferences {
            min_healthy_percentage: min,
            max_healthy_percentage: max,
            instance_warmup_seconds: warmup,
            checkpoint_percentages: checkpoints,
            checkpoint_delay_seconds: delay,
            bake_time_seconds: bake,
            skip_matching: self.skip_matching,
            auto_rollback: self.auto_rollback,
            alarms: self.alarms.clone(),
            scale_in_protected_instances: self.scale_in_protected_instances,
            standby_instances: self.standby_instances,
        })
    }
}

fn in_range(field: &str, value: Option<i64>, min: i64, max: i64) -> Result<Option<i32>, ParameterError> {
    match value {
        None => Ok(None),
        Some(v) if (min..=max).contains(&v) => Ok(Some(v as i32)),
        Some(v) => Err(ParameterError::field(field, format!("{v} is outside {min}–{max}"))),
    }
}

fn checkpoints(values: &[i64]) -> Result<Vec<i32>, ParameterError> {
    const FIELD: &str = "preferences.checkpointPercentages";
    for (i, v) in values.iter().enumerate() {
        if !(1..=100).contains(v) {
            return Err(ParameterError::field(format!("{FIELD}[{i}]"), format!("{v} is outside 1–100")));
        }
        if i > 0 && values[i - 1] >= *v {
            return Err(ParameterError::field(
                format!("{FIELD}[{i}]"),
                format!("{v} follows {}; checkpoints must be strictly increasing", values[i - 1]),
            ));
        }
    }
    Ok(values.iter().map(|&v| v as i32).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(result: Result<RefreshPreferences, ParameterError>) -> String {
        match result.unwrap_err() {
            ParameterError::Field { field, .. } => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn no_preferences_leave_every_aws_default() {
        assert_eq!(PreferenceParameters::default().validate().unwrap(), RefreshPreferences::default());
    }

    #[test]
    fn a_full_valid_set_passes_through() {
        let p = PreferenceParameters {
            min_healthy_percentage: Some(100),
            max_healthy_percentage: Some(200),
            instance_warmup_seconds: Some(60),
            checkpoint_percentages: vec![20, 50, 100],
            checkpoint_delay_seconds: Some(600),
            bake_time_seconds: Some(900),
            auto_rollback: Some(true),
            alarms: vec!["5xx".into()],
            ..Default::default()
        };
        let v = p.validate().unwrap();
        assert_eq!(v.checkpoint_percentages, vec![20, 50, 100]);
        assert_eq!((v.min_healthy_percentage, v.max_healthy_percentage), (Some(100), Some(200)));
    }

    #[test]
    fn min_healthy_must_be_a_percentage() {
        let p = PreferenceParameters { min_healthy_percentage: Some(101), ..Default::default() };
        assert_eq!(field_of(p.validate()), "preferences.minHealthyPercentage");
        let p = PreferenceParameters { min_healthy_percentage: Some(-1), ..Default::default() };
        assert_eq!(field_of(p.validate()), "preferences.minHealthyPercentage");
    }

    #[test]
    fn max_healthy_is_between_100_and_200() {
        for max in [99, 201] {
            let p = PreferenceParameters { min_healthy_percentage: Some(90), max_healthy_percentage: Some(max), ..Default::default() };
            assert_eq!(field_of(p.validate()), "preferences.maxHealthyPercentage");
        }
    }

    #[test]
    fn max_minus_min_may_not_exceed_100() {
        let p = PreferenceParameters { min_healthy_percentage: Some(50), max_healthy_percentage: Some(151), ..Default::default() };
        let err = p.validate().unwrap_err().to_string();
        assert!(err.contains("at most 100"), "{err}");
        let ok = PreferenceParameters { max_healthy_percentage: Some(150), ..p };
        assert!(ok.validate().is_ok());
    }

    #[test]
    fn max_healthy_alone_asks_for_min_healthy() {
        let p = PreferenceParameters { max_healthy_percentage: Some(110), ..Default::default() };
        assert_eq!(field_of(p.validate()), "preferences.minHealthyPercentage");
    }

    #[test]
    fn checkpoints_must_strictly_increase_within_1_to_100() {
        for (bad, field) in [
            (vec![50, 50], "preferences.checkpointPercentages[1]"),
            (vec![60, 40], "preferences.checkpointPercentages[1]"),
            (vec![0, 50], "preferences.checkpointPercentages[0]"),
            (vec![50, 101], "preferences.checkpointPercentages[1]"),
        ] {
            let p = PreferenceParameters { checkpoint_percentages: bad, ..Default::default() };
            assert_eq!(field_of(p.validate()), field);
        }
        let partial = PreferenceParameters { checkpoint_percentages: vec![10, 40], ..Default::default() };
        assert!(partial.validate().is_ok(), "a last checkpoint below 100 is allowed");
    }

    #[test]
    fn a_checkpoint_delay_without_checkpoints_is_rejected() {
        let p = PreferenceParameters { checkpoint_delay_seconds: Some(60), ..Default::default() };
        assert_eq!(field_of(p.validate()), "preferences.checkpointDelaySeconds");
    }

    #[test]
    fn waits_are_bounded_by_48_hours() {
        let p = PreferenceParameters { bake_time_seconds: Some(172_801), ..Default::default() };
        assert_eq!(field_of(p.validate()), "preferences.bakeTimeSeconds");
        let p = PreferenceParameters { checkpoint_percentages: vec![100], checkpoint_delay_seconds: Some(172_801), ..Default::default() };
        assert_eq!(field_of(p.validate()), "preferences.checkpointDelaySeconds");
    }

    #[test]
    fn at_most_ten_named_alarms() {
        let p = PreferenceParameters { alarms: (0..11).map(|i| format!("a{i}")).collect(), ..Default::default() };
        assert_eq!(field_of(p.validate()), "preferences.alarms");
        let p = PreferenceParameters { alarms: vec!["ok".into(), "".into()], ..Default::default() };
        assert_eq!(field_of(p.validate()), "preferences.alarms[1]");
    }

    #[test]
    fn auto_rollback_on_a_group_on_latest_or_default_fails_saying_how_to_pin_it() {
        let rolling_back = RefreshPreferences { auto_rollback: Some(true), ..RefreshPreferences::default() };
        for version in [Some("$Latest"), Some("$Default"), None] {
            let err = rolling_back.check_rollback_target("web", version).unwrap_err().to_string();
            assert!(err.contains("`preferences.autoRollback`") && err.contains("Pin the group to a numbered version"), "{err}");
            assert!(err.contains(version.unwrap_or("$Default")), "{err}");
        }
        assert!(rolling_back.check_rollback_target("web", Some("7")).is_ok());
        assert!(RefreshPreferences::default().check_rollback_target("web", Some("$Latest")).is_ok());
        let explicit_off = RefreshPreferences { auto_rollback: Some(false), ..RefreshPreferences::default() };
        assert!(explicit_off.check_rollback_target("web", None).is_ok());
    }

    fn ending_at(checkpoints: &[i32]) -> RefreshPreferences {
        RefreshPreferences { checkpoint_percentages: checkpoints.to_vec(), ..RefreshPreferences::default() }
    }

    #[test]
    fn checkpoints_ending_below_100_are_refused_unless_a_partial_rollout_is_meant() {
        let err = ending_at(&[10, 50]).check_rollout_extent(false).unwrap_err();
        let ParameterError::Field { field, reason } = &err else { panic!("{err:?}") };
        assert_eq!(field, "preferences.checkpointPercentages");
        assert!(reason.starts_with("ends at 50: the refresh would stop once 50% of the group is replaced"), "{reason}");
        assert!(reason.contains(r#"Set "partialRollout": true if that is meant, or end the checkpoints at 100"#), "{reason}");
        assert!(ending_at(&[10, 50]).check_rollout_extent(true).is_ok());
        assert!(ending_at(&[99]).check_rollout_extent(true).is_ok());
    }

    #[test]
    fn a_whole_group_rollout_needs_no_partial_rollout_flag() {
        assert!(ending_at(&[]).check_rollout_extent(false).is_ok());
        assert!(ending_at(&[25, 100]).check_rollout_extent(false).is_ok());
    }

    #[test]
    fn a_partial_rollout_that_would_replace_the_whole_group_is_refused() {
        for (checkpoints, says) in [(&[][..], "no checkpointPercentages are set"), (&[25, 100][..], "checkpointPercentages end at 100")] {
            let err = ending_at(checkpoints).check_rollout_extent(true).unwrap_err();
            let ParameterError::Field { field, reason } = &err else { panic!("{err:?}") };
            assert_eq!(field, "partialRollout");
            assert!(reason.contains(says) && reason.contains("would replace the whole group"), "{reason}");
        }
    }

    #[test]
    fn ten_alarms_are_accepted_and_eleven_refused() {
        let with =
            |n: usize| PreferenceParameters { alarms: (0..n).map(|i| format!("alarm-{i}")).collect(), ..PreferenceParameters::default() };
        assert_eq!(with(10).validate().unwrap().alarms.len(), 10);
        assert!(with(11).validate().unwrap_err().to_string().contains("11 alarms given; AWS accepts at most 10"));
    }
}
