//! A form of filter fields asked of the server: the Audit view's query (agent, kind, since,
//! until) and the History view's server search (outcome, decider, agent, since, until). Tab or
//! ↑/↓ moves between fields, Enter runs it. Part of `update`.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use crossterm::event::{KeyCode, KeyEvent};

use crate::protocol::Timestamp;

use super::text_field::TextField;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormKind {
    Audit,
    History,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FormField {
    pub name: &'static str,
    pub hint: &'static str,
    pub value: TextField,
}

#[derive(Debug, Clone, PartialEq)]
pub struct QueryForm {
    pub kind: FormKind,
    pub fields: Vec<FormField>,
    pub focus: usize,
    pub error: Option<String>,
}

/// What a time field accepts, for the hints.
pub const WHEN_HINT: &str = "RFC 3339, a date (2026-03-14) or a while ago (90m, 2h, 7d)";

impl QueryForm {
    pub fn new(kind: FormKind, fields: &[(&'static str, &'static str, &str)]) -> QueryForm {
        QueryForm {
            kind,
            fields: fields
                .iter()
                .map(|(name, hint, value)| FormField {
                    name,
                    hint,
                    value: TextField::from(*value),
                })
                .collect(),
            focus: 0,
            error: None,
        }
    }

    /// The trimmed value of field `name` (empty when absent).
    pub fn value(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.value.trim())
            .unwrap_or("")
    }

    pub fn focused_mut(&mut self) -> &mut TextField {
        let i = self.focus.min(self.fields.len().saturating_sub(1));
        &mut self.fields[i].value
    }

    /// A key in the form other than Enter, Esc and the quit key.
    pub fn edit(&mut self, k: &KeyEvent) {
        self.error = None;
        let n = self.fields.len().max(1);
        match k.code {
            KeyCode::Tab | KeyCode::Down => self.focus = (self.focus + 1) % n,
            KeyCode::BackTab | KeyCode::Up => self.focus = (self.focus + n - 1) % n,
            _ => {
                self.focused_mut().key(k, crate::protocol::MAX_TEXT_LEN);
            }
        }
    }
}

/// A time typed into a filter: empty is none; RFC 3339; a date (midnight UTC); or how long ago
/// (`90m`, `2h`, `7d`).
pub fn parse_when(text: &str, now: Timestamp) -> Result<Option<Timestamp>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).map(|t| t.and_utc()));
    }
    let last = text.char_indices().last().map_or(0, |(i, _)| i);
    let (num, unit) = text.split_at(last);
    let ago = num
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .and_then(|n| match unit {
            "m" => Duration::try_minutes(n),
            "h" => Duration::try_hours(n),
            "d" => Duration::try_days(n),
            _ => None,
        });
    match ago {
        Some(d) => Ok(Some(now - d)),
        None => Err(format!(
            "`{}` is not a time: {WHEN_HINT}",
            crate::protocol::inert(text)
        )),
    }
}

/// A time as sent to the server.
pub fn wire_time(t: Timestamp) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_dates_or_a_while_ago() {
        let now: Timestamp = "2026-03-14T09:30:00Z".parse().unwrap();
        assert_eq!(parse_when("", now), Ok(None));
        assert_eq!(
            parse_when("2h", now).unwrap().unwrap().to_rfc3339(),
            "2026-03-14T07:30:00+00:00"
        );
        assert_eq!(
            parse_when("2026-03-01", now).unwrap().unwrap().to_rfc3339(),
            "2026-03-01T00:00:00+00:00"
        );
        assert!(parse_when("yesterday", now).is_err());
        assert!(parse_when("-2h", now).is_err());
        assert!(parse_when("é", now).is_err());
    }
}
