//! The idempotency keys table against the log: a key row answers a resend with its action's
//! outcome, so a row edited to name another action (an approved one, say) would hand that
//! outcome to a different call. Every row must be a key the log recorded for that agent and
//! action. The log may name keys the table no longer holds: they expire and are purged.

use rusqlite::Connection;

use super::replay::Implied;

pub(super) fn idempotency_keys(conn: &Connection, implied: &Implied) -> Result<(), String> {
    let sql = |e: rusqlite::Error| format!("cannot read the tables: {e}");
    // A data dir from before keys existed (verified before the server migrated it) has none.
    let exists: bool = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'idempotency_keys'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map_err(sql)?
        > 0;
    if !exists {
        return Ok(());
    }
    // Read in the table's own order (no index lookups per row); the row named is the first
    // by (agent, key), as reading in that order would find it.
    let mut stmt = conn
        .prepare("SELECT agent, key, action FROM idempotency_keys")
        .map_err(sql)?;
    let mut rows = stmt.query([]).map_err(sql)?;
    let mut first: Option<(String, String, String)> = None;
    while let Some(row) = rows.next().map_err(sql)? {
        let named: (String, String, String) = (
            row.get(0).map_err(sql)?,
            row.get(1).map_err(sql)?,
            row.get(2).map_err(sql)?,
        );
        let earlier = |f: &(String, String, String)| (&named.0, &named.1) < (&f.0, &f.1);
        if !implied.keys.contains(&named) && first.as_ref().is_none_or(earlier) {
            first = Some(named);
        }
    }
    match first {
        None => Ok(()),
        Some((agent, key, action)) => Err(format!(
            "idempotency key {key:?} of {agent} names action {action} in the table, \
             which the log never said"
        )),
    }
}
