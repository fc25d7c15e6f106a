//! The rows an op writes beside its main one, as SQLite's `keys`, `grants` and `usage` write
//! them: a signature used once, an `Idempotency-Key`, a grant created, revoked or used, a
//! reported cost.

use super::sql::Sql;
use crate::protocol::{Grant, Timestamp};
use crate::server::store::error::json;
use crate::server::store::rows::{key_cutoff, key_stamp};
use crate::server::store::{KeyWrite, StoreError};

/// Expired keys deleted per key written: more than are written, so the table cannot outgrow
/// its retention, and few enough that no write pays for a backlog at once.
const PURGE_PER_WRITE: i64 = 16;

/// A signed request's signature, usable once: a second use fails the job on the primary key.
pub(super) fn use_signature(sql: &mut Sql, signature: &str) -> Result<(), StoreError> {
    sql.execute(
        "INSERT INTO used_signatures (signature) VALUES ($1)",
        &[&signature],
    )?;
    Ok(())
}

/// Records `key` as naming `action`. The purge reads the oldest keys by the age index
/// (`ORDER BY created_at`): without the order, a planner that guesses many keys expired scans
/// the whole table for the few that are, on every write. An expired row for the same key is replaced; a live one
/// (another request, or another replica, took the key first) fails the job, so nothing of it
/// is committed.
pub(super) fn write_key(sql: &mut Sql, key: &KeyWrite, action: &str) -> Result<(), StoreError> {
    let cutoff = key_cutoff(key.created_at);
    sql.execute(
        "DELETE FROM idempotency_keys WHERE (agent, key) IN
           (SELECT agent, key FROM idempotency_keys WHERE created_at < $1
            ORDER BY created_at LIMIT $2)",
        &[&cutoff, &PURGE_PER_WRITE],
    )?;
    sql.execute(
        "DELETE FROM idempotency_keys WHERE agent = $1 AND key = $2 AND created_at < $3",
        &[&key.agent, &key.key, &cutoff],
    )?;
    sql.execute(
        "INSERT INTO idempotency_keys (agent, key, fingerprint, action, created_at)
         VALUES ($1, $2, $3, $4, $5)",
        &[
            &key.agent,
            &key.key,
            &key.fingerprint,
            &action,
            &key_stamp(key.created_at),
        ],
    )?;
    Ok(())
}

pub(super) fn create_grant(
    sql: &mut Sql,
    grant: &Grant,
    signature: &str,
) -> Result<(), StoreError> {
    use_signature(sql, signature)?;
    sql.execute(
        "INSERT INTO grants (id, body, expires_at, revoked_at, uses, last_used_at)
         VALUES ($1, $2, $3, NULL, 0, NULL)",
        &[
            &grant.id,
            &json("a grant", grant)?,
            &grant.expires_at.to_rfc3339(),
        ],
    )?;
    Ok(())
}

pub(super) fn revoke_grant(
    sql: &mut Sql,
    grant: &Grant,
    signature: &str,
) -> Result<(), StoreError> {
    let at = grant.revoked.as_ref().map(|r| r.at.to_rfc3339());
    use_signature(sql, signature)?;
    let changed = sql.execute(
        "UPDATE grants SET body = $2, revoked_at = $3 WHERE id = $1 AND revoked_at IS NULL",
        &[&grant.id, &json("a grant", grant)?, &at],
    )?;
    if changed != 1 {
        return Err(StoreError::GrantNotLive(grant.id.clone()));
    }
    Ok(())
}

/// Counts a use; a grant revoked meanwhile (on any replica) fails the call's whole write
/// (fail closed).
pub(super) fn grant_used(sql: &mut Sql, id: &str, at: Timestamp) -> Result<(), StoreError> {
    let changed = sql.execute(
        "UPDATE grants SET uses = uses + 1, last_used_at = $2
         WHERE id = $1 AND revoked_at IS NULL",
        &[&id, &at.to_rfc3339()],
    )?;
    if changed != 1 {
        return Err(StoreError::GrantNotLive(id.to_string()));
    }
    Ok(())
}

/// Replaces a call's cost with the actual one its agent reported. Only `actions.cost`
/// changes: the call's audit record keeps the estimate it was judged with.
pub(super) fn set_cost(sql: &mut Sql, id: &str, cost: f64) -> Result<(), StoreError> {
    let changed = sql.execute("UPDATE actions SET cost = $2 WHERE id = $1", &[&id, &cost])?;
    if changed != 1 {
        return Err(StoreError::Unreadable {
            table: "actions",
            row: id.to_string(),
            problem: "no such action to report a cost for".into(),
        });
    }
    Ok(())
}
