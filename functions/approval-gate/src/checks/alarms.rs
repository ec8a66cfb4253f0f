//! alarms: none of the listed CloudWatch alarms in ALARM (nor, unless allowed, INSUFFICIENT_DATA).

use super::Check;

pub const NAME: &str = "alarms";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alarm {
    pub name: String,
    pub state: String,
    /// RFC 3339.
    pub since: Option<String>,
    pub reason: Option<String>,
}

pub fn check(listed: &[String], found: &[Alarm], insufficient_data_passes: bool) -> Check {
    let mut bad = Vec::new();
    for name in listed {
        match found.iter().find(|a| &a.name == name) {
            None => bad.push(format!("alarm {name} does not exist")),
            Some(a) if a.state == "OK" => {}
            Some(a) if a.state == "INSUFFICIENT_DATA" && insufficient_data_passes => {}
            Some(a) => {
                let since = a.since.as_deref().map(|s| format!(" since {}", short_time(s))).unwrap_or_default();
                let reason = a.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
                bad.push(format!("alarm {} is {}{since}{reason}", a.name, a.state));
            }
        }
    }
    if bad.is_empty() {
        return Check::pass(NAME, format!("{} alarm{} OK", listed.len(), if listed.len() == 1 { "" } else { "s" }));
    }
    Check::fail(NAME, bad.join("; "))
}

/// "2026-11-26T10:42:07.123Z" → "2026-11-26 10:42Z": enough to find it in a graph.
fn short_time(rfc3339: &str) -> String {
    match (rfc3339.get(..10), rfc3339.get(11..16)) {
        (Some(date), Some(time)) => format!("{date} {time}Z"),
        _ => rfc3339.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alarm(name: &str, state: &str) -> Alarm {
        Alarm {
            name: name.into(),
            state: state.into(),
            since: Some("2026-11-26T10:42:07.123Z".into()),
            reason: Some("Threshold Crossed: 3 datapoints > 5.0".into()),
        }
    }

    #[test]
    fn an_alarm_in_alarm_is_reported_with_since_and_reason() {
        let c = check(&["5xx".into(), "latency".into()], &[alarm("5xx", "ALARM"), alarm("latency", "OK")], false);
        assert!(!c.passed);
        assert_eq!(c.evidence, "alarm 5xx is ALARM since 2026-11-26 10:42Z: Threshold Crossed: 3 datapoints > 5.0");
    }

    #[test]
    fn insufficient_data_fails_unless_allowed_and_a_missing_alarm_always_fails() {
        let found = [alarm("5xx", "INSUFFICIENT_DATA")];
        assert!(!check(&["5xx".into()], &found, false).passed);
        assert!(check(&["5xx".into()], &found, true).passed);
        assert_eq!(check(&["gone".into()], &found, true).evidence, "alarm gone does not exist");
    }

    #[test]
    fn all_ok_passes_counting_them() {
        assert_eq!(check(&["a".into(), "b".into()], &[alarm("a", "OK"), alarm("b", "OK")], false), Check::pass(NAME, "2 alarms OK"));
        assert_eq!(check(&["a".into()], &[alarm("a", "OK")], false).evidence, "1 alarm OK");
    }
}
