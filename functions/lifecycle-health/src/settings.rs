//! What "healthy" means for a hook: environment variables set by the template, overridden
//! per hook by its `NotificationMetadata` JSON.

use std::time::Duration;

use serde::Deserialize;

use crate::event::Transition;

/// Which checks must pass, and how long to wait for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// After this long since the action started, a still-warming instance is abandoned.
    pub max_wait: Duration,
    /// A target reported unhealthy within this time may still recover.
    pub target_grace: Duration,
    pub check_targets: bool,
    pub http: Option<HttpCheck>,
    /// The instance tag user data sets to `complete` or `failed`.
    pub bootstrap_tag: String,
    pub require_bootstrap_complete: bool,
    /// Whether an instance coming into the group must run the release the group launches now.
    pub check_release: bool,
    /// How an instance going into the warm pool is checked: the app does not serve yet, so
    /// neither target groups nor the HTTP endpoint are asked.
    pub warm_pool: WarmPoolSettings,
    /// Time kept free at the end of an invocation to answer the action or send the recheck.
    pub deadline_margin: Duration,
    pub first_poll: Duration,
    /// Upper bound on the wait between looks; capped further per hook so that heartbeats
    /// never lapse (see [`crate::schedule`]).
    pub max_poll: Duration,
    /// EC2 may not list an instance for a while after launch (eventual consistency); within
    /// this time since the action started, "not found" means "not yet".
    pub not_found_grace: Duration,
    /// The longest one AWS call (a heartbeat, the completion, sending the recheck) may take; the
    /// AWS calls of one look share one such allowance.
    pub call_timeout: Duration,
}

/// The shortest heartbeat timeout a lifecycle hook can have (AWS's minimum).
pub const SHORTEST_HOOK: Duration = Duration::from_secs(30);

/// The checks that fit an instance being prepared for the warm pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarmPoolSettings {
    pub require_bootstrap_complete: bool,
    pub max_wait: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCheck {
    pub port: u16,
    pub path: String,
    pub timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_wait: Duration::from_secs(900),
            target_grace: Duration::from_secs(300),
            check_targets: true,
            http: None,
            bootstrap_tag: "bootstrap".into(),
            require_bootstrap_complete: false,
            check_release: true,
            warm_pool: WarmPoolSettings { require_bootstrap_complete: false, max_wait: Duration::from_secs(900) },
            deadline_margin: Duration::from_secs(10),
            first_poll: Duration::from_secs(5),
            max_poll: Duration::from_secs(30),
            not_found_grace: Duration::from_secs(120),
            call_timeout: Duration::from_secs(3),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name} `{key}`: {reason}")]
pub struct SettingsError {
    pub source_name: &'static str,
    pub key: String,
    pub reason: String,
}

/// Per-hook overrides, from the hook's NotificationMetadata.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Overrides {
    max_wait_seconds: Option<u64>,
    target_grace_seconds: Option<u64>,
    check_targets: Option<bool>,
    http: Option<HttpOverride>,
    require_bootstrap_complete: Option<bool>,
    check_release: Option<bool>,
    warm_pool: Option<WarmPoolOverride>,
}

/// Only for an instance going into the warm pool; unset keys keep the hook's own values.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct WarmPoolOverride {
    require_bootstrap_complete: Option<bool>,
    max_wait_seconds: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct HttpOverride {
    port: u16,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    timeout_ms: Option<u64>,
}

