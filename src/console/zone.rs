//! The viewer's time zone: every time the console shows is in it. Resolved once at start from
//! `TZ` (or the system's setting) and kept in the state, so views stay pure functions of the
//! state and tests pick a zone without touching the process environment.

use chrono::{DateTime, Local, NaiveDateTime, Utc};

use crate::protocol::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Zone {
    /// The default of a bare `State`, so snapshots do not depend on the machine's zone.
    #[default]
    Utc,
    /// An IANA zone (`Europe/Berlin`), from `TZ` or the system's setting.
    Named(chrono_tz::Tz),
    /// What the C library makes of `TZ` when it is no IANA name (a POSIX rule such as
    /// `CET-1CEST,M3.5.0,M10.5.0/3`): chrono's `Local` reads it the same way.
    Local,
}

impl Zone {
    /// The zone this process runs in: `TZ` when set, else the system's zone.
    pub fn from_env() -> Zone {
        let system = || iana_time_zone::get_timezone().ok();
        Zone::resolve(std::env::var("TZ").ok().as_deref(), system)
    }

    /// `TZ` as POSIX reads it: empty means UTC, a leading `:` is dropped, a path into a zoneinfo
    /// directory names the zone after it. Unset, the system's zone name; failing all, `Local`.
    pub fn resolve(tz: Option<&str>, system: impl FnOnce() -> Option<String>) -> Zone {
        match tz {
            Some(v) => {
                let v = v.trim().trim_start_matches(':');
                if v.is_empty() {
                    return Zone::Utc;
                }
                let name = v.rsplit_once("zoneinfo/").map_or(v, |(_, n)| n);
                name.parse().map_or(Zone::Local, Zone::Named)
            }
            None => system()
                .and_then(|n| n.parse().ok())
                .map_or(Zone::Local, Zone::Named),
        }
    }

    /// Wall-clock time in this zone, and the zone's abbreviation then (`CET`, `CEST`, `UTC`).
    pub fn local(&self, t: Timestamp) -> (NaiveDateTime, String) {
        match self {
            Zone::Utc => (t.naive_utc(), "UTC".into()),
            Zone::Named(tz) => {
                let l = t.with_timezone(tz);
                (l.naive_local(), l.format("%Z").to_string())
            }
            Zone::Local => {
                let l: DateTime<Local> = t.with_timezone(&Local);
                (l.naive_local(), l.format("%:z").to_string())
            }
        }
    }

    /// The wall-clock time of `t` in the one format the console uses: `HH:MM:SS`, with the date
    /// `YYYY-MM-DD ` before it when `t` is not on the same day as `now` (both in this zone).
    pub fn when(&self, t: Timestamp, now: Timestamp) -> String {
        let (l, _) = self.local(t);
        if l.date() == self.local(now).0.date() {
            l.format("%H:%M:%S").to_string()
        } else {
            l.format("%Y-%m-%d %H:%M:%S").to_string()
        }
    }

    /// [`Zone::when`] and the zone's abbreviation, for a time that stands on its own.
    pub fn when_zoned(&self, t: Timestamp, now: Timestamp) -> String {
        format!("{} {}", self.when(t, now), self.local(t).1)
    }

    /// An RFC 3339 time as it arrived in a signed body, shown like every other time; a string
    /// that does not parse is shown as it is (the caller makes it inert).
    pub fn when_text(&self, text: &str, now: Timestamp) -> Option<String> {
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| self.when(t.with_timezone(&Utc), now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> Timestamp {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 5).unwrap()
    }

    #[test]
    fn times_are_in_the_given_zone_in_one_format() {
        let berlin = Zone::Named(chrono_tz::Europe::Berlin);
        let now = at(2026, 3, 14, 9, 30);
        assert_eq!(berlin.when(at(2026, 3, 14, 9, 29), now), "10:29:05");
        assert_eq!(
            berlin.when_zoned(at(2026, 3, 14, 9, 29), now),
            "10:29:05 CET"
        );
        // Summer time, and another day: the date comes first.
        let summer = at(2026, 7, 1, 22, 15);
        assert_eq!(berlin.when_zoned(summer, now), "2026-07-02 00:15:05 CEST");
        // The day is the zone's day: 23:30 UTC is tomorrow in Berlin, today in New York.
        let late = at(2026, 3, 14, 23, 30);
        assert_eq!(berlin.when(late, now), "2026-03-15 00:30:05");
        let ny = Zone::Named(chrono_tz::America::New_York);
        assert_eq!(ny.when(late, now), "19:30:05");
        assert_eq!(Zone::Utc.when_zoned(late, now), "23:30:05 UTC");
    }

    #[test]
    fn tz_is_read_as_posix_does() {
        let none = || None;
        let berlin = Zone::Named(chrono_tz::Europe::Berlin);
        assert_eq!(Zone::resolve(Some("Europe/Berlin"), none), berlin);
        assert_eq!(Zone::resolve(Some(":Europe/Berlin"), none), berlin);
        assert_eq!(
            Zone::resolve(Some("/usr/share/zoneinfo/Europe/Berlin"), none),
            berlin
        );
        assert_eq!(Zone::resolve(Some(""), none), Zone::Utc);
        assert_eq!(
            Zone::resolve(Some("CET-1CEST,M3.5.0,M10.5.0/3"), none),
            Zone::Local
        );
        let system = || Some("Asia/Tokyo".to_string());
        assert_eq!(
            Zone::resolve(None, system),
            Zone::Named(chrono_tz::Asia::Tokyo)
        );
        assert_eq!(Zone::resolve(None, none), Zone::Local);
    }

    #[test]
    fn signed_times_are_shown_like_the_rest() {
        let berlin = Zone::Named(chrono_tz::Europe::Berlin);
        let now = at(2026, 3, 14, 9, 30);
        assert_eq!(
            berlin.when_text("2026-03-14T09:29:30Z", now).as_deref(),
            Some("10:29:30")
        );
        assert_eq!(berlin.when_text("yesterday", now), None);
    }
}
