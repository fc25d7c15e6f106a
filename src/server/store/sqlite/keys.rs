//! `Idempotency-Key`s: written in the transaction of the action (or retry) they name, read back
//! while they are younger than the retention, purged a few at a time as new ones are written,
//! so the table holds about a day of keys whatever the traffic.

use chrono::{Duration, SecondsFormat};
use rusqlite::{params, Connection, OptionalExtension};

use crate::protocol::{Timestamp, IDEMPOTENCY_KEY_RETENTION_SECS};
use crate::server::store::{KeyWrite, StoreError, StoredKey};

/// Expired keys deleted per key written: more than are written, so the table cannot outgrow
/// its retention, and few enough that no write pays for a backlog at once.
const PURGE_PER_WRITE: u32 = 16;

/// Fixed width, UTC: text order is time order.
fn stamp(t: Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The oldest creation time a key may have at `now` and still count.
fn cutoff(now: Timestamp) -> String {
    stamp(now - Duration::seconds(IDEMPOTENCY_KEY_RETENTION_SECS))
}

/// Records `key` as naming `action`. An expired row for the same key is replaced; a live one
/// (another writer took the key first) fails the job, so nothing of it is committed.
pub(super) fn write(tx: &Connection, key: &KeyWrite, action: &str) -> Result<(), StoreError> {
    let cutoff = cutoff(key.created_at);
    tx.prepare_cached(
        "DELETE FROM idempotency_keys WHERE rowid IN
           (SELECT rowid FROM idempotency_keys WHERE created_at < ?1 LIMIT ?2)",
    )?
    .execute(params![cutoff, PURGE_PER_WRITE])?;
    tx.prepare_cached(
        "DELETE FROM idempotency_keys WHERE agent = ?1 AND key = ?2 AND created_at < ?3",
    )?
    .execute(params![key.agent, key.key, cutoff])?;
    tx.prepare_cached(
        "INSERT INTO idempotency_keys (agent, key, fingerprint, action, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        key.agent,
        key.key,
        key.fingerprint,
        action,
        stamp(key.created_at)
    ])?;
    Ok(())
}

/// The live key `key` of `agent` at `now`, if any.
pub(super) fn read(
    conn: &Connection,
    agent: &str,
    key: &str,
    now: Timestamp,
) -> Result<Option<StoredKey>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT fingerprint, action FROM idempotency_keys
             WHERE agent = ?1 AND key = ?2 AND created_at >= ?3",
        )?
        .query_row(params![agent, key, cutoff(now)], |r| {
            Ok(StoredKey {
                fingerprint: r.get(0)?,
                action: r.get(1)?,
            })
        })
        .optional()?)
}
