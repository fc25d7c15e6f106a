//! The filters of `GET /v1/history`: resolved escalations by outcome, decider, agent and time of
//! resolution, newest first, paged with a cursor so that a search reaches every one ever stored.

use serde::Deserialize;

use crate::protocol::EscalationState;

/// Most escalations one page answers, and how many when the query does not say.
pub const MAX_HISTORY_LIMIT: u32 = 200;
pub const DEFAULT_HISTORY_LIMIT: u32 = 50;

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// `approved`, `denied`, `expired` or `cancelled`.
    pub outcome: Option<EscalationState>,
    /// Someone who cast a vote on it (either way).
    pub decider: Option<String>,
    pub agent: Option<String>,
    /// Resolved at or after / at or before (RFC 3339).
    pub since: Option<String>,
    pub until: Option<String>,
    /// The `next` cursor of the previous page.
    pub before: Option<String>,
    pub limit: Option<u32>,
}

/// Where the previous page ended: its last escalation's stored resolution time and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub resolved_at: String,
    pub id: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        format!("{}~{}", self.resolved_at, self.id)
    }
    pub fn decode(text: &str) -> Option<Cursor> {
        let (at, id) = text.split_once('~')?;
        chrono::DateTime::parse_from_rfc3339(at).ok()?;
        (!id.is_empty()).then(|| Cursor {
            resolved_at: at.to_string(),
            id: id.to_string(),
        })
    }
}

impl HistoryQuery {
    pub fn limit(&self) -> u32 {
        self.limit
            .unwrap_or(DEFAULT_HISTORY_LIMIT)
            .clamp(1, MAX_HISTORY_LIMIT)
    }

    /// Checks the query and puts its times in the form resolution times are stored in (UTC,
    /// `to_rfc3339`), so that comparing the texts compares the times.
    pub fn normalise(&mut self) -> Result<(), String> {
        if self.outcome == Some(EscalationState::Pending) {
            return Err("`outcome` is one of approved, denied, expired, cancelled: history holds resolved escalations".into());
        }
        for t in [&mut self.since, &mut self.until].into_iter().flatten() {
            let parsed = chrono::DateTime::parse_from_rfc3339(t)
                .map_err(|_| format!("`{t}` is not an RFC 3339 time"))?;
            *t = parsed.with_timezone(&chrono::Utc).to_rfc3339();
        }
        if let Some(b) = &self.before {
            if Cursor::decode(b).is_none() {
                return Err("`before` is not a cursor this server gave out (use `next`)".into());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_bad_ones_are_refused() {
        let c = Cursor {
            resolved_at: "2026-01-02T03:04:05.123+00:00".into(),
            id: "esc_1".into(),
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode("yesterday~esc_1"), None);
        assert_eq!(Cursor::decode("2026-01-02T03:04:05+00:00~"), None);
        let mut q = HistoryQuery {
            since: Some("2026-01-02T05:04:05+02:00".into()),
            ..Default::default()
        };
        q.normalise().unwrap();
        assert_eq!(q.since.as_deref(), Some("2026-01-02T03:04:05+00:00"));
        q.outcome = Some(EscalationState::Pending);
        assert!(q.normalise().is_err());
    }
}
