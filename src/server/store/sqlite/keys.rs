//! `Idempotency-Key`s: written in the transaction of the action (or retry) they name, read back
//! while they are younger than the retention, purged a few at a time as new ones are written,
//! so the table holds about a day of keys whatever the traffic.

use rusqlite::{params, Connection, OptionalExtension};

use crate::protocol::Timestamp;
use crate::server::store::rows::{key_cutoff as cutoff, key_stamp as stamp};
use crate::server::store::{KeyWrite, StoreError, StoredKey};

/// Expired keys deleted per key written: more than are written, so the table cannot outgrow
/// its retention, and few enough that no write pays for a backlog at once.
const PURGE_PER_WRITE: u32 = 16;

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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use chrono::{Duration, Utc};

    use super::*;
    use crate::protocol::IDEMPOTENCY_KEY_RETENTION_SECS;

    fn store() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&mut conn, Path::new(":memory:")).unwrap();
        conn
    }

    fn key(agent: &str, k: &str, created_at: Timestamp) -> KeyWrite {
        KeyWrite {
            agent: agent.into(),
            key: k.into(),
            fingerprint: format!("fp-{k}"),
            created_at,
        }
    }

    fn count(conn: &Connection) -> i64 {
        conn.query_row("SELECT COUNT(*) FROM idempotency_keys", [], |r| r.get(0))
            .unwrap()
    }

    const DAY: i64 = IDEMPOTENCY_KEY_RETENTION_SECS;

    #[test]
    fn a_key_counts_for_its_retention_then_not() {
        let conn = store();
        let t = Utc::now();
        write(&conn, &key("a", "k", t), "act_1").unwrap();
        let live = read(&conn, "a", "k", t + Duration::seconds(DAY - 1)).unwrap();
        assert_eq!(live.map(|s| s.action), Some("act_1".into()));
        assert_eq!(read(&conn, "b", "k", t).unwrap(), None, "per agent");
        assert_eq!(
            read(&conn, "a", "k", t + Duration::seconds(DAY + 1)).unwrap(),
            None
        );
    }

    #[test]
    fn an_expired_key_is_taken_anew_but_a_live_one_is_not() {
        let conn = store();
        let t = Utc::now();
        write(&conn, &key("a", "k", t), "act_1").unwrap();
        assert!(write(&conn, &key("a", "k", t + Duration::seconds(5)), "act_2").is_err());
        let later = t + Duration::seconds(DAY + 1);
        write(&conn, &key("a", "k", later), "act_3").unwrap();
        let now = read(&conn, "a", "k", later).unwrap().unwrap();
        assert_eq!(now.action, "act_3");
    }

    #[test]
    fn writing_keys_purges_expired_ones_a_few_at_a_time() {
        let conn = store();
        let old = Utc::now() - Duration::seconds(2 * DAY);
        for i in 0..40 {
            write(&conn, &key("a", &format!("old-{i}"), old), "act_old").unwrap();
        }
        assert_eq!(count(&conn), 40);
        write(&conn, &key("a", "new-1", Utc::now()), "act_1").unwrap();
        assert_eq!(count(&conn), 40 - PURGE_PER_WRITE as i64 + 1);
        write(&conn, &key("a", "new-2", Utc::now()), "act_2").unwrap();
        write(&conn, &key("a", "new-3", Utc::now()), "act_3").unwrap();
        assert_eq!(count(&conn), 3, "only live keys remain");
    }
}
