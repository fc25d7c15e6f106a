//! Reads of the audit chain: records by the typed columns (`GET /v1/audit`), the breaker
//! records governance rebuilds its open breakers from, and the newest signed checkpoint.

use serde_json::Value;

use super::conn::Conn;
use crate::protocol::AuditRecord;
use crate::server::audit::{Anchor, AuditEvent};
use crate::server::store::error::unreadable;
use crate::server::store::rows::{parse, time};
use crate::server::store::{AuditQuery, StoreError};

/// Records matching `q`, in chain order. Times are compared as texts, as stored.
pub fn audit_records(c: &mut Conn, q: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
    let after = q.after_seq.unwrap_or(0) as i64;
    // Each record links to the hash of the one before it (the genesis, 32 zero bytes, for the
    // first).
    let rows = c.query(
        "SELECT seq, time, kind, actor, body,
                COALESCE((SELECT p.hash FROM audit p WHERE p.seq = a.seq - 1),
                         decode(repeat('0', 64), 'hex')),
                hash
         FROM audit a
         WHERE ($1::text IS NULL OR actor = $1 OR audit_agent(kind, body) = $1)
           AND ($2::text IS NULL OR time >= $2)
           AND ($3::text IS NULL OR time <= $3)
           AND ($4::text IS NULL OR kind = $4)
           AND ($5::text IS NULL OR audit_verdict(kind, body) = $5)
           AND seq > $6
         ORDER BY seq LIMIT $7",
        &[
            &q.agent,
            &q.since,
            &q.until,
            &q.kind,
            &q.verdict,
            &after,
            &i64::from(q.limit()),
        ],
    )?;
    rows.iter()
        .map(|r| {
            let seq: i64 = r.try_get(0)?;
            let row = seq.to_string();
            Ok(AuditRecord {
                seq: seq as u64,
                time: time("audit", &row, r.try_get(1)?)?,
                body: parse::<Value>("audit", &row, r.try_get(4)?)?,
                kind: r.try_get(2)?,
                actor: r.try_get(3)?,
                prev_hash: hex::encode(r.try_get::<_, &[u8]>(5)?),
                hash: hex::encode(r.try_get::<_, &[u8]>(6)?),
            })
        })
        .collect()
}

/// The breaker records from each agent's latest trip of each breaker on, oldest first: seq,
/// kind, actor and body. Trips are rare (at most one per agent, breaker and cooldown), and only
/// the records from the oldest latest trip on can say what is open now.
pub(super) const BREAKER_RECORDS: &str = "SELECT seq, kind, actor, body FROM audit
    WHERE kind IN ('breaker_tripped', 'breaker_closed', 'breaker_reset')
      AND seq >= (SELECT COALESCE(MIN(latest), 0) FROM
                    (SELECT MAX(seq) AS latest FROM audit WHERE kind = 'breaker_tripped'
                     GROUP BY audit_agent(kind, body), NULLIF(body::jsonb -> 'breaker', 'null'))
                  AS trips)
    ORDER BY seq";

/// The breaker records from each agent's latest trip of each breaker on, oldest first.
///
/// A breaker is named by its trip's JSON `breaker`, compared as JSON (a missing one and a JSON
/// `null` are one, as SQLite's `json_extract` has them).
pub fn breaker_events(c: &mut Conn) -> Result<Vec<AuditEvent>, StoreError> {
    let rows = c.query(BREAKER_RECORDS, &[])?;
    rows.iter()
        .map(|r| {
            let seq = r.try_get::<_, i64>(0)?.to_string();
            let body: Value = parse("audit", &seq, r.try_get(3)?)?;
            AuditEvent::parse(r.try_get(1)?, r.try_get(2)?, &body)
                .map_err(|e| unreadable("audit", &seq, e))
        })
        .collect()
}

/// The newest checkpoint and the key it is signed with; `None` before the first record.
pub fn latest_anchor(c: &mut Conn) -> Result<Option<Anchor>, StoreError> {
    let key = c.query_opt(
        "SELECT value FROM meta WHERE key = 'server_public_key'",
        &[],
    )?;
    let Some(key) = key else {
        return Ok(None);
    };
    let server_public_key: String = key.try_get(0)?;
    let row = c.query_opt(
        "SELECT seq, head, signature, time FROM checkpoints ORDER BY seq DESC LIMIT 1",
        &[],
    )?;
    row.map(|r| {
        Ok(Anchor {
            seq: r.try_get::<_, i64>(0)? as u64,
            head: r.try_get(1)?,
            signature: r.try_get(2)?,
            server_public_key,
            time: r.try_get(3)?,
        })
    })
    .transpose()
}