impl Settings {
    /// Reads `HEALTH_*` variables through `var` (the process environment at run time).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let mut s = Settings::default();
        let number = |key: &str, expected: &str| -> Result<Option<u64>, SettingsError> {
            var(key).map(|v| v.trim().parse::<u64>().map_err(|_| env_error(key, expected, &v))).transpose()
        };
        let seconds = |key: &str| Ok::<_, SettingsError>(number(key, "a whole number of seconds")?.map(Duration::from_secs));
        let millis = |key: &str| Ok::<_, SettingsError>(number(key, "milliseconds")?.map(Duration::from_millis));
        let flag = |key: &str| -> Result<Option<bool>, SettingsError> {
            var(key)
                .map(|v| match v.trim().to_ascii_lowercase().as_str() {
                    "true" | "1" | "yes" => Ok(true),
                    "false" | "0" | "no" => Ok(false),
                    _ => Err(env_error(key, "true or false", &v)),
                })
                .transpose()
        };
        for (key, setting) in [
            ("HEALTH_MAX_WAIT_SECONDS", &mut s.max_wait),
            ("HEALTH_TARGET_GRACE_SECONDS", &mut s.target_grace),
            ("HEALTH_DEADLINE_MARGIN_SECONDS", &mut s.deadline_margin),
            ("HEALTH_FIRST_POLL_SECONDS", &mut s.first_poll),
            ("HEALTH_MAX_POLL_SECONDS", &mut s.max_poll),
            ("HEALTH_NOT_FOUND_GRACE_SECONDS", &mut s.not_found_grace),
        ] {
            if let Some(d) = seconds(key)? {
                *setting = d;
            }
        }
        if let Some(d) = millis("HEALTH_AWS_CALL_TIMEOUT_MS")? {
            s.call_timeout = d;
        }
        if let Some(b) = flag("HEALTH_CHECK_TARGETS")? {
            s.check_targets = b;
        }
        if let Some(b) = flag("HEALTH_REQUIRE_BOOTSTRAP_COMPLETE")? {
            s.require_bootstrap_complete = b;
        }
        if let Some(b) = flag("HEALTH_CHECK_RELEASE")? {
            s.check_release = b;
        }
        s.warm_pool = WarmPoolSettings { require_bootstrap_complete: s.require_bootstrap_complete, max_wait: s.max_wait };
        if let Some(b) = flag("HEALTH_WARM_POOL_REQUIRE_BOOTSTRAP_COMPLETE")? {
            s.warm_pool.require_bootstrap_complete = b;
        }
        if let Some(d) = seconds("HEALTH_WARM_POOL_MAX_WAIT_SECONDS")? {
            s.warm_pool.max_wait = d;
        }
        if let Some(tag) = var("HEALTH_BOOTSTRAP_TAG").filter(|t| !t.trim().is_empty()) {
            s.bootstrap_tag = tag;
        }
        if let Some(port) = var("HEALTH_HTTP_PORT") {
            let port = port.trim().parse::<u16>().map_err(|_| env_error("HEALTH_HTTP_PORT", "a TCP port", &port))?;
            s.http = Some(HttpCheck {
                port,
                path: normalise_path(var("HEALTH_HTTP_PATH").as_deref().unwrap_or("/health")),
                timeout: millis("HEALTH_HTTP_TIMEOUT_MS")?.unwrap_or(Duration::from_millis(2000)),
            });
        }
        s.validate("environment variable")?;
        Ok(s)
    }

    /// The settings for one transition: going into the warm pool, only what can be checked
    /// before the app serves (EC2 status, the bootstrap tag) and no release check (the pool
    /// is filled from the group's current configuration); otherwise the hook's settings.
    pub fn for_transition(&self, transition: Transition) -> Settings {
        match transition {
            Transition::IntoWarmPool => Settings {
                check_targets: false,
                http: None,
                check_release: false,
                require_bootstrap_complete: self.warm_pool.require_bootstrap_complete,
                max_wait: self.warm_pool.max_wait,
                ..self.clone()
            },
            // The instance keeps the launch tags of its first launch; the refresh chose its
            // new image itself.
            Transition::RootVolumeReplacement => Settings { check_release: false, ..self.clone() },
            Transition::IntoGroup | Transition::FromWarmPool => self.clone(),
        }
    }

    /// The AWS calls an invocation makes before its first look, each within `call_timeout`:
    /// the hook; the group, when target groups or the release are checked; the group's refresh
    /// and the launch template version, when the release is.
    pub fn calls_before_first_look(&self) -> u32 {
        1 + u32::from(self.check_targets || self.check_release) + 2 * u32::from(self.check_release)
    }

    /// The worst case of one look: the AWS calls' shared allowance, then the HTTP check.
    pub fn look_budget(&self) -> Duration {
        self.call_timeout + self.http.as_ref().map_or(Duration::ZERO, |h| h.timeout)
    }

    /// The shortest invocation that can do useful work: one look, the first poll's wait (a
    /// hook too short for a delivered recheck waits inside the invocation), and the margin to
    /// answer or send the recheck.
    pub fn shortest_invocation(&self) -> Duration {
        self.deadline_margin + self.look_budget() + self.first_poll
    }

    /// Rejects settings under which a wait could spin or a heartbeat could lapse, naming the
    /// setting and the figures.
    fn validate(&self, source_name: &'static str) -> Result<(), SettingsError> {
        let fail = |key: &str, reason: String| Err(SettingsError { source_name, key: key.into(), reason });
        if self.first_poll.is_zero() {
            return fail("HEALTH_FIRST_POLL_SECONDS", "must be at least 1: with 0 the function would look again without pausing".into());
        }
        if self.max_poll < self.first_poll {
            return fail(
                "HEALTH_MAX_POLL_SECONDS",
                format!("{} s is below HEALTH_FIRST_POLL_SECONDS ({} s)", self.max_poll.as_secs(), self.first_poll.as_secs()),
            );
        }
        if self.call_timeout.is_zero() {
            return fail("HEALTH_AWS_CALL_TIMEOUT_MS", "must be above 0".into());
        }
        let last_calls = 2 * self.call_timeout;
        if self.deadline_margin < last_calls {
            return fail(
                "HEALTH_DEADLINE_MARGIN_SECONDS",
                format!(
                    "{} s cannot fit a heartbeat and sending the recheck, {} ms each; use at least {} s",
                    self.deadline_margin.as_secs_f64(),
                    self.call_timeout.as_millis(),
                    last_calls.as_secs_f64().ceil()
                ),
            );
        }
        // Against the shortest legal hook: a heartbeat, the first wait, a look and the next
        // heartbeat must fit well inside 30 s, or some hook could time out while we wait.
        let room = crate::schedule::longest_sleep(SHORTEST_HOOK, self.look_budget(), self.call_timeout);
        if room < self.first_poll {
            return fail(
                if self.http.is_some() { "HEALTH_HTTP_TIMEOUT_MS" } else { "HEALTH_AWS_CALL_TIMEOUT_MS" },
                format!(
                    "one look may take {:.1} s, which with {:.1} s heartbeat calls leaves {:.1} s to wait inside a {} s hook, less than HEALTH_FIRST_POLL_SECONDS ({} s); shorten the timeouts",
                    self.look_budget().as_secs_f64(), self.call_timeout.as_secs_f64(), room.as_secs_f64(), SHORTEST_HOOK.as_secs(), self.first_poll.as_secs()
                ),
            );
        }
        Ok(())
    }

    /// Applies the hook's NotificationMetadata, when it is a JSON object of our keys. Other
    /// metadata (plain text, another tool's JSON) is left alone: hooks are shared.
    pub fn for_hook(&self, metadata: Option<&str>) -> Result<Settings, SettingsError> {
        let Some(raw) = metadata.map(str::trim).filter(|m| m.starts_with('{')) else { return Ok(self.clone()) };
        let overrides: Overrides = serde_json::from_str(raw).map_err(|e| SettingsError {
            source_name: "NotificationMetadata",
            key: "(json)".into(),
            reason: format!("{e}; expected keys maxWaitSeconds, targetGraceSeconds, checkTargets, http {{port, path, timeoutMs}}, requireBootstrapComplete, checkRelease, warmPool {{requireBootstrapComplete, maxWaitSeconds}}"),
        })?;
        let mut s = self.clone();
        if let Some(v) = overrides.max_wait_seconds {
            s.max_wait = Duration::from_secs(v);
        }
        if let Some(v) = overrides.target_grace_seconds {
            s.target_grace = Duration::from_secs(v);
        }
        if let Some(v) = overrides.check_targets {
            s.check_targets = v;
        }
        if let Some(v) = overrides.require_bootstrap_complete {
            s.require_bootstrap_complete = v;
            s.warm_pool.require_bootstrap_complete = v;
        }
        if let Some(v) = overrides.max_wait_seconds {
            s.warm_pool.max_wait = Duration::from_secs(v);
        }
        if let Some(v) = overrides.check_release {
            s.check_release = v;
        }
        if let Some(warm) = overrides.warm_pool {
            if let Some(v) = warm.require_bootstrap_complete {
                s.warm_pool.require_bootstrap_complete = v;
            }
            if let Some(v) = warm.max_wait_seconds {
                s.warm_pool.max_wait = Duration::from_secs(v);
            }
        }
        if let Some(http) = overrides.http {
            let defaults = self.http.clone();
            s.http = Some(HttpCheck {
                port: http.port,
                path: normalise_path(http.path.as_deref().or(defaults.as_ref().map(|d| d.path.as_str())).unwrap_or("/health")),
                timeout: http.timeout_ms.map(Duration::from_millis).or(defaults.map(|d| d.timeout)).unwrap_or(Duration::from_secs(2)),
            });
        }
        s.validate("NotificationMetadata")?;
        Ok(s)
    }
}

