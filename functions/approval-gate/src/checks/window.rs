//! The deployment window: weekly opening hours in a named IANA time zone, minus freezes.
//!
//! Local times are the zone's wall clock, so "Mon–Thu 09:00–16:00 Europe/London" opens at
//! 09:00 GMT in winter and 09:00 BST in summer. A window whose end is not after its start
//! crosses midnight (Fri 22:00–02:00 runs into Saturday). A local time that does not exist
//! (the hour skipped when clocks go forward) is read as the first instant after the gap, and
//! one that happens twice as its first occurrence: jiff's "compatible" rule, as RFC 5545 does.

use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::Deserialize;

/// How far ahead the next opening is looked for.
const LOOKAHEAD_DAYS: i32 = 400;

#[derive(Debug, Clone)]
pub struct Window {
    pub zone_name: String,
    zone: TimeZone,
    /// Empty: open at any time a freeze does not cover.
    weekly: Vec<Weekly>,
    freezes: Vec<Freeze>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Weekly {
    days: Vec<Weekday>,
    from: Time,
    to: Time,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Freeze {
    pub from: DateTime,
    pub to: DateTime,
    pub reason: Option<String>,
}

/// As written in settings or `UserParameters`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WindowSpec {
    pub time_zone: String,
    #[serde(default)]
    pub weekly: Vec<WeeklySpec>,
    #[serde(default)]
    pub freezes: Vec<FreezeSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeeklySpec {
    pub days: Vec<String>,
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreezeSpec {
    pub from: String,
    pub to: String,
    #[serde(default)]
    pub reason: Option<String>,
}

/// Whether a change may go out now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WindowState {
    Open,
    Closed { why: String, opens_at: Option<Timestamp> },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error(
        "time zone `{0}` is an abbreviation, and abbreviations are ambiguous (CST is US Central, China and Cuba) and know no daylight saving; use an IANA name such as Europe/London or America/Chicago"
    )]
    Abbreviation(String),
    #[error("time zone `{0}` is not in the IANA time zone database (e.g. Europe/London, America/New_York, UTC)")]
    UnknownZone(String),
    #[error("`{field}`: `{value}` is not {expected}")]
    Bad { field: String, value: String, expected: &'static str },
    #[error("freezes[{0}]: `to` must be after `from`")]
    EmptyFreeze(usize),
}

impl WindowSpec {
    pub fn build(&self) -> Result<Window, WindowError> {
        let name = self.time_zone.trim();
        // Only Area/Location names and UTC: the database also carries legacy names such as
        // EST or CST6CDT, which are exactly the ambiguity a named zone is meant to avoid.
        if !(name.contains('/') || name == "UTC") {
            return Err(WindowError::Abbreviation(name.to_owned()));
        }
        let zone = TimeZone::get(name).map_err(|_| WindowError::UnknownZone(name.to_owned()))?;
        let weekly = self
            .weekly
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let days = w
                    .days
                    .iter()
                    .map(|d| weekday(d).ok_or_else(|| bad(format!("weekly[{i}].days"), d, "a day (Mon … Sun)")))
                    .collect::<Result<_, _>>()?;
                let from = w.from.parse::<Time>().map_err(|_| bad(format!("weekly[{i}].from"), &w.from, "a time (HH:MM)"))?;
                let to = w.to.parse::<Time>().map_err(|_| bad(format!("weekly[{i}].to"), &w.to, "a time (HH:MM)"))?;
                Ok(Weekly { days, from, to })
            })
            .collect::<Result<_, WindowError>>()?;
        let freezes = self
            .freezes
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let from = f
                    .from
                    .parse::<DateTime>()
                    .map_err(|_| bad(format!("freezes[{i}].from"), &f.from, "a local date-time (2026-12-20T00:00)"))?;
                let to =
                    f.to.parse::<DateTime>().map_err(|_| bad(format!("freezes[{i}].to"), &f.to, "a local date-time (2027-01-04T00:00)"))?;
                if to <= from {
                    return Err(WindowError::EmptyFreeze(i));
                }
                Ok(Freeze { from, to, reason: f.reason.clone() })
            })
            .collect::<Result<_, WindowError>>()?;
        Ok(Window { zone_name: name.to_owned(), zone, weekly, freezes })
    }
}

