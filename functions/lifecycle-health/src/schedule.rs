//! Timing: when to look again, when a heartbeat is due, how long the whole wait may last.
//!
//! The heartbeat rule: from the start of one heartbeat call (or the start of the action) to
//! the end of the next call on the action (a heartbeat or the completion), no more than two
//! thirds of the hook's heartbeat timeout may pass, whatever the sleep, the look (bounded by
//! its budget) and the calls (bounded by theirs) take. The last third is the safety margin.

use std::time::Duration;

/// Seconds Auto Scaling keeps a lifecycle action at most, however many heartbeats (48 h).
pub const GLOBAL_TIMEOUT_CAP: Duration = Duration::from_secs(172_800);

/// Assumed between a recheck's delay running out and its invocation's first look starting
/// (the event source mapping's polling, a cold start).
pub const DELIVERY_ALLOWANCE: Duration = Duration::from_secs(10);

/// The longest delay SQS gives one message (`DelaySeconds`, 15 minutes).
pub const LONGEST_DELIVERY_DELAY: Duration = Duration::from_secs(900);

/// The `DelaySeconds` of a recheck due after `pause`: whole seconds, at least one (a shorter
/// pause would chain invocations without waiting), at most SQS's limit.
pub fn delivery_delay(pause: Duration) -> Duration {
    Duration::from_secs(pause.as_secs_f64().ceil() as u64).clamp(Duration::from_secs(1), LONGEST_DELIVERY_DELAY)
}

/// Whether a recheck delivered `delay` from now keeps the heartbeat rule, right after a
/// heartbeat: the next invocation's calls before its first look (`calls_first`), the look and
/// its answer must fall inside the safe gap. When they cannot (a short hook), the invocation
/// waits itself instead.
pub fn delivery_keeps_heartbeats(
    delay: Duration,
    calls_first: u32,
    look_budget: Duration,
    call_budget: Duration,
    heartbeat_timeout: Duration,
) -> bool {
    !heartbeat_due(call_budget, delivered_look_ends(delay, calls_first, look_budget, call_budget), call_budget, heartbeat_timeout)
}

/// How long from now the look of a recheck delivered after `delay` may take to end: the
/// delivery, the invocation's `calls_first` calls before its first look, and the look.
pub fn delivered_look_ends(delay: Duration, calls_first: u32, look_budget: Duration, call_budget: Duration) -> Duration {
    delay + DELIVERY_ALLOWANCE + calls_first * call_budget + look_budget
}

/// The wait before look number `attempt` (0-based): exponential from `first` up to `max`,
/// with jitter drawn from `unit` in [0, 1) so a fleet's checks do not move in lockstep.
pub fn backoff(attempt: u32, first: Duration, max: Duration, unit: f64) -> Duration {
    let grown = first.as_secs_f64() * 1.5f64.powi(attempt.min(20) as i32);
    let capped = grown.min(max.as_secs_f64());
    Duration::from_secs_f64(capped * (0.5 + 0.5 * unit.clamp(0.0, 1.0)))
}

/// The longest stretch between the start of one heartbeat and the end of the next call.
pub fn safe_gap(heartbeat_timeout: Duration) -> Duration {
    heartbeat_timeout * 2 / 3
}

/// The longest sleep that keeps the heartbeat rule even right after a heartbeat: the
/// heartbeat call, the sleep, a look and the next call must fit in the safe gap.
pub fn longest_sleep(heartbeat_timeout: Duration, look_budget: Duration, call_budget: Duration) -> Duration {
    safe_gap(heartbeat_timeout).saturating_sub(look_budget + 2 * call_budget)
}

/// Whether to send a heartbeat now, `since_last` after the previous one started (or the
/// action did), when our next chance to send one (or to complete) comes `next_chance` from
/// now and takes up to `call_budget`.
pub fn heartbeat_due(since_last: Duration, next_chance: Duration, call_budget: Duration, heartbeat_timeout: Duration) -> bool {
    since_last + next_chance + call_budget > safe_gap(heartbeat_timeout)
}

/// The maximum wait that can really be honoured: Auto Scaling applies the hook's default
/// result at min(48 h, 100 × heartbeat timeout) whatever we send, so decide before that,
/// leaving time for a last look and the completion.
pub fn effective_max_wait(configured: Duration, heartbeat_timeout: Duration, look_budget: Duration, call_budget: Duration) -> Duration {
    let aws_bound = GLOBAL_TIMEOUT_CAP.min(heartbeat_timeout * 100);
    configured.min(aws_bound.saturating_sub(look_budget + call_budget))
}

