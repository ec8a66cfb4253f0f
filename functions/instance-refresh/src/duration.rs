//! How long a refresh will at least keep its CodePipeline action waiting, worked out before
//! anything changes. CodePipeline fails an Invoke action still in progress 24 hours after it
//! started, continuations or not; a refresh outliving that goes on with nobody tracking it,
//! and the pipeline reports a failure for a release that may well succeed.

use shared::parameters::ParameterError;

use crate::preferences::RefreshPreferences;

/// CodePipeline's bound on one action, every continuation included.
pub const CODEPIPELINE_ACTION_LIMIT_SECONDS: u64 = 24 * 3600;

/// AWS's defaults when neither the preferences nor the group's maintenance policy say.
const DEFAULT_MIN_HEALTHY: u64 = 90;
const DEFAULT_MAX_HEALTHY: u64 = 100;
const DEFAULT_CHECKPOINT_DELAY: u64 = 3600;

/// What `DescribeAutoScalingGroups` says about a group that sets a refresh's pace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupFacts {
    pub desired_capacity: i32,
    pub default_instance_warmup: Option<i32>,
    pub health_check_grace_period: Option<i32>,
    pub maintenance_min_healthy: Option<i32>,
    pub maintenance_max_healthy: Option<i32>,
}

/// Which setting the warm-up came from: the refusal names the one to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarmupSource {
    Preference,
    DefaultInstanceWarmup,
    HealthCheckGracePeriod,
    Unset,
}

/// The figures behind [`WorstCase::total_seconds`], kept apart so a refusal can show them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorstCase {
    /// Checkpoints the refresh stops at for `checkpoint_delay` (every one but the last).
    pub pauses: u64,
    pub checkpoint_delay: u64,
    /// The delay is AWS's default, not a preference.
    pub default_delay: bool,
    pub bake: u64,
    pub batches: u64,
    pub warmup: u64,
    pub warmup_source: WarmupSource,
}

/// The time a refresh with `prefs` on `group` (as it is now) spends waiting on purpose:
///
/// `pauses × CheckpointDelay + BakeTime + batches × warm-up`
///
/// - **pauses**: every checkpoint but the last. At the last one the refresh is done: at 100 % the
///   whole group is replaced (AWS emits no checkpoint event and waits no delay there); below
///   100 % AWS ends it Successful as soon as that share is replaced and warm. CheckpointDelay
///   defaults to 3600 s when checkpoints are set.
/// - **batch size**: as many instances at once as the healthy percentages allow,
///   `(desired − ceil(desired × min / 100)) + floor(desired × (max − 100) / 100)`, at least 1.
///   Min and max are the preference, else the group's InstanceMaintenancePolicy, else 90 and 100.
/// - **batches**: AWS "replaces fewer instances than the minimum healthy percentage allows" to
///   land exactly on a checkpoint, so each stretch up to a checkpoint `p` (`ceil(desired × p / 100)`
///   instances replaced by then) is counted in whole batches of its own. Without checkpoints
///   that is `ceil(desired / size)`; a last checkpoint below 100 leaves the rest of the group out.
/// - **warm-up**, waited after every batch: InstanceWarmup, else the group's
///   DefaultInstanceWarmup, else its HealthCheckGracePeriod.
///
/// Everything counted is a wait AWS takes whatever the instances do. Not counted, because
/// nothing here can know them: the time instances take to boot, launching lifecycle hooks
/// (lifecycle-health ends each wait at its own maximum), and batches a scale-out adds during
/// the refresh. Each of those only makes the real refresh longer than this figure.
pub fn worst_case(prefs: &RefreshPreferences, group: &GroupFacts) -> WorstCase {
    // Negative is how AWS spells "cleared" in an InstanceMaintenancePolicy or DefaultInstanceWarmup.
    let set = |v: Option<i32>| v.and_then(|v| u64::try_from(v).ok());
    let desired = set(Some(group.desired_capacity)).unwrap_or(0);
    let min = set(prefs.min_healthy_percentage).or(set(group.maintenance_min_healthy)).unwrap_or(DEFAULT_MIN_HEALTHY);
    let max = set(prefs.max_healthy_percentage).or(set(group.maintenance_max_healthy)).unwrap_or(DEFAULT_MAX_HEALTHY);
    let below = desired - (desired * min).div_ceil(100).min(desired);
    let above = desired * max.saturating_sub(100) / 100;
    let size = (below + above).max(1);

    let checkpoints = &prefs.checkpoint_percentages;
    let stops = if checkpoints.is_empty() { vec![100] } else { checkpoints.iter().filter_map(|&p| set(Some(p))).collect() };
    let (mut replaced, mut batches) = (0, 0);
    for percent in stops {
        let by_then = (desired * percent).div_ceil(100);
        batches += by_then.saturating_sub(replaced).div_ceil(size);
        replaced = replaced.max(by_then);
    }

    let (warmup, warmup_source) =
        match (set(prefs.instance_warmup_seconds), set(group.default_instance_warmup), set(group.health_check_grace_period)) {
            (Some(w), _, _) => (w, WarmupSource::Preference),
            (None, Some(w), _) => (w, WarmupSource::DefaultInstanceWarmup),
            (None, None, Some(w)) => (w, WarmupSource::HealthCheckGracePeriod),
            (None, None, None) => (0, WarmupSource::Unset),
        };
    let delay = set(prefs.checkpoint_delay_seconds);
    WorstCase {
        pauses: checkpoints.len().saturating_sub(1) as u64,
        checkpoint_delay: delay.unwrap_or(DEFAULT_CHECKPOINT_DELAY),
        default_delay: delay.is_none(),
        bake: set(prefs.bake_time_seconds).unwrap_or(0),
        batches,
        warmup,
        warmup_source,
    }
}

