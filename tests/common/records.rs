//! The test server's records from outside the server, whichever store it keeps them in: as a
//! SQLite file to read and verify (the live `gavel.db`, or a copy of the PostgreSQL store as
//! `gavel audit verify --store` makes one), the words that point `gavel audit verify` at them,
//! and a hold on the store's write lock.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;

use gavel::server::store::db_path;
use gavel::server::store::postgres::export::{snapshot, Snapshot};
use gavel::server::store::postgres::CHAIN_LOCK;

use super::postgres::with_client;
use super::Env;

/// The records as a SQLite file. A copy of a PostgreSQL store is removed when this is dropped:
/// keep it while its path is used.
pub enum Records {
    /// The server's own `gavel.db` (a SQLite store).
    Live(PathBuf),
    /// A copy of the PostgreSQL store as of one commit.
    Copy(Snapshot),
}

impl Records {
    /// The SQLite file.
    pub fn path(&self) -> PathBuf {
        match self {
            Records::Live(data) => db_path(data),
            Records::Copy(s) => s.path().to_path_buf(),
        }
    }

    /// The directory that holds [`Records::path`] as its `gavel.db`: what `--data` takes.
    pub fn dir(&self) -> PathBuf {
        match self {
            Records::Live(data) => data.clone(),
            Records::Copy(s) => s.path().parent().expect("the copy's directory").into(),
        }
    }
}

/// A hold on the store's write lock from outside the server, as another writer would have it:
/// SQLite's (`BEGIN EXCLUSIVE` on the file), or on PostgreSQL the advisory lock every write
/// transaction takes first ([`CHAIN_LOCK`]). Released by [`WriteLock::release`] or on drop.
pub enum WriteLock {
    Sqlite(rusqlite::Connection),
    Postgres {
        release: mpsc::Sender<()>,
        holder: JoinHandle<()>,
    },
}

impl WriteLock {
    /// Lets go of the lock (dropping it does too, without waiting).
    pub fn release(self) {
        match self {
            WriteLock::Sqlite(c) => c.execute_batch("ROLLBACK").expect("ROLLBACK"),
            WriteLock::Postgres { release, holder } => {
                release.send(()).expect("the lock holder waits");
                holder.join().expect("the lock holder's thread");
            }
        }
    }
}

/// The store refusing writes, so that the server's next write fails: SQLite's write lock held
/// (the store gives up waiting for it after 5 s), or on PostgreSQL a constraint no new audit
/// record meets (PostgreSQL's writer waits for its lock as long as it takes, so holding that
/// lock would not make a write fail). Lifted by [`FailingWrites::lift`].
pub enum FailingWrites {
    Sqlite(WriteLock),
    Postgres(String),
}

/// The constraint that refuses every new audit record.
const REFUSE: &str = "gavel_test_refuses_writes";

impl FailingWrites {
    pub fn lift(self) {
        match self {
            FailingWrites::Sqlite(lock) => lock.release(),
            FailingWrites::Postgres(url) => with_client(&url, |c| {
                c.batch_execute(&format!("ALTER TABLE audit DROP CONSTRAINT {REFUSE}"))
                    .expect("drop the refusing constraint")
            }),
        }
    }
}

impl Env {
    /// The records as they are now, to read or verify; stop the server first for a state
    /// that no write is changing.
    pub fn records(&self) -> Records {
        match &self.store {
            None => Records::Live(self.data.clone()),
            Some(url) => {
                // The synchronous client runs a runtime of its own: not on the test's task.
                let url = url.clone();
                let copy = std::thread::spawn(move || snapshot(&url))
                    .join()
                    .expect("the copying thread")
                    .expect("a copy of the PostgreSQL store");
                Records::Copy(copy)
            }
        }
    }

    /// The arguments that point `gavel audit verify` at the server's records: `--data DIR`,
    /// or `--store URL`.
    pub fn verify_args(&self) -> [OsString; 2] {
        match &self.store {
            None => ["--data".into(), self.data.clone().into()],
            Some(url) => ["--store".into(), url.into()],
        }
    }

    /// Takes the store's write lock, as another process would; returns once it is held.
    pub fn hold_write_lock(&self) -> WriteLock {
        match &self.store {
            None => {
                let c = rusqlite::Connection::open(db_path(&self.data)).expect("open gavel.db");
                c.execute_batch("BEGIN EXCLUSIVE").expect("BEGIN EXCLUSIVE");
                WriteLock::Sqlite(c)
            }
            Some(url) => {
                let url = url.clone();
                let (held, is_held) = mpsc::channel();
                let (release, released) = mpsc::channel::<()>();
                let holder = std::thread::spawn(move || {
                    let mut c = postgres::Client::connect(&url, postgres::NoTls)
                        .expect("connect to the test database");
                    c.execute("SELECT pg_advisory_lock($1)", &[&CHAIN_LOCK])
                        .expect("the chain lock");
                    held.send(()).expect("the test waits for the lock");
                    // Until released, or until the test is gone.
                    let _ = released.recv();
                    c.execute("SELECT pg_advisory_unlock($1)", &[&CHAIN_LOCK])
                        .expect("unlock the chain lock");
                });
                is_held.recv().expect("the chain lock is held");
                WriteLock::Postgres { release, holder }
            }
        }
    }

    /// Makes the store refuse the server's next writes until lifted.
    pub fn fail_writes(&self) -> FailingWrites {
        match &self.store {
            None => FailingWrites::Sqlite(self.hold_write_lock()),
            Some(url) => {
                with_client(url, |c| {
                    c.batch_execute(&format!(
                        "ALTER TABLE audit ADD CONSTRAINT {REFUSE} CHECK (false) NOT VALID"
                    ))
                    .expect("add the refusing constraint")
                });
                FailingWrites::Postgres(url.clone())
            }
        }
    }
}
