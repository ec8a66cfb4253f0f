//! Timing inside one invocation: when to look again, when to heartbeat, when to hand over.

use std::time::Duration;

/// The wait before look number `attempt` (0-based): exponential from `first` up to `max`,
/// with jitter drawn from `unit` in [0, 1) so a fleet's checks do not move in lockstep.
pub fn backoff(attempt: u32, first: Duration, max: Duration, unit: f64) -> Duration {
    let grown = first.as_secs_f64() * 1.5f64.powi(attempt.min(20) as i32);
    let capped = grown.min(max.as_secs_f64());
    Duration::from_secs_f64(capped * (0.5 + 0.5 * unit.clamp(0.0, 1.0)))
}

/// Whether to send a heartbeat before sleeping `sleep`: the hook's timeout would otherwise
/// come within a third of itself of expiring during the sleep.
pub fn heartbeat_due(since_last: Duration, sleep: Duration, heartbeat_timeout: Duration) -> bool {
    since_last + sleep + heartbeat_timeout / 3 >= heartbeat_timeout
}

/// Whether another look after `sleep` still leaves `margin` before the invocation's deadline.
pub fn fits(remaining: Duration, sleep: Duration, margin: Duration) -> bool {
    remaining > sleep + margin
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
    fn a_heartbeat_is_sent_before_the_timeout_gets_close() {
        let timeout = s(300.0);
        assert!(!heartbeat_due(s(60.0), s(30.0), timeout));
        assert!(heartbeat_due(s(180.0), s(30.0), timeout));
    }

    #[test]
    fn a_look_is_only_planned_when_it_fits_before_the_deadline() {
        assert!(fits(s(60.0), s(20.0), s(10.0)));
        assert!(!fits(s(25.0), s(20.0), s(10.0)));
    }
}