fn normalise_path(path: &str) -> String {
    if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    }
}

fn env_error(key: &str, expected: &str, got: &str) -> SettingsError {
    SettingsError { source_name: "environment variable", key: key.into(), reason: format!("expected {expected}, got `{got}`") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn defaults_apply_without_variables() {
        assert_eq!(Settings::from_vars(vars(&[])).unwrap(), Settings::default());
    }

    #[test]
    fn variables_configure_every_check() {
        let s = Settings::from_vars(vars(&[
            ("HEALTH_MAX_WAIT_SECONDS", "600"),
            ("HEALTH_HTTP_PORT", "8080"),
            ("HEALTH_HTTP_PATH", "ready"),
            ("HEALTH_CHECK_TARGETS", "false"),
            ("HEALTH_REQUIRE_BOOTSTRAP_COMPLETE", "yes"),
            ("HEALTH_NOT_FOUND_GRACE_SECONDS", "45"),
            ("HEALTH_AWS_CALL_TIMEOUT_MS", "2500"),
        ]))
        .unwrap();
        assert_eq!(s.max_wait, Duration::from_secs(600));
        assert_eq!(s.http, Some(HttpCheck { port: 8080, path: "/ready".into(), timeout: Duration::from_secs(2) }));
        assert!(!s.check_targets && s.require_bootstrap_complete);
        assert_eq!((s.not_found_grace, s.call_timeout), (Duration::from_secs(45), Duration::from_millis(2500)));
    }

    #[test]
    fn a_bad_variable_is_named_with_what_was_expected() {
        let err = Settings::from_vars(vars(&[("HEALTH_HTTP_PORT", "http")])).unwrap_err();
        assert_eq!(err.to_string(), "environment variable `HEALTH_HTTP_PORT`: expected a TCP port, got `http`");
    }

    #[test]
    fn settings_that_would_spin_or_let_a_heartbeat_lapse_are_rejected_naming_the_figures() {
        let err = Settings::from_vars(vars(&[("HEALTH_FIRST_POLL_SECONDS", "0")])).unwrap_err();
        assert!(err.to_string().contains("`HEALTH_FIRST_POLL_SECONDS`: must be at least 1"), "{err}");
        let err = Settings::from_vars(vars(&[("HEALTH_FIRST_POLL_SECONDS", "20"), ("HEALTH_MAX_POLL_SECONDS", "10")])).unwrap_err();
        assert!(err.to_string().contains("10 s is below HEALTH_FIRST_POLL_SECONDS (20 s)"), "{err}");
        let err = Settings::from_vars(vars(&[("HEALTH_DEADLINE_MARGIN_SECONDS", "5")])).unwrap_err();
        assert!(err.to_string().contains("use at least 6 s"), "{err}");
        let err = Settings::from_vars(vars(&[("HEALTH_HTTP_PORT", "8080"), ("HEALTH_HTTP_TIMEOUT_MS", "9000")])).unwrap_err();
        assert!(err.to_string().starts_with("environment variable `HEALTH_HTTP_TIMEOUT_MS`: one look may take 12.0 s"), "{err}");
        let err = Settings::from_vars(vars(&[("HEALTH_AWS_CALL_TIMEOUT_MS", "0")])).unwrap_err();
        assert!(err.to_string().contains("must be above 0"), "{err}");
        // The largest first poll that still fits a 30 s hook with the default 3 s calls: 20 − 3 − 6.
        assert!(Settings::from_vars(vars(&[("HEALTH_FIRST_POLL_SECONDS", "11"), ("HEALTH_MAX_POLL_SECONDS", "60")])).is_ok());
        assert!(Settings::from_vars(vars(&[("HEALTH_FIRST_POLL_SECONDS", "12"), ("HEALTH_MAX_POLL_SECONDS", "60")])).is_err());
    }

    #[test]
    fn the_bounds_themselves_are_allowed() {
        let s = Settings::from_vars(vars(&[
            ("HEALTH_FIRST_POLL_SECONDS", "7"),
            ("HEALTH_MAX_POLL_SECONDS", "7"),
            ("HEALTH_DEADLINE_MARGIN_SECONDS", "6"),
        ]))
        .unwrap();
        assert_eq!((s.first_poll, s.max_poll, s.deadline_margin), (Duration::from_secs(7), Duration::from_secs(7), Duration::from_secs(6)));
    }

    #[test]
    fn the_bootstrap_tag_is_configurable_and_a_blank_one_keeps_the_default() {
        assert_eq!(Settings::from_vars(vars(&[("HEALTH_BOOTSTRAP_TAG", "app:bootstrap")])).unwrap().bootstrap_tag, "app:bootstrap");
        assert_eq!(Settings::from_vars(vars(&[("HEALTH_BOOTSTRAP_TAG", " ")])).unwrap().bootstrap_tag, "bootstrap");
    }

    #[test]
    fn the_shortest_invocation_is_a_look_a_first_wait_and_the_margin() {
        let s = Settings { http: Some(HttpCheck { port: 80, path: "/".into(), timeout: Duration::from_secs(2) }), ..Settings::default() };
        assert_eq!(s.look_budget(), Duration::from_secs(5));
        assert_eq!(s.shortest_invocation(), Duration::from_secs(10 + 5 + 5));
    }

    #[test]
    fn hook_metadata_that_breaks_the_bounds_is_an_error() {
        let err = Settings::default().for_hook(Some(r#"{"http": {"port": 80, "timeoutMs": 15000}}"#)).unwrap_err();
        assert!(err.to_string().starts_with("NotificationMetadata `HEALTH_HTTP_TIMEOUT_MS`"), "{err}");
    }

    #[test]
    fn hook_metadata_overrides_the_defaults() {
        let s = Settings::default().for_hook(Some(r#"{"maxWaitSeconds": 120, "http": {"port": 9000}}"#)).unwrap();
        assert_eq!(s.max_wait, Duration::from_secs(120));
        assert_eq!(s.http.unwrap().path, "/health");
    }

    #[test]
    fn foreign_metadata_is_ignored_but_bad_json_of_ours_is_an_error() {
        assert_eq!(Settings::default().for_hook(Some("team=web")).unwrap(), Settings::default());
        let err = Settings::default().for_hook(Some(r#"{"maxWait": 5}"#)).unwrap_err();
        assert!(err.to_string().contains("unknown field `maxWait`"), "{err}");
    }

    #[test]
    fn going_into_the_warm_pool_checks_only_what_fits_before_the_app_serves() {
        let s = Settings::from_vars(vars(&[("HEALTH_HTTP_PORT", "8080"), ("HEALTH_REQUIRE_BOOTSTRAP_COMPLETE", "true")])).unwrap();
        let warm = s.for_transition(Transition::IntoWarmPool);
        assert!(!warm.check_targets && warm.http.is_none() && !warm.check_release);
        assert!(warm.require_bootstrap_complete, "the hook's own requirement carries over");
        assert_eq!(warm.max_wait, s.max_wait);
        for transition in [Transition::IntoGroup, Transition::FromWarmPool] {
            assert_eq!(s.for_transition(transition), s, "{transition:?}");
        }
        let root = s.for_transition(Transition::RootVolumeReplacement);
        assert!(!root.check_release && root.check_targets && root.http.is_some());
    }

    #[test]
    fn the_warm_pool_checks_and_the_release_check_are_configurable() {
        let s = Settings::from_vars(vars(&[
            ("HEALTH_CHECK_RELEASE", "false"),
            ("HEALTH_REQUIRE_BOOTSTRAP_COMPLETE", "true"),
            ("HEALTH_WARM_POOL_REQUIRE_BOOTSTRAP_COMPLETE", "false"),
            ("HEALTH_WARM_POOL_MAX_WAIT_SECONDS", "300"),
        ]))
        .unwrap();
        assert!(!s.check_release);
        let warm = s.for_transition(Transition::IntoWarmPool);
        assert!(!warm.require_bootstrap_complete && warm.max_wait == Duration::from_secs(300));
        assert!(Settings::default().check_release, "on unless switched off");
        let hook = Settings::default()
            .for_hook(Some(r#"{"requireBootstrapComplete": false, "checkRelease": false, "warmPool": {"requireBootstrapComplete": true, "maxWaitSeconds": 120}}"#))
            .unwrap();
        assert!(!hook.check_release && !hook.require_bootstrap_complete);
        let warm = hook.for_transition(Transition::IntoWarmPool);
        assert!(warm.require_bootstrap_complete && warm.max_wait == Duration::from_secs(120));
        let inherits = Settings::default().for_hook(Some(r#"{"maxWaitSeconds": 200, "requireBootstrapComplete": true}"#)).unwrap();
        let warm = inherits.for_transition(Transition::IntoWarmPool);
        assert!(warm.require_bootstrap_complete && warm.max_wait == Duration::from_secs(200), "unset warm keys keep the hook's");
        let err = Settings::default().for_hook(Some(r#"{"warmPool": {"http": {"port": 80}}}"#)).unwrap_err();
        assert!(err.to_string().contains("unknown field `http`"), "{err}");
    }

    #[test]
    fn the_calls_before_the_first_look_are_counted_for_a_recheck() {
        assert_eq!(Settings::default().calls_before_first_look(), 4, "hook, group, refresh, launch template version");
        assert_eq!(Settings { check_release: false, ..Settings::default() }.calls_before_first_look(), 2);
        assert_eq!(Settings { check_targets: false, ..Settings::default() }.calls_before_first_look(), 4);
        assert_eq!(Settings::default().for_transition(Transition::IntoWarmPool).calls_before_first_look(), 1, "the hook alone");
    }
}
