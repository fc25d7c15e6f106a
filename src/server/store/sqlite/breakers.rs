//! The breaker records governance rebuilds its open breakers from at start: from each agent's
//! latest trip of each breaker on, every trip, close and reset, oldest first.

use rusqlite::Connection;
use serde_json::Value;

use crate::server::audit::AuditEvent;
use crate::server::store::error::unreadable;
use crate::server::store::StoreError;

/// The records that say which breakers are open (`kind <> 'action'` lets SQLite use the
/// index by kind, which leaves actions out).
pub(super) const BREAKER_RECORDS: &str = "SELECT seq, kind, actor, body FROM audit
         WHERE kind IN ('breaker_tripped', 'breaker_closed', 'breaker_reset')
           AND kind <> 'action'
           AND seq >= (SELECT COALESCE(MIN(latest), 0) FROM
                         (SELECT MAX(seq) AS latest FROM audit
                          WHERE kind = 'breaker_tripped' AND kind <> 'action'
                          GROUP BY agent, json_extract(body, '$.breaker')))
         ORDER BY seq";

pub(super) fn breaker_events(conn: &Connection) -> Result<Vec<AuditEvent>, StoreError> {
    // Trips are rare (at most one per agent, breaker and cooldown), and only the records from
    // the oldest latest trip on can say what is open now.
    let mut stmt = conn.prepare_cached(BREAKER_RECORDS)?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, kind, actor, body) = row?;
        let seq = seq.to_string();
        let body: Value = serde_json::from_str(&body).map_err(|e| unreadable("audit", &seq, e))?;
        out.push(
            AuditEvent::parse(&kind, &actor, &body).map_err(|e| unreadable("audit", &seq, e))?,
        );
    }
    Ok(out)
}
