//! Bytes a store holds: the SQLite file with its WAL, or every table of the PostgreSQL database
//! with its indexes and TOAST; and the same once every action row is past `keep_actions`.

use std::path::Path;

pub fn sqlite_bytes(data: &Path) -> u64 {
    ["gavel.db", "gavel.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(data.join(f)).ok())
        .map(|m| m.len())
        .sum()
}

/// `VACUUM` (`VACUUM FULL` with `full`, which gives back the pages of deleted rows), then the
/// bytes of every table.
pub fn postgres_bytes(url: &str, full: bool) -> u64 {
    let url = url.to_string();
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
        let vacuum = if full {
            "VACUUM FULL ANALYZE"
        } else {
            "VACUUM ANALYZE"
        };
        c.batch_execute(vacuum).ok();
        let row = c
            .query_one(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE c.relkind = 'r' AND n.nspname = 'public'",
                &[],
            )
            .expect("sizes");
        row.get::<_, i64>(0) as u64
    })
    .join()
    .expect("measuring PostgreSQL")
}

/// The bytes the store holds once every action row is past `keep_actions`
/// ([`crate::prune::prune_all`]), compacted (`VACUUM`, `VACUUM FULL`): what the calls take for
/// good, their audit records and the `actions_pruned` records that say where their rows went.
pub async fn pruned_bytes(data: &Path, url: Option<&str>) -> u64 {
    crate::prune::prune_all(data, url).await;
    match url {
        None => {
            let conn = rusqlite::Connection::open(data.join("gavel.db")).expect("open");
            // VACUUM writes the new file through the WAL: fold it back in, and empty the WAL.
            conn.execute_batch("VACUUM; PRAGMA wal_checkpoint(TRUNCATE);")
                .expect("VACUUM");
            drop(conn);
            sqlite_bytes(data)
        }
        Some(url) => postgres_bytes(url, true),
    }
}
