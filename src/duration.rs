//! The one duration grammar of the program: policy timeouts, `gavel demo --duration`, anything a
//! person writes as a length of time.
//!
//! Grammar: one or more `<digits><unit>` parts, no spaces, no sign, no fraction, units in
//! decreasing order and each at most once: `d` (days), `h`, `m` (minutes), `s`, `ms`.
//! `90s`, `10m`, `1h30m`, `2d`, `1m30s500ms` are durations; `1.5h`, `10 m`, `30m1h`, `5m5m`,
//! `10M`, `1w` are not. Each use sets its bounds (never zero, always a maximum), checked when the
//! text is parsed, so a value that passed cannot overflow later: [`deadline_after`] converts to
//! chrono with checked arithmetic only.
//!
//! Why not `humantime`: its grammar reads `10M` as ten months and `10m` as ten minutes, accepts
//! months and years of average length (30.44 and 365.25 days), fractions, and spaces inside a
//! number (`1 0m` is ten minutes). In a policy file, a one-letter slip must be an error at start,
//! not a deadline four orders of magnitude away.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

/// The smallest and largest duration a use accepts (both inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub min: Duration,
    pub max: Duration,
}

pub const DAY: u64 = 86_400;

/// A review rule's `timeout`: at least a second, at most 365 days.
pub const POLICY_TIMEOUT: Bounds = Bounds {
    min: Duration::from_secs(1),
    max: Duration::from_secs(365 * DAY),
};

/// A standing grant's length (`gavel grant --for`, the console): a second to seven days.
pub const GRANT_FOR: Bounds = Bounds {
    min: Duration::from_secs(1),
    max: Duration::from_secs(7 * DAY),
};

/// `gavel demo --headless --duration`: at least a second, at most a day.
pub const DEMO_RUN: Bounds = Bounds {
    min: Duration::from_secs(1),
    max: Duration::from_secs(DAY),
};

/// The window of `GET /v1/governance`: a minute to 31 days.
pub const FIGURE_WINDOW: Bounds = Bounds {
    min: Duration::from_secs(60),
    max: Duration::from_secs(31 * DAY),
};

/// `keep_actions`, how long action rows are kept: at least a day and an hour, since an
/// `Idempotency-Key` names its action's row for a day; at most a hundred years (no pruning, in
/// effect).
pub const KEEP_ACTIONS: Bounds = Bounds {
    min: Duration::from_secs(DAY + 3600),
    max: Duration::from_secs(36_500 * DAY),
};

/// Units, largest first; a duration names them in this order.
const UNITS: [(&str, u128); 5] = [
    ("d", DAY as u128 * 1000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1000),
    ("ms", 1),
];

const EXAMPLES: &str = "like \"90s\", \"10m\", \"1h30m\" or \"2d\" (units d, h, m, s, ms)";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("a duration must not be empty: write one {EXAMPLES}")]
    Empty,
    #[error("`{text}` is not a duration: write one {EXAMPLES}")]
    Syntax { text: String },
    #[error("`{text}`: unknown unit `{unit}`; units are d, h, m, s and ms (minutes are `m`)")]
    UnknownUnit { text: String, unit: String },
    #[error(
        "`{text}`: units go from the largest to the smallest, each at most once, e.g. \"1h30m\""
    )]
    UnitOrder { text: String },
    #[error("`{text}` is {} long; at least {} is needed", format(*.got), format(*.min))]
    TooShort {
        text: String,
        got: Duration,
        min: Duration,
    },
    #[error("`{text}` is too long; at most {} is allowed", format(*.max))]
    TooLong { text: String, max: Duration },
    #[error("{} after {at} is past the end of the calendar", format(*.duration))]
    OutOfRange {
        duration: Duration,
        at: DateTime<Utc>,
    },
}

/// Parses `text` in the grammar above and checks it against `bounds`.
pub fn parse(text: &str, bounds: Bounds) -> Result<Duration, DurationError> {
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    let syntax = || DurationError::Syntax {
        text: text.to_string(),
    };
    let too_long = || DurationError::TooLong {
        text: text.to_string(),
        max: bounds.max,
    };
    let mut total_ms: u128 = 0;
    // Index in UNITS of the last unit seen: the next one must come after it.
    let mut last: Option<usize> = None;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(syntax());
        }
        let (number, after) = rest.split_at(digits);
        let letters = after.bytes().take_while(u8::is_ascii_alphabetic).count();
        if letters == 0 {
            return Err(syntax());
        }
        let (unit, after) = after.split_at(letters);
        let index = UNITS
            .iter()
            .position(|(name, _)| *name == unit)
            .ok_or_else(|| DurationError::UnknownUnit {
                text: text.to_string(),
                unit: unit.to_string(),
            })?;
        if last.is_some_and(|l| index <= l) {
            return Err(DurationError::UnitOrder {
                text: text.to_string(),
            });
        }
        last = Some(index);
        // Any number past the maximum is refused, however many digits it has.
        let n: u128 = number.parse().map_err(|_| too_long())?;
        total_ms = n
            .checked_mul(UNITS[index].1)
            .and_then(|ms| total_ms.checked_add(ms))
            .ok_or_else(too_long)?;
        if total_ms > bounds.max.as_millis() {
            return Err(too_long());
        }
        rest = after;
    }
    // total_ms <= bounds.max in milliseconds, which fits a u64 for any Bounds this module has.
    let got = Duration::from_millis(u64::try_from(total_ms).map_err(|_| too_long())?);
    if got < bounds.min {
        return Err(DurationError::TooShort {
            text: text.to_string(),
            got,
            min: bounds.min,
        });
    }
    Ok(got)
}

