//! The calls of a recent stretch of time as governance counts them (limits, breakers and the
//! anomaly baseline are rebuilt from these at start), a call's cost, and the standing grants.

use super::conn::Conn;
use crate::protocol::{Grant, Timestamp};
use crate::server::store::error::unreadable;
use crate::server::store::rows::{effect, resolution, time};
use crate::server::store::{CostedAction, RecentAction, StoreError};

/// Every call recorded at or after `since`, oldest first.
pub fn recent_actions(c: &mut Conn, since: Timestamp) -> Result<Vec<RecentAction>, StoreError> {
    use postgres::fallible_iterator::FallibleIterator;
    let mut rows = c.stream(
        "SELECT a.id, a.agent, a.session, a.tool, a.effect, a.rule, a.governed, a.cost, a.at,
                e.state
         FROM actions a LEFT JOIN escalations e ON e.id = a.escalation
         WHERE a.at >= $1 ORDER BY a.seq",
        &[&since.to_rfc3339()],
    )?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let id: String = r.try_get(0)?;
        let state: Option<&str> = r.try_get(9)?;
        out.push(RecentAction {
            effect: effect("actions", &id, r.try_get(4)?)?,
            at: time("actions", &id, r.try_get(8)?)?,
            // Named by the action, as SQLite's reader names it.
            resolution: match state {
                Some(s) => resolution("escalations", &id, s)?,
                None => None,
            },
            agent: r.try_get(1)?,
            session: r.try_get(2)?,
            tool: r.try_get(3)?,
            rule: r.try_get(5)?,
            governed: r.try_get(6)?,
            cost: r.try_get(7)?,
            id,
        });
    }
    Ok(out)
}

/// Every (agent, tool) pair ever called, for the anomaly baseline's "never called before".
pub fn tools_called(c: &mut Conn) -> Result<Vec<(String, String)>, StoreError> {
    c.query(
        "SELECT agent, tool FROM tools_called UNION SELECT DISTINCT agent, tool FROM actions",
        &[],
    )?
    .iter()
    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
    .collect()
}

/// A recorded call's agent, tool, effect and cost.
pub fn costed_action(c: &mut Conn, id: &str) -> Result<Option<CostedAction>, StoreError> {
    let row = c.query_opt(
        "SELECT agent, tool, effect, cost FROM actions WHERE id = $1",
        &[&id],
    )?;
    let Some(r) = row else {
        return Ok(None);
    };
    Ok(Some(CostedAction {
        effect: effect("actions", id, r.try_get(2)?)?,
        id: id.to_string(),
        agent: r.try_get(0)?,
        tool: r.try_get(1)?,
        cost: r.try_get(3)?,
    }))
}

/// Every standing grant, live or not, with its use count: by expiry, then id byte by byte.
pub fn grants(c: &mut Conn) -> Result<Vec<Grant>, StoreError> {
    c.query(
        r#"SELECT id, body, uses, last_used_at FROM grants ORDER BY expires_at, id COLLATE "C""#,
        &[],
    )?
    .iter()
    .map(|r| {
        let id: &str = r.try_get(0)?;
        let mut g: Grant =
            serde_json::from_str(r.try_get(1)?).map_err(|e| unreadable("grants", id, e))?;
        if g.id != id {
            return Err(unreadable(
                "grants",
                id,
                format!("its body is for {}", g.id),
            ));
        }
        g.uses = u64::try_from(r.try_get::<_, i64>(2)?).map_err(|e| unreadable("grants", id, e))?;
        g.last_used_at = r
            .try_get::<_, Option<&str>>(3)?
            .map(str::parse)
            .transpose()
            .map_err(|e| unreadable("grants", id, e))?;
        Ok(g)
    })
    .collect()
}
