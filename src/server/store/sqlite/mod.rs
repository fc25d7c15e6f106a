//! The SQLite backend: one file in WAL mode with `synchronous=FULL` (a commit is on disk before
//! anyone is answered, even across power loss), one write connection owned by the writer
//! thread, and a few read connections.

mod breakers;
mod checkpointer;
mod commit;
mod figures;
mod grants;
mod history;
mod keys;
mod ops;
mod prune;
mod read;
mod reader;
pub mod schema;
mod usage;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension};

use super::chain::{Chain, Head};
use super::StoreError;
use crate::protocol::{EscalationState, PersonKey};

pub use commit::SqliteWriter;
pub use reader::SqliteReader;

/// How long a write waits for SQLite's write lock before it fails.
const WRITE_WAIT: Duration = Duration::from_secs(5);
/// How long the readiness probe waits for it.
const PROBE_WAIT: Duration = Duration::from_secs(1);

pub fn db_path(data: &Path) -> PathBuf {
    data.join("gavel.db")
}

pub(super) fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(WRITE_WAIT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: a commit is on disk before we answer, even across power loss.
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

/// Opens (creating or migrating) the store in `data`: the writer's connection, with the chain
/// head as stored, and `readers` read connections.
pub fn open(
    data: &Path,
    server_key: PersonKey,
    readers: usize,
) -> Result<(SqliteWriter, Vec<SqliteReader>), StoreError> {
    std::fs::create_dir_all(data).map_err(|e| StoreError::DataDir {
        dir: data.to_path_buf(),
        source: Arc::new(e),
    })?;
    let path = db_path(data);
    let mut conn = connect(&path)?;
    schema::migrate(&mut conn, &path)?;
    // The writer keeps the pages it touches cached (64 MiB) rather than reading them back.
    conn.pragma_update(None, "cache_size", -65536)?;
    // Checkpoints run beside the writer (see `checkpointer`); the automatic one stays only as
    // a bound, should that thread fall far behind.
    conn.pragma_update(None, "wal_autocheckpoint", 16384)?;
    check_key(&conn, &server_key, data)?;
    let head = conn
        .query_row(
            "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
            [],
            |r| {
                Ok(Head {
                    seq: r.get::<_, i64>(0)? as u64,
                    hash: hex::encode(r.get::<_, Vec<u8>>(1)?),
                })
            },
        )
        .optional()?
        .unwrap_or_else(Head::genesis);
    let readers = (0..readers)
        .map(|_| {
            let conn = connect(&path)?;
            // Reads only: a read connection can never change the store.
            conn.pragma_update(None, "query_only", true)?;
            Ok(SqliteReader::new(conn))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let checkpointer = checkpointer::Checkpointer::start(&path)?;
    Ok((
        SqliteWriter::new(conn, Chain::new(server_key), head, checkpointer),
        readers,
    ))
}

/// Records the server's public key on first open; later, refuses another key.
fn check_key(conn: &Connection, key: &PersonKey, data: &Path) -> Result<(), StoreError> {
    let public = key.public().to_string();
    let recorded: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key='server_public_key'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    match recorded {
        None => {
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('server_public_key', ?1)",
                [&public],
            )?;
            Ok(())
        }
        Some(k) if k != public => Err(StoreError::WrongKey(data.to_path_buf())),
        Some(_) => Ok(()),
    }
}

/// An escalation state as the `escalations.state` column names it (besides `unreadable`).
pub fn state_name(state: EscalationState) -> &'static str {
    match state {
        EscalationState::Pending => "pending",
        EscalationState::Approved => "approved",
        EscalationState::Denied => "denied",
        EscalationState::Expired => "expired",
        EscalationState::Cancelled => "cancelled",
    }
}
