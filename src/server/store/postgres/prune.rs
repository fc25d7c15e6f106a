//! Pruning action rows past `keep_actions` ([`crate::server::store::prune`]), as SQLite's
//! `prune` does: each deleted row's (agent, tool) pair kept in `tools_called` first, and the
//! newest row always kept. Replicas may sweep at once: a row another one deleted first is not
//! counted again.

use super::sql::Sql;
use crate::protocol::Timestamp;
use crate::server::audit::AuditEvent;
use crate::server::store::prune::{Row, Sweep};
use crate::server::store::{Reply, StoreError};

pub(super) fn prune(
    sql: &mut Sql,
    before: Timestamp,
    after: i64,
    limit: u32,
) -> Result<(Reply, Vec<AuditEvent>), StoreError> {
    let mut sweep = Sweep::new(before, after, limit);
    let rows = sql.query(
        "SELECT seq, id, at, effect, escalation IS NOT NULL, agent, tool FROM actions
         WHERE seq > $1 AND seq < (SELECT MAX(seq) FROM actions) ORDER BY seq LIMIT $2",
        &[&after, &i64::from(limit)],
    )?;
    for r in &rows {
        let row = Row {
            seq: r.try_get(0)?,
            id: r.try_get(1)?,
            at: r.try_get(2)?,
            effect: r.try_get(3)?,
            escalated: r.try_get(4)?,
            agent: r.try_get(5)?,
            tool: r.try_get(6)?,
        };
        if !sweep.row(row) {
            break;
        }
    }
    let (seqs, (agents, tools)): (Vec<i64>, (Vec<&str>, Vec<&str>)) = sweep
        .doomed
        .iter()
        .map(|(seq, agent, tool)| (*seq, (agent.as_str(), tool.as_str())))
        .unzip();
    let mut deleted = 0;
    if !seqs.is_empty() {
        sql.execute(
            "INSERT INTO tools_called (agent, tool)
             SELECT * FROM UNNEST($1::text[], $2::text[]) ON CONFLICT DO NOTHING",
            &[&agents, &tools],
        )?;
        deleted = sql.execute("DELETE FROM actions WHERE seq = ANY($1)", &[&seqs])?;
    }
    Ok(sweep.finish(deleted))
}