fn bad(field: String, value: &str, expected: &'static str) -> WindowError {
    WindowError::Bad { field, value: value.to_owned(), expected }
}

fn weekday(name: &str) -> Option<Weekday> {
    Some(match name.trim().to_ascii_lowercase().get(..3)? {
        "mon" => Weekday::Monday,
        "tue" => Weekday::Tuesday,
        "wed" => Weekday::Wednesday,
        "thu" => Weekday::Thursday,
        "fri" => Weekday::Friday,
        "sat" => Weekday::Saturday,
        "sun" => Weekday::Sunday,
        _ => return None,
    })
}

impl Window {
    pub fn state_at(&self, now: Timestamp) -> WindowState {
        match self.closed_because(now) {
            None => WindowState::Open,
            Some(why) => WindowState::Closed { why, opens_at: self.next_opening(now) },
        }
    }

    fn closed_because(&self, now: Timestamp) -> Option<String> {
        if let Some(freeze) = self.freezes.iter().find(|f| self.instant(f.from) <= now && now < self.instant(f.to)) {
            let reason = freeze.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default();
            return Some(format!("a freeze{reason} runs {} to {} {}", freeze.from, freeze.to, self.zone_name));
        }
        if self.weekly.is_empty() || self.weekly.iter().any(|w| self.within(w, now)) {
            return None;
        }
        let local = now.to_zoned_datetime(self.zone.clone());
        Some(format!("{} {} is outside the weekly windows", local.strftime("%a %H:%M"), self.zone_name))
    }

    fn within(&self, w: &Weekly, now: Timestamp) -> bool {
        // Compare instants, not wall-clock readings: each opening and closing is placed on the
        // timeline with the zone's rules for that day, so DST weeks and skipped hours are exact.
        let today = now.to_zoned_datetime(self.zone.clone()).date();
        [today.yesterday().ok(), Some(today)].into_iter().flatten().any(|day| {
            w.days.contains(&day.weekday()) && {
                let (open, close) = self.opening(w, day);
                open <= now && now < close
            }
        })
    }

    /// The instants a weekly window opens and closes when it starts on `day`.
    fn opening(&self, w: &Weekly, day: Date) -> (Timestamp, Timestamp) {
        let close_day = if w.to <= w.from { day.tomorrow().unwrap_or(day) } else { day };
        (self.instant(day.to_datetime(w.from)), self.instant(close_day.to_datetime(w.to)))
    }

    fn instant(&self, local: DateTime) -> Timestamp {
        self.zone.to_timestamp(local).unwrap_or(Timestamp::MAX)
    }

    /// The first instant from `now` at which the window is open, if one comes within a year.
    pub fn next_opening(&self, now: Timestamp) -> Option<Timestamp> {
        let today = now.to_zoned_datetime(self.zone.clone()).date();
        let mut candidates: Vec<Timestamp> = self.freezes.iter().map(|f| self.instant(f.to)).collect();
        let mut day = today.yesterday().ok()?;
        for _ in 0..LOOKAHEAD_DAYS {
            for w in self.weekly.iter().filter(|w| w.days.contains(&day.weekday())) {
                candidates.push(self.opening(w, day).0);
            }
            day = day.tomorrow().ok()?;
        }
        candidates.retain(|t| *t >= now);
        candidates.sort();
        candidates.into_iter().find(|t| self.closed_because(*t).is_none())
    }

