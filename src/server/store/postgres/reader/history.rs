//! History search: resolved escalations filtered in SQL (outcome, time, agent, decider), newest
//! resolution first, one page after a cursor, as `sqlite::history` answers it.
//!
//! The agent and decider are matched as JSON strings (`to_jsonb`), as SQLite's `json_extract`
//! compares them; ids are ordered and compared in the "C" collation, byte by byte as in SQLite,
//! so the cursor pages the same way whatever the database's collation.

use super::conn::Conn;
use crate::protocol::Escalation;
use crate::server::store::error::unreadable;
use crate::server::store::history::{Cursor, HistoryQuery};
use crate::server::store::{state_name, StoreError};

/// One page, and the cursor after it when more may follow.
pub fn resolved_history(
    c: &mut Conn,
    q: &HistoryQuery,
) -> Result<(Vec<Escalation>, Option<String>), StoreError> {
    let cursor = q.before.as_deref().and_then(Cursor::decode);
    let (before_at, before_id) = match &cursor {
        Some(c) => (Some(c.resolved_at.as_str()), Some(c.id.as_str())),
        None => (None, None),
    };
    let limit = q.limit();
    // Resolution times are stored by `to_rfc3339` in UTC, whose texts sort as the times do.
    let rows = c.query(
        r#"SELECT id, body, resolved_at FROM escalations
           WHERE state NOT IN ('pending', 'unreadable') AND resolved_at IS NOT NULL
             AND ($1::text IS NULL OR state = $1)
             AND ($2::text IS NULL OR resolved_at >= $2)
             AND ($3::text IS NULL OR resolved_at <= $3)
             AND ($4::text IS NULL OR body::jsonb #> '{action,agent}' = to_jsonb($4::text))
             AND ($5::text IS NULL OR EXISTS (
                   SELECT 1 FROM jsonb_array_elements(
                       CASE WHEN jsonb_typeof(body::jsonb -> 'decisions') = 'array'
                            THEN body::jsonb -> 'decisions' ELSE '[]' END) AS d
                   WHERE d -> 'approver' = to_jsonb($5::text)))
             AND ($6::text IS NULL OR resolved_at < $6
                  OR (resolved_at = $6 AND id COLLATE "C" < $7::text))
           ORDER BY resolved_at DESC, id COLLATE "C" DESC LIMIT $8"#,
        &[
            &q.outcome.map(state_name),
            &q.since,
            &q.until,
            &q.agent,
            &q.decider,
            &before_at,
            &before_id,
            &(i64::from(limit) + 1),
        ],
    )?;
    let more = rows.len() > limit as usize;
    let mut page = Vec::with_capacity(limit as usize);
    let mut next = None;
    for r in rows.iter().take(limit as usize) {
        let id: String = r.try_get(0)?;
        let e: Escalation =
            serde_json::from_str(r.try_get(1)?).map_err(|e| unreadable("escalations", &id, e))?;
        if more {
            next = Some(
                Cursor {
                    resolved_at: r.try_get(2)?,
                    id,
                }
                .encode(),
            );
        }
        page.push(e);
    }
    Ok((page, next))
}
