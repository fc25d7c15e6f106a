//! The embedded store: SQLite in WAL mode, one writer thread with group commit.
//!
//! Every write (an action, escalation change, decision, flip, review, audit record) goes through
//! the writer as an [`Op`]. The writer takes every op waiting, applies them all in one
//! transaction, appends their audit records and a signed checkpoint, commits (one fsync), and
//! only then answers each caller: nothing is acknowledged before it is durable, and concurrent
//! requests share an fsync instead of queueing for one each.
//!
//! Nothing is stored or read by default: a value that cannot be written is an error, and a row
//! that cannot be read is an error naming its table and row. Every failure is logged.

mod read;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::audit::{AuditEntry, GENESIS};
use crate::protocol::{ActionRecord, Effect, Escalation, FlaggedAction, KillSwitch, PersonKey};

pub use read::*;
pub use writer::escalation_created_entry;

/// Most ops a single transaction takes.
const MAX_BATCH_JOBS: usize = 1024;
/// How long a write waits for SQLite's write lock before it fails.
const WRITE_WAIT: Duration = Duration::from_secs(5);
/// How long the readiness probe waits for it.
const PROBE_WAIT: Duration = Duration::from_secs(1);
/// Readiness answers share one probe for this long, so probing cannot load the store.
const PROBE_REUSE: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum StoreError {
    #[error("storage failed: {0}")]
    Sqlite(String),
    #[error("the {table} row {row} cannot be read: {problem}")]
    Unreadable {
        table: &'static str,
        row: String,
        problem: String,
    },
    #[error("{what} cannot be stored: {problem}")]
    Unencodable { what: &'static str, problem: String },
    #[error("the data dir is not this server's: {0}")]
    WrongKey(String),
    #[error("the store is shut down")]
    Closed,
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sqlite(e.to_string())
    }
}

/// What the server remembers about a review rule beyond the escalation itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExpiryPlan {
    pub escalate_to: Option<String>,
    pub timeout_secs: u64,
}

/// One unit of durable work.
pub enum Op {
    /// A submitted action; for a review, the escalation is completed here with the session's
    /// last three earlier calls (read in the same transaction as the insert).
    Action(Box<ActionWrite>),
    /// A changed escalation (vote, hand-over, resolution).
    Escalation { escalation: Escalation },
    KillSwitch {
        switch: KillSwitch,
        signature: String,
        cancelled: Vec<Escalation>,
    },
    FlagReview {
        flagged: FlaggedAction,
        signature: String,
    },
    /// Audit records alone (server start, refusals).
    Audit,
    /// At start: every pending escalation whose row cannot be loaded is marked `unreadable`
    /// (a deny) and audited. Answers with the ids and problems.
    DenyUnreadable,
}

impl Op {
    fn name(&self) -> &'static str {
        match self {
            Op::Action(_) => "an action",
            Op::Escalation { .. } => "an escalation change",
            Op::KillSwitch { .. } => "a kill switch flip",
            Op::FlagReview { .. } => "a flag review",
            Op::Audit => "audit records",
            Op::DenyUnreadable => "denying unreadable escalations",
        }
    }
}

pub struct ActionWrite {
    pub record: ActionRecord,
    pub effect: Effect,
    pub rule: Option<String>,
    pub reason: String,
    pub escalation: Option<(Escalation, ExpiryPlan)>,
    pub flagged: Option<FlaggedAction>,
}

pub enum Reply {
    Done,
    Escalation(Box<Escalation>),
    /// (escalation id, what could not be read)
    Denied(Vec<(String, String)>),
}

struct Job {
    op: Op,
    audit: Vec<AuditEntry>,
    reply: oneshot::Sender<Result<Reply, StoreError>>,
}

enum Msg {
    Job(Box<Job>),
    Probe(oneshot::Sender<Result<(), StoreError>>),
    Shutdown(oneshot::Sender<()>),
}

/// Handle to the writer thread plus a connection for reads.
#[derive(Clone)]
pub struct Store {
    tx: mpsc::Sender<Msg>,
    reader: Arc<Mutex<Connection>>,
    pub stats: Arc<StoreStats>,
    /// The last readiness probe: when, and what it found.
    probe: Arc<tokio::sync::Mutex<Option<Probe>>>,
}

/// A readiness probe: when, and what it found.
type Probe = (Instant, Result<(), StoreError>);

/// How well group commit amortises: ops per commit = ops / commits.
#[derive(Default)]
pub struct StoreStats {
    pub commits: AtomicU64,
    pub ops: AtomicU64,
}

