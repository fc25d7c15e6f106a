//! What can go wrong in the store. Every variant says what failed and where; the underlying
//! errors are kept (shared, so one failed commit can answer every job in it).

use std::path::PathBuf;
use std::sync::Arc;

use crate::server::audit::EventError;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("storage failed: {0}")]
    Sqlite(Arc<rusqlite::Error>),
    #[error("PostgreSQL: {}", with_causes(.0))]
    Postgres(Arc<postgres::Error>),
    #[error("cannot reach PostgreSQL at {url}: {}", with_causes(.source))]
    Unreachable {
        url: String,
        source: Arc<postgres::Error>,
    },
    #[error("escalation {0} changed on another replica while this change was being made")]
    Conflict(String),
    #[error("cannot create the data dir {dir}: {source}")]
    DataDir {
        dir: PathBuf,
        source: Arc<std::io::Error>,
    },
    #[error("cannot start the store's writer thread: {0}")]
    WriterThread(Arc<std::io::Error>),
    #[error("a read did not finish: {0}")]
    ReadAborted(Arc<tokio::task::JoinError>),
    #[error("the {table} row {row} cannot be read: {problem}")]
    Unreadable {
        table: &'static str,
        row: String,
        problem: String,
    },
    #[error("{what} cannot be stored: {problem}")]
    Unencodable { what: &'static str, problem: String },
    #[error("an audit record cannot be appended: {0}")]
    Event(#[from] EventError),
    #[error("grant {0} is not live: it was revoked")]
    GrantNotLive(String),
    #[error("escalation {0} is not in the store")]
    NoSuchEscalation(String),
    #[error("the data dir is not this server's: the server key in {0} does not match the one this audit log was signed with")]
    WrongKey(PathBuf),
    #[error("{path} has schema version {found}, newer than version {supported} that this gavel knows: run the newer gavel that wrote it")]
    NewerSchema {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("the store is shut down")]
    Closed,
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sqlite(Arc::new(e))
    }
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        StoreError::Postgres(Arc::new(e))
    }
}

/// A PostgreSQL error with what caused it (its own text is only the kind, "db error"), on one
/// line.
fn with_causes(e: &postgres::Error) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text = format!("{text}: {c}");
        cause = c.source();
    }
    text.replace('\n', " ")
}

/// A row that cannot be read, naming its table and key.
pub(crate) fn unreadable(
    table: &'static str,
    row: &str,
    problem: impl std::fmt::Display,
) -> StoreError {
    StoreError::Unreadable {
        table,
        row: row.to_string(),
        problem: problem.to_string(),
    }
}

/// JSON text of a value about to be stored; one that cannot be written is an error.
pub(crate) fn json<T: serde::Serialize>(what: &'static str, v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Unencodable {
        what,
        problem: e.to_string(),
    })
}
