//! History search: resolved escalations filtered in SQL (outcome, time, agent, decider), newest
//! resolution first, one page after a cursor. Reads every stored escalation, not a recent window.

use rusqlite::{params, Connection};

use crate::protocol::Escalation;
use crate::server::store::error::unreadable;
use crate::server::store::history::{Cursor, HistoryQuery};
use crate::server::store::{state_name, StoreError};

/// One page, and the cursor after it when more may follow.
pub(super) fn resolved_history(
    conn: &Connection,
    q: &HistoryQuery,
) -> Result<(Vec<Escalation>, Option<String>), StoreError> {
    let cursor = q.before.as_deref().and_then(Cursor::decode);
    let (before_at, before_id) = match &cursor {
        Some(c) => (Some(c.resolved_at.as_str()), Some(c.id.as_str())),
        None => (None, None),
    };
    let limit = q.limit();
    // Resolution times are stored by `to_rfc3339` in UTC, whose texts sort as the times do.
    let mut stmt = conn.prepare(
        "SELECT id, body, resolved_at FROM escalations
         WHERE state NOT IN ('pending', 'unreadable') AND resolved_at IS NOT NULL
           AND (?1 IS NULL OR state = ?1)
           AND (?2 IS NULL OR resolved_at >= ?2)
           AND (?3 IS NULL OR resolved_at <= ?3)
           AND (?4 IS NULL OR json_extract(body, '$.action.agent') = ?4)
           AND (?5 IS NULL OR EXISTS (SELECT 1 FROM json_each(body, '$.decisions') AS d
                                     WHERE json_extract(d.value, '$.approver') = ?5))
           AND (?6 IS NULL OR resolved_at < ?6 OR (resolved_at = ?6 AND id < ?7))
         ORDER BY resolved_at DESC, id DESC LIMIT ?8",
    )?;
    let rows = stmt
        .query_map(
            params![
                q.outcome.map(state_name),
                q.since,
                q.until,
                q.agent,
                q.decider,
                before_at,
                before_id,
                limit + 1
            ],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            },
        )?
        .collect::<Result<Vec<_>, _>>()?;
    let more = rows.len() > limit as usize;
    let mut page = Vec::with_capacity(limit as usize);
    let mut next = None;
    for (id, body, at) in rows.into_iter().take(limit as usize) {
        let e: Escalation =
            serde_json::from_str(&body).map_err(|e| unreadable("escalations", &id, e))?;
        if more {
            next = Some(
                Cursor {
                    resolved_at: at,
                    id,
                }
                .encode(),
            );
        }
        page.push(e);
    }
    Ok((page, next))
}