/// Whether a sleep of `sleep` and another look still leave `margin` before the deadline.
pub fn next_look_fits(remaining: Duration, sleep: Duration, look_budget: Duration, margin: Duration) -> bool {
    remaining >= sleep + look_budget + margin
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    #[test]
    fn backoff_grows_then_caps_and_jitter_stays_within_half_to_full() {
        assert_eq!(backoff(0, s(4.0), s(30.0), 1.0), s(4.0));
        assert_eq!(backoff(0, s(4.0), s(30.0), 0.0), s(2.0));
        assert_eq!(backoff(2, s(4.0), s(30.0), 1.0), s(9.0));
        assert_eq!(backoff(40, s(4.0), s(30.0), 1.0), s(30.0));
    }

    #[test]
    fn the_longest_sleep_leaves_room_for_a_look_and_two_calls_inside_two_thirds_of_the_timeout() {
        // 30 s hook: 20 s gap − 5 s look − 2 × 3 s calls.
        assert_eq!(longest_sleep(s(30.0), s(5.0), s(3.0)), s(9.0));
        assert_eq!(longest_sleep(s(300.0), s(5.0), s(3.0)), s(189.0));
        assert_eq!(longest_sleep(s(30.0), s(25.0), s(3.0)), Duration::ZERO);
    }

    #[test]
    fn a_heartbeat_is_due_when_the_next_chance_would_come_too_late() {
        let timeout = s(30.0);
        // 20 s gap: 5 + 9 + 3 = 17 fits; 8 + 9 + 3 = 20 fits exactly; 9 + 9 + 3 = 21 does not.
        assert!(!heartbeat_due(s(5.0), s(9.0), s(3.0), timeout));
        assert!(!heartbeat_due(s(8.0), s(9.0), s(3.0), timeout));
        assert!(heartbeat_due(s(9.0), s(9.0), s(3.0), timeout));
        // A long hook needs none for a long time.
        assert!(!heartbeat_due(s(100.0), s(30.0), s(3.0), s(300.0)));
    }

    #[test]
    fn no_heartbeat_is_spent_when_the_action_already_lives_past_the_decision() {
        // 900 s hook, last heartbeat 200 s ago, the maximum wait is 20 s away: the next
        // chance is the final decision, well inside the current timeout.
        assert!(!heartbeat_due(s(200.0), s(20.0), s(3.0), s(900.0)));
    }

    #[test]
    fn the_maximum_wait_is_clamped_to_what_auto_scaling_keeps_an_action() {
        assert_eq!(effective_max_wait(s(900.0), s(3600.0), s(5.0), s(3.0)), s(900.0));
        // 100 × 30 s = 3000 s, minus a look and a call.
        assert_eq!(effective_max_wait(s(7200.0), s(30.0), s(5.0), s(3.0)), s(2992.0));
        // 48 h cap for long hooks.
        assert_eq!(effective_max_wait(s(500_000.0), s(7200.0), s(5.0), s(3.0)), s(172_792.0));
    }

    #[test]
    fn a_delivery_delay_is_whole_seconds_between_one_and_sqs_s_limit() {
        assert_eq!(delivery_delay(s(4.2)), s(5.0));
        assert_eq!(delivery_delay(s(7.0)), s(7.0));
        assert_eq!(delivery_delay(s(0.2)), s(1.0), "never a recheck without a wait");
        assert_eq!(delivery_delay(Duration::ZERO), s(1.0));
        assert_eq!(delivery_delay(s(3600.0)), s(900.0));
    }

    #[test]
    fn a_delivered_recheck_must_reach_its_look_and_answer_inside_two_thirds_of_the_hook() {
        // 300 s hook, 200 s gap: a 30 s delay, 10 s allowance, 4 calls of 3 s, a 5 s look and
        // the answer take 3 + 30 + 10 + 12 + 5 + 3 = 63 s.
        assert!(delivery_keeps_heartbeats(s(30.0), 4, s(5.0), s(3.0), s(300.0)));
        // 200 s exactly fits; a second more does not.
        assert!(delivery_keeps_heartbeats(s(167.0), 4, s(5.0), s(3.0), s(300.0)));
        assert!(!delivery_keeps_heartbeats(s(168.0), 4, s(5.0), s(3.0), s(300.0)));
        // The shortest hook (30 s, 20 s gap) leaves no room for a delivery: the invocation waits.
        assert!(!delivery_keeps_heartbeats(s(1.0), 1, s(5.0), s(3.0), s(30.0)));
    }

    #[test]
    fn a_look_is_only_planned_when_it_fits_before_the_deadline() {
        assert!(next_look_fits(s(60.0), s(20.0), s(5.0), s(10.0)));
        assert!(next_look_fits(s(35.0), s(20.0), s(5.0), s(10.0)));
        assert!(!next_look_fits(s(34.0), s(20.0), s(5.0), s(10.0)));
    }
}
