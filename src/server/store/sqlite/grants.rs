//! The `grants` table: a grant's row as created, its revocation, and each use counted in the
//! transaction of the call it allowed.

use rusqlite::{params, Connection};

use crate::protocol::{Grant, Timestamp};
use crate::server::store::error::{json, unreadable};
use crate::server::store::StoreError;

pub(super) fn create(tx: &Connection, grant: &Grant, signature: &str) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO used_signatures (signature) VALUES (?1)",
        [signature],
    )?;
    tx.execute(
        "INSERT INTO grants (id, body, expires_at, revoked_at, uses, last_used_at)
         VALUES (?1, ?2, ?3, NULL, 0, NULL)",
        params![
            grant.id,
            json("a grant", grant)?,
            grant.expires_at.to_rfc3339()
        ],
    )?;
    Ok(())
}

pub(super) fn revoke(tx: &Connection, grant: &Grant, signature: &str) -> Result<(), StoreError> {
    let at = grant.revoked.as_ref().map(|r| r.at.to_rfc3339());
    tx.execute(
        "INSERT INTO used_signatures (signature) VALUES (?1)",
        [signature],
    )?;
    let changed = tx.execute(
        "UPDATE grants SET body = ?2, revoked_at = ?3 WHERE id = ?1 AND revoked_at IS NULL",
        params![grant.id, json("a grant", grant)?, at],
    )?;
    if changed != 1 {
        return Err(StoreError::GrantNotLive(grant.id.clone()));
    }
    Ok(())
}

/// Counts a use; a grant revoked meanwhile fails the call's whole write (fail closed).
pub(super) fn used(tx: &Connection, id: &str, at: Timestamp) -> Result<(), StoreError> {
    let changed = tx
        .prepare_cached(
            "UPDATE grants SET uses = uses + 1, last_used_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        )?
        .execute(params![id, at.to_rfc3339()])?;
    if changed != 1 {
        return Err(StoreError::GrantNotLive(id.to_string()));
    }
    Ok(())
}

pub(super) fn read_all(conn: &Connection) -> Result<Vec<Grant>, StoreError> {
    let mut stmt =
        conn.prepare("SELECT id, body, uses, last_used_at FROM grants ORDER BY expires_at, id")?;
    type Row = (String, String, i64, Option<String>);
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<Result<Vec<Row>, _>>()?;
    rows.into_iter()
        .map(|(id, body, uses, last)| {
            let mut g: Grant =
                serde_json::from_str(&body).map_err(|e| unreadable("grants", &id, e))?;
            if g.id != id {
                return Err(unreadable(
                    "grants",
                    &id,
                    format!("its body is for {}", g.id),
                ));
            }
            g.uses = u64::try_from(uses).map_err(|e| unreadable("grants", &id, e))?;
            g.last_used_at = last
                .map(|t| t.parse())
                .transpose()
                .map_err(|e| unreadable("grants", &id, e))?;
            Ok(g)
        })
        .collect()
}
