//! A SQLite store and a fresh PostgreSQL database holding the same rows, with a reader on
//! each: what one answers, the other must.
//!
//! The PostgreSQL database is made on the test server (`GAVEL_TEST_POSTGRES`, else the local
//! one, as `tests/common/postgres.rs`), with an ICU `en-US` collation where the server has one:
//! there `B` sorts after `a`, unlike SQLite, so an ordering or a cursor that forgot the "C"
//! collation answers differently.

use postgres::types::{ToSql, Type};
use postgres::{Client, NoTls};
use rusqlite::types::Value;

use crate::protocol::PersonKey;
pub use crate::server::store::postgres::test_db::{server_url, TestDb};
use crate::server::store::postgres::PgReader;
use crate::server::store::sqlite::{self, SqliteReader, SqliteWriter};

/// The tables both backends share; `audit` gains its `origin` in PostgreSQL.
const TABLES: [&str; 9] = [
    "actions",
    "escalations",
    "killswitches",
    "flagged",
    "used_signatures",
    "audit",
    "checkpoints",
    "idempotency_keys",
    "grants",
];

/// A new database, collating unlike SQLite where it can, migrated to the current schema.
pub fn fresh_database() -> TestDb {
    let db = TestDb::fresh_icu();
    db.migrated();
    db
}

/// The two stores.
pub struct Pair {
    pub dir: tempfile::TempDir,
    pub writer: SqliteWriter,
    pub sqlite: SqliteReader,
    pub pg: PgReader,
    /// Last: dropped after the reader.
    pub db: TestDb,
}

impl Pair {
    pub fn new() -> Pair {
        let dir = tempfile::tempdir().unwrap();
        let (writer, mut readers) =
            sqlite::open(dir.path(), PersonKey::generate("server"), 1).unwrap();
        let db = fresh_database();
        let pg = PgReader::connect(&db.url).unwrap();
        Pair {
            sqlite: readers.remove(0),
            dir,
            writer,
            pg,
            db,
        }
    }

    /// A connection to the SQLite file, to change rows behind the writer's back.
    pub fn sqlite_conn(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(sqlite::db_path(self.dir.path())).unwrap()
    }

    pub fn pg_conn(&self) -> Client {
        Client::connect(&self.db.url, NoTls).unwrap()
    }

    /// Runs `sql` (no parameters) on both databases.
    pub fn both(&self, sql: &str) {
        self.sqlite_conn().execute_batch(sql).unwrap();
        self.pg_conn().batch_execute(sql).unwrap();
    }

    /// Copies every row of the SQLite store into the empty PostgreSQL database, each value
    /// as the column's type there.
    pub fn copy(&self) {
        let from = self.sqlite_conn();
        let mut to = self.pg_conn();
        for table in TABLES {
            let mut select = from.prepare(&select_all(table)).unwrap();
            let mut columns: Vec<String> = select
                .column_names()
                .into_iter()
                .map(String::from)
                .collect();
            let read = columns.len();
            if table == "audit" {
                columns.push("origin".into());
            }
            let marks: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
            let insert = to
                .prepare(&format!(
                    "INSERT INTO {table} ({}) VALUES ({})",
                    columns.join(", "),
                    marks.join(", ")
                ))
                .unwrap();
            let types = insert.params().to_vec();
            let mut rows = select.query([]).unwrap();
            while let Some(row) = rows.next().unwrap() {
                let mut values: Vec<Box<dyn ToSql + Sync>> = (0..read)
                    .map(|i| as_pg(table, &columns[i], &types[i], row.get(i).unwrap()))
                    .collect();
                values.extend((read < columns.len()).then(|| Box::new("sqlite") as _));
                let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v.as_ref()).collect();
                to.execute(&insert, &refs).unwrap();
            }
        }
        let key: String = from
            .query_row(
                "SELECT value FROM meta WHERE key = 'server_public_key'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        to.execute(
            "INSERT INTO meta (key, value) VALUES ('server_public_key', $1)",
            &[&key],
        )
        .unwrap();
    }
}

/// Every column of `table` that both stores keep: all of them, but SQLite's audit table's
/// generated columns (PostgreSQL reads those from the body as its queries run).
fn select_all(table: &str) -> String {
    if table == "audit" {
        return "SELECT seq, time, kind, actor, body, hash FROM audit".into();
    }
    format!("SELECT * FROM {table}")
}

fn as_pg(table: &str, column: &str, ty: &Type, v: Value) -> Box<dyn ToSql + Sync> {
    match (ty, v) {
        (&Type::INT8, Value::Integer(n)) => Box::new(n),
        (&Type::INT8, Value::Null) => Box::new(None::<i64>),
        (&Type::FLOAT8, Value::Real(x)) => Box::new(x),
        (&Type::FLOAT8, Value::Integer(n)) => Box::new(n as f64),
        (&Type::FLOAT8, Value::Null) => Box::new(None::<f64>),
        (&Type::TEXT, Value::Text(s)) => Box::new(s),
        (&Type::TEXT, Value::Null) => Box::new(None::<String>),
        (&Type::BYTEA, Value::Blob(b)) => Box::new(b),
        (ty, v) => panic!("{table}.{column}: {v:?} has no {ty} in PostgreSQL"),
    }
}
