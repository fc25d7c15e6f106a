//! A copy of a PostgreSQL store in a temporary SQLite file, for `gavel audit verify --store`:
//! the verifier then checks exactly what it checks in a data dir (the chain, every checkpoint,
//! the state tables against the log), so both backends detect the same tampering.
//!
//! Every row of every table is copied as stored, in one read-only snapshot (REPEATABLE READ),
//! so a store the replicas are writing is copied as of one commit. Only `audit.origin` (which
//! replica wrote a record; not hashed) is left out. Before its schema 4 a PostgreSQL store kept
//! each audit record's link, its hash as hex and its typed columns: the copy of such a store
//! keeps them so, and the verifier checks all three where a table has them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use postgres::fallible_iterator::FallibleIterator;
use postgres::types::Type;
use postgres::{IsolationLevel, Row};
use rusqlite::types::Value;

use super::{connect, redacted, schema};
use crate::server::store::error::unreadable;
use crate::server::store::{sqlite, StoreError};

/// The audit table's columns before schema 4 ([`sqlite::schema::LINKED_AUDIT_COLUMNS`]).
const LINKED_AUDIT: &str =
    "seq, time, kind, actor, body, prev_hash, hash, agent, tool, action, escalation, verdict";

/// Each table and the columns the copy gives it: SQLite's schema at its current version.
const TABLES: &[(&str, &str)] = &[
    ("meta", "key, value"),
    ("audit", "seq, time, kind, actor, body, hash"),
    ("checkpoints", "seq, head, signature, time"),
    (
        "actions",
        "seq, id, agent, session, tool, effect, rule, reason, escalation, args, at, grant_id, \
         cost, governed",
    ),
    ("escalations", "id, action, state, body, plan, resolved_at"),
    ("killswitches", "scope, body"),
    ("flagged", "action, reviewed, body, at"),
    ("used_signatures", "signature"),
    (
        "idempotency_keys",
        "agent, key, fingerprint, action, created_at",
    ),
    (
        "grants",
        "id, body, expires_at, revoked_at, uses, last_used_at",
    ),
];

/// The SQLite copy; its directory is removed when this is dropped.
pub struct Snapshot {
    dir: PathBuf,
    path: PathBuf,
}

impl Snapshot {
    /// The copy's database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Copies the store at `url` into a new SQLite file in the system's temporary directory.
/// Uses the synchronous client: call it from a plain thread, not an async task.
pub fn snapshot(url: &str) -> Result<Snapshot, StoreError> {
    let name = redacted(url);
    let mut pg = connect(url)?;
    let mut tx = pg
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()?;
    let linked = check_version(&mut tx, &name)? < 4;

    let snapshot = Snapshot::new()?;
    let mut lite = rusqlite::Connection::open(&snapshot.path)?;
    // A scratch copy: nothing to recover after a crash.
    lite.pragma_update(None, "journal_mode", "OFF")?;
    lite.pragma_update(None, "synchronous", "OFF")?;
    sqlite::schema::migrate(&mut lite, &snapshot.path)?;
    if linked {
        lite.execute_batch(&format!(
            "DROP TABLE audit; CREATE TABLE audit ({});",
            sqlite::schema::LINKED_AUDIT_COLUMNS
        ))?;
    }
    let out = lite.transaction()?;
    for &(table, columns) in TABLES {
        let columns = if table == "audit" && linked {
            LINKED_AUDIT
        } else {
            columns
        };
        let marks = (1..=columns.split(',').count())
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut insert =
            out.prepare(&format!("INSERT INTO {table} ({columns}) VALUES ({marks})"))?;
        let mut rows = tx.query_raw(
            &format!("SELECT {columns} FROM {table}"),
            std::iter::empty::<&(dyn postgres::types::ToSql + Sync)>(),
        )?;
        while let Some(row) = rows.next()? {
            let values = (0..row.len())
                .map(|i| value(table, &row, i))
                .collect::<Result<Vec<_>, _>>()?;
            insert.execute(rusqlite::params_from_iter(values))?;
        }
    }
    out.commit()?;
    tx.commit()?;
    Ok(snapshot)
}

impl Snapshot {
    /// A new private directory for the copy.
    fn new() -> Result<Snapshot, StoreError> {
        let mut tag = [0u8; 8];
        getrandom::fill(&mut tag).map_err(|e| StoreError::DataDir {
            dir: std::env::temp_dir(),
            source: Arc::new(std::io::Error::other(e.to_string())),
        })?;
        let dir = std::env::temp_dir().join(format!(
            "gavel-verify-{}-{}",
            std::process::id(),
            hex::encode(tag)
        ));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&dir).map_err(|e| StoreError::DataDir {
            dir: dir.clone(),
            source: Arc::new(e),
        })?;
        Ok(Snapshot {
            path: dir.join("gavel.db"),
            dir,
        })
    }
}

/// The store's schema version. It must be one this gavel knows: an empty database, or one from
/// a newer gavel, is said so rather than copied.
fn check_version(tx: &mut postgres::Transaction<'_>, name: &str) -> Result<u32, StoreError> {
    let has_meta = tx
        .query_one("SELECT to_regclass('meta') IS NOT NULL", &[])?
        .get::<_, bool>(0);
    let version = if has_meta {
        tx.query_opt("SELECT value FROM meta WHERE key = 'schema_version'", &[])?
            .map(|r| r.get::<_, String>(0))
    } else {
        None
    };
    let Some(version) = version else {
        return Err(unreadable(
            "meta",
            "schema_version",
            format!("there is none: {name} holds no gavel store"),
        ));
    };
    let found: u32 = version
        .parse()
        .map_err(|_| unreadable("meta", "schema_version", &version))?;
    if found > schema::VERSION {
        return Err(StoreError::NewerSchema {
            path: name.into(),
            found,
            supported: schema::VERSION,
        });
    }
    Ok(found)
}

/// Column `i` of `row` as SQLite stores it.
fn value(table: &'static str, row: &Row, i: usize) -> Result<Value, StoreError> {
    let column = &row.columns()[i];
    let v = match *column.type_() {
        Type::TEXT | Type::VARCHAR => row.try_get::<_, Option<String>>(i)?.map(Value::Text),
        Type::INT8 => row.try_get::<_, Option<i64>>(i)?.map(Value::Integer),
        Type::INT4 => row
            .try_get::<_, Option<i32>>(i)?
            .map(|v| Value::Integer(v.into())),
        Type::FLOAT8 => row.try_get::<_, Option<f64>>(i)?.map(Value::Real),
        Type::BYTEA => row.try_get::<_, Option<Vec<u8>>>(i)?.map(Value::Blob),
        ref other => {
            return Err(unreadable(
                table,
                column.name(),
                format!("the column has type {other}, which the copy does not know"),
            ))
        }
    };
    Ok(v.unwrap_or(Value::Null))
}