pub fn db_path(data: &Path) -> PathBuf {
    data.join("gavel.db")
}

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS actions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    agent TEXT NOT NULL,
    session TEXT NOT NULL,
    tool TEXT NOT NULL,
    effect TEXT NOT NULL,
    rule TEXT,
    reason TEXT NOT NULL,
    escalation TEXT,
    record TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS actions_by_session ON actions (agent, session, seq);
CREATE TABLE IF NOT EXISTS escalations (
    id TEXT PRIMARY KEY,
    action TEXT NOT NULL,
    state TEXT NOT NULL,
    body TEXT NOT NULL,
    plan TEXT NOT NULL,
    resolved_at TEXT
);
CREATE INDEX IF NOT EXISTS escalations_by_state ON escalations (state, resolved_at);
CREATE TABLE IF NOT EXISTS killswitches (scope TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS flagged (
    action TEXT PRIMARY KEY,
    reviewed INTEGER NOT NULL,
    body TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS used_signatures (signature TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    time TEXT NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    body TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
    seq INTEGER PRIMARY KEY,
    head TEXT NOT NULL,
    signature TEXT NOT NULL,
    time TEXT NOT NULL
);
"#;

fn open(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(WRITE_WAIT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: a commit is on disk before we answer, even across power loss.
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

/// JSON text of a value about to be stored; one that cannot be written is an error.
fn json<T: Serialize>(what: &'static str, v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Unencodable {
        what,
        problem: e.to_string(),
    })
}

impl Store {
    /// Opens (or creates) the store in `data` and starts the writer thread. The server key signs
    /// checkpoints; its public half is recorded so `gavel audit verify` can check them.
    pub fn open(data: &Path, server_key: PersonKey) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data)
            .map_err(|e| StoreError::Sqlite(format!("{}: {e}", data.display())))?;
        let path = db_path(data);
        let conn = open(&path)?;
        conn.execute_batch(SCHEMA)?;
        let public = server_key.public().to_string();
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
            }
            Some(k) if k != public => {
                return Err(StoreError::WrongKey(format!(
                    "the server key in {} does not match the one this audit log was signed with",
                    data.display()
                )))
            }
            Some(_) => {}
        }
        let head: (u64, String) = conn
            .query_row(
                "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)),
            )
            .optional()?
            .unwrap_or((0, GENESIS.to_string()));
        let reader = open(&path)?;
        let (tx, rx) = mpsc::channel();
        let stats = Arc::new(StoreStats::default());
        writer::spawn(conn, server_key, head, stats.clone(), rx)?;
        Ok(Store {
            tx,
            reader: Arc::new(Mutex::new(reader)),
            stats,
            probe: Arc::default(),
        })
    }

    /// Makes `op` and its audit records durable, then answers. A failure is logged here.
    pub async fn write(&self, op: Op, audit: Vec<AuditEntry>) -> Result<Reply, StoreError> {
        let name = op.name();
        let (reply, rx) = oneshot::channel();
        let result = match self.tx.send(Msg::Job(Box::new(Job { op, audit, reply }))) {
            Ok(()) => rx.await.unwrap_or(Err(StoreError::Closed)),
            Err(_) => Err(StoreError::Closed),
        };
        if let Err(e) = &result {
            tracing::error!(op = name, "store write failed: {e}");
        }
        result
    }

    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Shutdown(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    /// Whether the store can write now: a probe write through the writer (it takes SQLite's
    /// write lock, writes and commits one meta row), waiting at most [`PROBE_WAIT`] for the
    /// lock. Callers within [`PROBE_REUSE`] of a probe share its answer.
    pub async fn ready(&self) -> Result<(), StoreError> {
        let mut last = self.probe.lock().await;
        if let Some((at, result)) = &*last {
            if at.elapsed() < PROBE_REUSE {
                return result.clone();
            }
        }
        let (tx, rx) = oneshot::channel();
        let result = match self.tx.send(Msg::Probe(tx)) {
            Ok(()) => rx.await.unwrap_or(Err(StoreError::Closed)),
            Err(_) => Err(StoreError::Closed),
        };
        if let Err(e) = &result {
            tracing::error!("store readiness probe failed: {e}");
        }
        *last = Some((Instant::now(), result.clone()));
        result
    }

    /// Runs a read on the reader connection off the async threads. A failure is logged here.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let reader = self.reader.clone();
        let result = tokio::task::spawn_blocking(move || {
            let conn = reader.lock().map_err(|_| StoreError::Closed)?;
            f(&conn)
        })
        .await
        .unwrap_or_else(|e| Err(StoreError::Sqlite(format!("the read did not finish: {e}"))));
        if let Err(e) = &result {
            tracing::error!("store read failed: {e}");
        }
        result
    }
}

#[cfg(test)]
mod tests;
