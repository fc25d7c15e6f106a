//! Pruning action rows past `keep_actions` ([`crate::server::store::prune`]). Each deleted
//! row's (agent, tool) pair is kept in `tools_called` first, so a tool stays known to the
//! anomaly baseline after its calls' rows are gone. The newest row always stays, so the next
//! rowid (one past the largest) never falls back.

use rusqlite::{params, Connection};

use crate::protocol::Timestamp;
use crate::server::audit::AuditEvent;
use crate::server::store::prune::{Row, Sweep};
use crate::server::store::{Reply, StoreError};

pub(super) fn prune(
    tx: &Connection,
    before: Timestamp,
    after: i64,
    limit: u32,
) -> Result<(Reply, Vec<AuditEvent>), StoreError> {
    let mut sweep = Sweep::new(before, after, limit);
    let mut examined = tx.prepare_cached(
        "SELECT seq, id, at, effect, escalation IS NOT NULL, agent, tool FROM actions
         WHERE seq > ?1 AND seq < (SELECT MAX(seq) FROM actions) ORDER BY seq LIMIT ?2",
    )?;
    let mut rows = examined.query(params![after, limit])?;
    while let Some(r) = rows.next()? {
        let (id, at, effect): (String, String, String) = (r.get(1)?, r.get(2)?, r.get(3)?);
        let row = Row {
            seq: r.get(0)?,
            id: &id,
            at: &at,
            effect: &effect,
            escalated: r.get(4)?,
            agent: r.get(5)?,
            tool: r.get(6)?,
        };
        if !sweep.row(row) {
            break;
        }
    }
    let mut remember =
        tx.prepare_cached("INSERT OR IGNORE INTO tools_called (agent, tool) VALUES (?1, ?2)")?;
    let mut delete = tx.prepare_cached("DELETE FROM actions WHERE seq = ?1")?;
    let mut deleted = 0;
    for (seq, agent, tool) in &sweep.doomed {
        remember.execute(params![agent, tool])?;
        deleted += delete.execute([seq])? as u64;
    }
    Ok(sweep.finish(deleted))
}