    /// `at` in this window's zone, for messages ("2026-11-30 09:00 Europe/London").
    pub fn local(&self, at: Timestamp) -> String {
        let z = at.to_zoned_datetime(self.zone.clone());
        format!("{} {}", z.strftime("%a %Y-%m-%d %H:%M"), self.zone_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(zone: &str, weekly: &[(&[&str], &str, &str)], freezes: &[(&str, &str)]) -> Window {
        WindowSpec {
            time_zone: zone.into(),
            weekly: weekly
                .iter()
                .map(|(d, f, t)| WeeklySpec { days: d.iter().map(|s| s.to_string()).collect(), from: f.to_string(), to: t.to_string() })
                .collect(),
            freezes: freezes
                .iter()
                .map(|(f, t)| FreezeSpec { from: f.to_string(), to: t.to_string(), reason: Some("release freeze".into()) })
                .collect(),
        }
        .build()
        .unwrap()
    }

    fn at(ts: &str) -> Timestamp {
        ts.parse().unwrap()
    }

    fn open(w: &Window, ts: &str) -> bool {
        w.state_at(at(ts)) == WindowState::Open
    }

    const WEEKDAYS: &[&str] = &["Mon", "Tue", "Wed", "Thu"];

    #[test]
    fn london_office_hours_follow_the_wall_clock_across_the_march_dst_change() {
        let w = window("Europe/London", &[(WEEKDAYS, "09:00", "16:00")], &[]);
        // Thu 26 Mar 2026 is GMT (UTC+0); clocks go forward Sun 29 Mar; Mon 30 Mar is BST (UTC+1).
        assert!(open(&w, "2026-03-26T09:00:00Z") && !open(&w, "2026-03-26T08:59:59Z"));
        assert!(open(&w, "2026-03-30T08:00:00Z"), "09:00 BST is 08:00 UTC");
        assert!(!open(&w, "2026-03-30T07:59:59Z"));
        assert!(!open(&w, "2026-03-30T15:00:00Z"), "16:00 BST closes at 15:00 UTC");
        let WindowState::Closed { opens_at, why } = w.state_at(at("2026-03-27T12:00:00Z")) else { panic!() };
        assert!(why.contains("Fri 12:00 Europe/London is outside the weekly windows"), "{why}");
        assert_eq!(opens_at, Some(at("2026-03-30T08:00:00Z")), "Monday 09:00 BST, after the weekend's change");
    }

    #[test]
    fn new_york_hours_move_with_the_november_change() {
        let w = window("America/New_York", &[(&["Mon", "Tue", "Wed", "Thu", "Fri"], "09:00", "17:00")], &[]);
        // EDT (UTC−4) until Sun 1 Nov 2026, then EST (UTC−5).
        assert!(open(&w, "2026-10-30T13:00:00Z") && !open(&w, "2026-10-30T12:59:59Z"));
        assert!(open(&w, "2026-11-02T14:00:00Z") && !open(&w, "2026-11-02T13:59:59Z"));
    }

    #[test]
    fn a_window_crossing_midnight_belongs_to_the_day_it_starts() {
        let w = window("UTC", &[(&["Fri"], "22:00", "02:00")], &[]);
        assert!(open(&w, "2026-11-27T23:00:00Z"), "Friday night");
        assert!(open(&w, "2026-11-28T01:59:00Z"), "still Friday's window on Saturday morning");
        assert!(!open(&w, "2026-11-28T02:00:00Z"));
        assert!(!open(&w, "2026-11-26T23:00:00Z"), "Thursday night is not Friday's");
        assert_eq!(w.next_opening(at("2026-11-28T03:00:00Z")), Some(at("2026-12-04T22:00:00Z")));
    }

    #[test]
    fn a_freeze_closes_an_open_window_and_ends_at_its_local_time() {
        let w = window("Europe/London", &[(WEEKDAYS, "09:00", "16:00")], &[("2026-12-21T00:00", "2027-01-05T00:00")]);
        let WindowState::Closed { why, opens_at } = w.state_at(at("2026-12-22T10:00:00Z")) else { panic!() };
        assert!(why.contains("a freeze (release freeze) runs 2026-12-21T00:00:00 to 2027-01-05T00:00:00 Europe/London"), "{why}");
        assert_eq!(opens_at, Some(at("2027-01-05T09:00:00Z")), "across the year end, at the first window after the freeze");
        assert!(open(&w, "2026-12-17T10:00:00Z"));
    }

    #[test]
    fn a_freeze_across_midnight_ends_mid_window_and_the_window_opens_then() {
        let w = window("UTC", &[(WEEKDAYS, "09:00", "16:00")], &[("2026-11-30T22:00", "2026-12-01T11:30")]);
        assert!(!open(&w, "2026-12-01T10:00:00Z"));
        assert_eq!(w.next_opening(at("2026-12-01T10:00:00Z")), Some(at("2026-12-01T11:30:00Z")));
    }

    #[test]
    fn a_window_opening_in_the_skipped_hour_opens_when_the_clock_comes_back_to_that_time() {
        // Sun 29 Mar 2026 01:00 GMT jumps to 02:00 BST: 01:30 does not exist that day.
        let w = window("Europe/London", &[(&["Sun"], "01:30", "03:00")], &[]);
        // 01:30 is read as 02:30 BST (01:30 UTC), the same distance past the gap; 03:00 BST is 02:00 UTC.
        assert!(!open(&w, "2026-03-29T01:00:00Z"), "02:00 BST: the skipped 01:30 has not come round yet");
        assert!(open(&w, "2026-03-29T01:30:00Z") && !open(&w, "2026-03-29T02:00:00Z"));
    }

    #[test]
    fn abbreviations_and_unknown_zones_are_refused_by_name() {
        let spec = |zone: &str| {
            WindowSpec { time_zone: zone.into(), weekly: vec![], freezes: vec![] }.build().map(|_| ()).unwrap_err().to_string()
        };
        assert!(spec("CST").contains("`CST` is an abbreviation"), "{}", spec("CST"));
        assert!(spec("EST").contains("abbreviation"));
        assert!(spec("Europe/Atlantis").contains("not in the IANA time zone database"));
        assert!(WindowSpec { time_zone: "UTC".into(), weekly: vec![], freezes: vec![] }.build().is_ok());
    }

    #[test]
    fn bad_days_times_and_empty_freezes_name_the_field() {
        let bad = WindowSpec {
            time_zone: "UTC".into(),
            weekly: vec![WeeklySpec { days: vec!["Funday".into()], from: "09:00".into(), to: "17:00".into() }],
            freezes: vec![],
        };
        assert!(bad.build().unwrap_err().to_string().contains("weekly[0].days"));
        let bad = WindowSpec {
            time_zone: "UTC".into(),
            weekly: vec![WeeklySpec { days: vec!["Mon".into()], from: "9am".into(), to: "17:00".into() }],
            freezes: vec![],
        };
        assert!(bad.build().unwrap_err().to_string().contains("weekly[0].from"));
        let bad = WindowSpec {
            time_zone: "UTC".into(),
            weekly: vec![],
            freezes: vec![FreezeSpec { from: "2026-12-02T00:00".into(), to: "2026-12-01T00:00".into(), reason: None }],
        };
        assert_eq!(bad.build().unwrap_err(), WindowError::EmptyFreeze(0));
    }

    #[test]
    fn every_day_is_read_by_its_name_or_its_first_three_letters() {
        let names = ["Mon", "tuesday", "WED", "Thursday", "fri", "Saturday", "sun"];
        let days: Vec<Weekday> = names.iter().map(|n| weekday(n).unwrap()).collect();
        use Weekday::*;
        assert_eq!(days, [Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Sunday]);
        assert_eq!(weekday("Mo"), None);
        let weekend = window("UTC", &[(&["Sat", "Sun"], "10:00", "12:00")], &[]);
        assert!(open(&weekend, "2026-11-28T11:00:00Z") && open(&weekend, "2026-11-29T11:00:00Z"));
    }

    #[test]
    fn without_weekly_windows_only_freezes_close_it() {
        let w = window("UTC", &[], &[("2026-12-24T00:00", "2026-12-27T00:00")]);
        assert!(open(&w, "2026-11-29T03:00:00Z") && !open(&w, "2026-12-25T12:00:00Z"));
        assert_eq!(w.next_opening(at("2026-12-25T12:00:00Z")), Some(at("2026-12-27T00:00:00Z")));
        assert_eq!(w.local(at("2026-12-27T00:00:00Z")), "Sun 2026-12-27 00:00 UTC");
    }
}
