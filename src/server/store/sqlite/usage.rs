//! The calls of a recent stretch of time, as governance counts them: limits, breakers and the
//! anomaly baseline are rebuilt from these at start.

use rusqlite::{params, Connection, OptionalExtension};

use super::read::{effect, resolution, time};
use crate::protocol::Timestamp;
use crate::server::store::{CostedAction, RecentAction, StoreError};

/// Every call recorded at or after `since`, oldest first.
pub(super) fn recent_actions(
    conn: &Connection,
    since: Timestamp,
) -> Result<Vec<RecentAction>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT a.id, a.agent, a.session, a.tool, a.effect, a.rule, a.governed, a.cost, a.at,
                e.state
         FROM actions a LEFT JOIN escalations e ON e.id = a.escalation
         WHERE a.at >= ?1 ORDER BY a.seq",
    )?;
    let rows = stmt.query_map(params![since.to_rfc3339()], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, Option<String>>(5)?,
            r.get::<_, Option<String>>(6)?,
            r.get::<_, Option<f64>>(7)?,
            r.get::<_, String>(8)?,
            r.get::<_, Option<String>>(9)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, agent, session, tool, eff, rule, governed, cost, at, state) = row?;
        out.push(RecentAction {
            effect: effect("actions", &id, &eff)?,
            at: time("actions", &id, &at)?,
            resolution: match state {
                Some(s) => resolution("escalations", &id, &s)?,
                None => None,
            },
            id,
            agent,
            session,
            tool,
            rule,
            governed,
            cost,
        });
    }
    Ok(out)
}

/// Every (agent, tool) pair ever called, for the anomaly baseline's "never called before": the
/// rows kept, and the pairs of those pruned.
pub(super) fn tools_called(conn: &Connection) -> Result<Vec<(String, String)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT agent, tool FROM tools_called UNION SELECT DISTINCT agent, tool FROM actions",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A recorded call's agent, tool, effect and cost.
pub(super) fn costed_action(
    conn: &Connection,
    id: &str,
) -> Result<Option<CostedAction>, StoreError> {
    let row = conn
        .prepare_cached("SELECT agent, tool, effect, cost FROM actions WHERE id = ?1")?
        .query_row([id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<f64>>(3)?,
            ))
        })
        .optional()?;
    let Some((agent, tool, eff, cost)) = row else {
        return Ok(None);
    };
    Ok(Some(CostedAction {
        effect: effect("actions", id, &eff)?,
        id: id.to_string(),
        agent,
        tool,
        cost,
    }))
}

/// Replaces a call's cost with the actual one its agent reported. Only `actions.cost`
/// changes: the call's audit record keeps the estimate it was judged with.
pub(super) fn set_cost(conn: &Connection, id: &str, cost: f64) -> Result<(), StoreError> {
    let changed = conn
        .prepare_cached("UPDATE actions SET cost = ?2 WHERE id = ?1")?
        .execute(params![id, cost])?;
    if changed != 1 {
        return Err(StoreError::Unreadable {
            table: "actions",
            row: id.to_string(),
            problem: "no such action to report a cost for".into(),
        });
    }
    Ok(())
}