impl WorstCase {
    pub fn total_seconds(&self) -> u64 {
        self.pauses * self.checkpoint_delay + self.bake + self.batches * self.warmup
    }

    /// Refuses a refresh that would still be running when CodePipeline gives up on the action,
    /// naming each figure and the settings that shorten it.
    pub fn check_fits_codepipeline(&self) -> Result<(), ParameterError> {
        let total = self.total_seconds();
        if total <= CODEPIPELINE_ACTION_LIMIT_SECONDS {
            return Ok(());
        }
        let mut terms = Vec::new();
        let mut fixes = Vec::new();
        if self.pauses > 0 && self.checkpoint_delay > 0 {
            let default = if self.default_delay { " (AWS's default)" } else { "" };
            terms.push(format!("{} checkpoint pause{} × {} delay{default}", self.pauses, plural(self.pauses), span(self.checkpoint_delay)));
            fixes.push(if self.default_delay {
                "set a shorter checkpointDelaySeconds or use fewer checkpoints"
            } else {
                "lower checkpointDelaySeconds or use fewer checkpoints"
            });
        }
        if self.bake > 0 {
            terms.push(format!("bake {}", span(self.bake)));
            fixes.push("lower bakeTimeSeconds");
        }
        if self.batches > 0 && self.warmup > 0 {
            let source = match self.warmup_source {
                WarmupSource::DefaultInstanceWarmup => " (the group's DefaultInstanceWarmup)",
                WarmupSource::HealthCheckGracePeriod => " (the group's HealthCheckGracePeriod)",
                WarmupSource::Preference | WarmupSource::Unset => "",
            };
            let batches = if self.batches == 1 { "1 batch".to_owned() } else { format!("{} batches", self.batches) };
            terms.push(format!("{batches} × warm-up {}{source}", span(self.warmup)));
            fixes.push(
                "set a shorter instanceWarmupSeconds or replace more instances at once (a lower minHealthyPercentage, a higher maxHealthyPercentage)",
            );
        }
        Err(ParameterError::field(
            "preferences",
            format!(
                "the refresh could run {} ({}), longer than the 24 h CodePipeline allows an action, and boot time and lifecycle hooks \
                 come on top; to fit: {}",
                span(total),
                terms.join(" + "),
                fixes.join("; ")
            ),
        ))
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// "26 h 40 min", "2 h", "10 min", "1 min 30 s", "0 s": only the parts that are there.
fn span(seconds: u64) -> String {
    let parts = [(seconds / 3600, "h"), (seconds % 3600 / 60, "min"), (seconds % 60, "s")];
    let shown: Vec<String> = parts.iter().filter(|(n, _)| *n > 0).map(|(n, unit)| format!("{n} {unit}")).collect();
    if shown.is_empty() {
        "0 s".to_owned()
    } else {
        shown.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(desired: i32) -> GroupFacts {
        GroupFacts { desired_capacity: desired, ..GroupFacts::default() }
    }

    fn prefs(min: i32, max: i32) -> RefreshPreferences {
        RefreshPreferences {
            min_healthy_percentage: Some(min),
            max_healthy_percentage: Some(max),
            instance_warmup_seconds: Some(0),
            ..RefreshPreferences::default()
        }
    }

    fn refusal(case: &WorstCase) -> String {
        match case.check_fits_codepipeline().unwrap_err() {
            ParameterError::Field { field, reason } => {
                assert_eq!(field, "preferences");
                reason
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_group_of_ten_at_aws_defaults_is_replaced_one_instance_at_a_time() {
        // 90 % of 10 must stay healthy and nothing may go above 100 %: one at a time.
        let case = worst_case(&RefreshPreferences::default(), &group(10));
        assert_eq!(case.batches, 10);
    }

    #[test]
    fn room_below_and_above_desired_capacity_both_widen_a_batch() {
        // 4 of 10 may be out of service (min 60) and 2 more may run (max 120): batches of 6.
        assert_eq!(worst_case(&prefs(60, 120), &group(10)).batches, 2);
        // min 50 of 3 keeps ceil(1.5) = 2, so 1 below; max 150 of 3 is floor(1.5) = 1 above.
        assert_eq!(worst_case(&prefs(50, 150), &group(3)).batches, 2);
        // min 0 replaces the whole group at once.
        assert_eq!(worst_case(&prefs(0, 100), &group(7)).batches, 1);
    }

    #[test]
    fn a_batch_is_never_smaller_than_one_instance() {
        assert_eq!(worst_case(&prefs(100, 100), &group(5)).batches, 5);
        assert_eq!(worst_case(&prefs(100, 100), &group(1)).batches, 1);
    }

    #[test]
    fn an_empty_group_has_no_batch_to_warm_up() {
        assert_eq!(worst_case(&prefs(90, 100), &group(0)).batches, 0);
    }

    #[test]
    fn a_batch_stops_short_at_each_checkpoint() {
        // AWS's own example: 10 instances, [20, 50, 100], min 80 max 100, two at a time:
        // 2 to reach 20 %, then 2 + 1 to reach 50 %, then 2 + 2 + 1: six batches, not five.
        let p = RefreshPreferences { checkpoint_percentages: vec![20, 50, 100], ..prefs(80, 100) };
        assert_eq!(worst_case(&p, &group(10)).batches, 6);
    }

    #[test]
    fn a_last_checkpoint_below_100_counts_only_the_batches_up_to_it() {
        let p = RefreshPreferences { checkpoint_percentages: vec![50], ..prefs(100, 100) };
        assert_eq!(worst_case(&p, &group(4)).batches, 2);
        // 30 % of 5 is 1.5: AWS needs 2 new instances before 30 % is reached.
        let p = RefreshPreferences { checkpoint_percentages: vec![30], ..prefs(100, 100) };
        assert_eq!(worst_case(&p, &group(5)).batches, 2);
    }

    #[test]
    fn the_group_maintenance_policy_stands_in_for_missing_healthy_percentages() {
        let policy = GroupFacts { maintenance_min_healthy: Some(50), maintenance_max_healthy: Some(100), ..group(10) };
        assert_eq!(worst_case(&RefreshPreferences::default(), &policy).batches, 2);
        // A preference beats the policy; a cleared policy value (-1) is no value.
        assert_eq!(worst_case(&prefs(100, 100), &policy).batches, 10);
        let cleared = GroupFacts { maintenance_min_healthy: Some(-1), maintenance_max_healthy: Some(-1), ..group(10) };
        assert_eq!(worst_case(&RefreshPreferences::default(), &cleared).batches, 10);
    }

    #[test]
    fn the_warm_up_is_the_preference_else_the_group_default_warm_up_else_its_grace_period() {
        let facts = GroupFacts { default_instance_warmup: Some(300), health_check_grace_period: Some(120), ..group(1) };
        let none = RefreshPreferences::default();
        let with = RefreshPreferences { instance_warmup_seconds: Some(60), ..RefreshPreferences::default() };
        assert_eq!((worst_case(&with, &facts).warmup, worst_case(&with, &facts).warmup_source), (60, WarmupSource::Preference));
        assert_eq!(worst_case(&none, &facts).warmup_source, WarmupSource::DefaultInstanceWarmup);
        assert_eq!(worst_case(&none, &facts).warmup, 300);
        let no_default = GroupFacts { default_instance_warmup: None, ..facts };
        assert_eq!(
            (worst_case(&none, &no_default).warmup, worst_case(&none, &no_default).warmup_source),
            (120, WarmupSource::HealthCheckGracePeriod)
        );
        assert_eq!(worst_case(&none, &group(1)).warmup_source, WarmupSource::Unset);
    }

    #[test]
    fn every_checkpoint_but_the_last_pauses_for_the_delay_an_hour_by_default() {
        let p = RefreshPreferences { checkpoint_percentages: vec![10, 50, 100], ..prefs(90, 100) };
        let case = worst_case(&p, &group(0));
        assert_eq!((case.pauses, case.checkpoint_delay, case.default_delay), (2, 3600, true));
        assert_eq!(case.total_seconds(), 7200);
        let partial = RefreshPreferences { checkpoint_percentages: vec![25], checkpoint_delay_seconds: Some(600), ..p };
        assert_eq!(worst_case(&partial, &group(0)).pauses, 0, "the last checkpoint ends the refresh, below 100 % too");
        assert_eq!(worst_case(&prefs(90, 100), &group(0)).pauses, 0);
    }

    #[test]
    fn the_total_adds_pauses_bake_and_warm_ups() {
        let p = RefreshPreferences {
            checkpoint_percentages: vec![20, 50, 100],
            checkpoint_delay_seconds: Some(600),
            bake_time_seconds: Some(900),
            instance_warmup_seconds: Some(120),
            ..prefs(80, 100)
        };
        // 2 pauses × 600 + 900 + 6 batches × 120.
        assert_eq!(worst_case(&p, &group(10)).total_seconds(), 1200 + 900 + 720);
    }

    #[test]
    fn a_refresh_of_exactly_24_hours_is_accepted_and_a_second_more_refused() {
        let p = RefreshPreferences { checkpoint_percentages: vec![25, 50, 100], checkpoint_delay_seconds: Some(43_200), ..prefs(90, 100) };
        let exactly = worst_case(&p, &group(4));
        assert_eq!(exactly.total_seconds(), 86_400);
        assert!(exactly.check_fits_codepipeline().is_ok());
        let over = worst_case(&RefreshPreferences { bake_time_seconds: Some(1), ..p }, &group(4));
        assert_eq!(over.total_seconds(), 86_401);
        assert!(
            refusal(&over).starts_with("the refresh could run 24 h 1 s (2 checkpoint pauses × 12 h delay + bake 1 s)"),
            "{}",
            refusal(&over)
        );
    }

    #[test]
    fn a_refresh_whose_checkpoints_and_bake_can_outlive_24_hours_is_refused_naming_the_figures() {
        let p = RefreshPreferences {
            checkpoint_percentages: vec![10, 20, 50, 100],
            checkpoint_delay_seconds: Some(8 * 3600),
            bake_time_seconds: Some(2 * 3600),
            instance_warmup_seconds: Some(600),
            ..prefs(80, 100)
        };
        // 10 instances two at a time, cut at 1, 2 and 5: 1 + 1 + 2 + 3 = 7 batches.
        let message = refusal(&worst_case(&p, &group(10)));
        assert!(
            message.starts_with(
                "the refresh could run 27 h 10 min (3 checkpoint pauses × 8 h delay + bake 2 h + 7 batches × warm-up 10 min), \
                 longer than the 24 h CodePipeline allows an action"
            ),
            "{message}"
        );
        for fix in ["lower checkpointDelaySeconds or use fewer checkpoints", "lower bakeTimeSeconds", "instanceWarmupSeconds"] {
            assert!(message.contains(fix), "{message}");
        }
    }

    #[test]
    fn a_refusal_says_which_group_setting_a_warm_up_or_default_delay_came_from() {
        let facts = GroupFacts { health_check_grace_period: Some(3 * 3600), ..group(10) };
        let message = refusal(&worst_case(&RefreshPreferences::default(), &facts));
        assert!(message.contains("10 batches × warm-up 3 h (the group's HealthCheckGracePeriod)"), "{message}");
        assert!(!message.contains("bakeTimeSeconds") && !message.contains("checkpoint"), "only what counts is named: {message}");
        let p = RefreshPreferences { checkpoint_percentages: (1..=26).map(|n| n * 3).chain([100]).collect(), ..prefs(90, 100) };
        let message = refusal(&worst_case(&p, &group(0)));
        assert!(message.contains("26 checkpoint pauses × 1 h delay (AWS's default)"), "{message}");
        assert!(message.contains("set a shorter checkpointDelaySeconds"), "{message}");
    }

    #[test]
    fn spans_show_only_the_parts_that_are_there() {
        assert_eq!(span(0), "0 s");
        assert_eq!(span(90), "1 min 30 s");
        assert_eq!(span(7200), "2 h");
        assert_eq!(span(96_000), "26 h 40 min");
    }
}