/// The canonical text of a duration in the grammar above (`1h30m`, `500ms`, `0s`); sub-millisecond
/// parts are dropped. `parse(&format(d), ..)` gives `d` back for any parsed `d`.
pub fn format(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (name, size) in UNITS {
        let n = ms / size;
        if n > 0 {
            out += &format!("{n}{name}");
            ms -= n * size;
        }
    }
    out
}

/// `d` as a chrono delta, checked.
pub fn to_chrono(d: Duration) -> Option<TimeDelta> {
    TimeDelta::from_std(d).ok()
}

/// `at + d`, checked: the one way the program turns a duration into a deadline.
pub fn deadline_after(at: DateTime<Utc>, d: Duration) -> Result<DateTime<Utc>, DurationError> {
    to_chrono(d)
        .and_then(|delta| at.checked_add_signed(delta))
        .ok_or(DurationError::OutOfRange { duration: d, at })
}

#[cfg(test)]
mod tests {
    use super::*;

    const WIDE: Bounds = Bounds {
        min: Duration::from_millis(1),
        max: Duration::from_secs(365 * DAY),
    };

    #[test]
    fn every_accepted_form() {
        let cases: &[(&str, u64)] = &[
            ("90s", 90_000),
            ("1s", 1000),
            ("10m", 600_000),
            ("1h", 3_600_000),
            ("1h30m", 5_400_000),
            ("2d", 2 * DAY * 1000),
            ("1d2h3m4s5ms", ((DAY + 2 * 3600 + 3 * 60 + 4) * 1000) + 5),
            ("500ms", 500),
            ("1m30s500ms", 90_500),
            ("0001m", 60_000),
            ("365d", 365 * DAY * 1000),
            ("364d23h59m59s999ms", 365 * DAY * 1000 - 1),
        ];
        for (text, ms) in cases {
            let d = parse(text, WIDE).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(d, Duration::from_millis(*ms), "{text}");
            assert_eq!(parse(&format(d), WIDE), Ok(d), "{text} round trip");
        }
        assert_eq!(format(Duration::from_millis(5_400_000)), "1h30m");
        assert_eq!(format(Duration::from_millis(90_500)), "1m30s500ms");
    }

    #[test]
    fn refused_forms_say_why() {
        for text in [
            "", "10", "m", "5x", "1.5h", "10 m", " 10m", "10m ", "-5m", "+5m", "1h-30m", "10M",
            "1w", "1y", "1 0m", "10min", "٣m", "１m",
        ] {
            assert!(parse(text, WIDE).is_err(), "{text:?} accepted");
        }
        assert!(matches!(
            parse("30m1h", WIDE),
            Err(DurationError::UnitOrder { .. })
        ));
        assert!(matches!(
            parse("5m5m", WIDE),
            Err(DurationError::UnitOrder { .. })
        ));
        assert!(matches!(
            parse("10M", WIDE),
            Err(DurationError::UnknownUnit { .. })
        ));
    }

    #[test]
    fn bounds_hold_and_overflow_is_refused_not_wrapped() {
        for text in ["0s", "0d0h0m0s", "999ms"] {
            assert!(
                matches!(
                    parse(text, POLICY_TIMEOUT),
                    Err(DurationError::TooShort { .. })
                ),
                "{text}"
            );
        }
        for text in [
            "366d",
            "365d1ms",
            "100000000d",
            "18446744073709551615s",
            "18446744073709551616d",
            "340282366920938463463374607431768211456d",
            "99999999999999999999999999999999999999999999999999d",
        ] {
            assert!(
                matches!(
                    parse(text, POLICY_TIMEOUT),
                    Err(DurationError::TooLong { .. })
                ),
                "{text}"
            );
        }
        assert_eq!(
            parse("365d", POLICY_TIMEOUT),
            Ok(Duration::from_secs(365 * DAY))
        );
        assert_eq!(parse("1s", POLICY_TIMEOUT), Ok(Duration::from_secs(1)));
        assert!(parse("1d1s", DEMO_RUN).is_err());
        assert!(parse("500ms", DEMO_RUN).is_err());
    }

    #[test]
    fn deadlines_are_checked() {
        let now = Utc::now();
        let d = parse("365d", POLICY_TIMEOUT).unwrap();
        assert_eq!(deadline_after(now, d).unwrap() - now, TimeDelta::days(365));
        assert!(deadline_after(DateTime::<Utc>::MAX_UTC, Duration::from_secs(1)).is_err());
        assert!(deadline_after(now, Duration::MAX).is_err());
    }
}
