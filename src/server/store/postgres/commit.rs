//! The write transaction on PostgreSQL: one per batch, holding [`CHAIN_LOCK`] so the replicas'
//! commits form one audit chain; the batch applied whole or, when one of several jobs fails (say
//! on a constraint or a fenced change), again with a savepoint per job so that job alone is
//! rolled back and answered with its error without failing the others; the
//! jobs' audit records appended after the head as the table has it (another replica may have
//! appended since this one last did), a signed checkpoint (replacing the previous one unless
//! that is kept) and a notification of the new head,
//! then COMMIT, which returns once the WAL is flushed (`synchronous_commit` stays on).

use std::time::Duration;

use chrono::Utc;
use postgres::Client;

use super::ops::apply;
use super::sql::{Prepared, Sql};
use super::{connect, CHAIN_LOCK, CHANNEL};
use crate::server::store::backend::Backend;
use crate::server::store::chain::{hash_bytes, superseded, Chain, Head, Link};
use crate::server::store::{Job, Reply, StoreError};

/// How long a write waits for a lock before it fails, as on SQLite.
const WRITE_WAIT: Duration = Duration::from_secs(5);
/// How long the readiness probe waits for a lock or its statement.
const PROBE_WAIT: Duration = Duration::from_secs(1);

/// The write connection, made again when it is lost.
pub struct PgWriter {
    url: String,
    conn: Client,
    prepared: Prepared,
    chain: Chain,
    /// This replica, as its audit rows name it.
    origin: String,
}

impl PgWriter {
    pub(super) fn new(
        url: &str,
        mut conn: Client,
        chain: Chain,
        origin: &str,
    ) -> Result<PgWriter, StoreError> {
        writer_session(&mut conn)?;
        Ok(PgWriter {
            url: url.to_string(),
            conn,
            prepared: Prepared::default(),
            chain,
            origin: origin.to_string(),
        })
    }

    /// A new connection in place of the lost one (its prepared statements went with it).
    fn reconnect(&mut self) -> Result<(), StoreError> {
        let mut conn = connect(&self.url)?;
        writer_session(&mut conn)?;
        self.conn = conn;
        self.prepared = Prepared::default();
        tracing::info!("store writer: reconnected to PostgreSQL");
        Ok(())
    }

    fn connected(&mut self) -> Result<(), StoreError> {
        if self.conn.is_closed() {
            self.reconnect()?;
        }
        Ok(())
    }

    /// One attempt at the batch: whole, or with a savepoint per job when `each_alone`. `None`
    /// when a job of a whole batch of several failed, which undid the transaction.
    fn try_commit(&mut self, jobs: &[Job], each_alone: bool) -> Result<Option<Answers>, Attempt> {
        let mut tx = self.conn.transaction().map_err(Attempt::NotStarted)?;
        Sql::new(&mut tx, &mut self.prepared)
            .execute("SELECT pg_advisory_xact_lock($1)", &[&CHAIN_LOCK])
            .map_err(Attempt::NotStarted)?;
        // Read under the lock: the head is whatever the last commit of any replica left.
        let start = head(&mut Sql::new(&mut tx, &mut self.prepared))?;
        let mut head = start.clone();
        let mut results = Vec::with_capacity(jobs.len());
        if !each_alone {
            for job in jobs {
                let mut sql = Sql::new(&mut tx, &mut self.prepared);
                match apply_job(&mut sql, &self.chain, &self.origin, &mut head, job) {
                    Ok(reply) => results.push(Ok(reply)),
                    Err(e) => {
                        tx.rollback()?;
                        if jobs.len() > 1 {
                            return Ok(None);
                        }
                        log_failed(job, &e);
                        return Ok(Some(vec![Err(e)]));
                    }
                }
            }
        } else {
            for job in jobs {
                let before = head.clone();
                let mut sp = tx.transaction()?;
                let result = {
                    let mut sql = Sql::new(&mut sp, &mut self.prepared);
                    apply_job(&mut sql, &self.chain, &self.origin, &mut head, job)
                };
                match result {
                    Ok(reply) => {
                        sp.commit()?;
                        results.push(Ok(reply));
                    }
                    Err(e) => {
                        sp.rollback()?;
                        head = before;
                        log_failed(job, &e);
                        results.push(Err(e));
                    }
                }
            }
        }
        if head.seq > start.seq {
            let c = self.chain.checkpoint(&head)?;
            // The checkpoint, and the notification of the new head to the other replicas'
            // change feeds (delivered on commit), in one round trip.
            // The previous checkpoint is at the head this batch started from (every commit
            // that appends checkpoints its head); seq 0 matches no row.
            let superseded = superseded(start.seq, head.seq).unwrap_or(0) as i64;
            Sql::new(&mut tx, &mut self.prepared).query(
                "WITH c AS (INSERT INTO checkpoints (seq, head, signature, time)
                            VALUES ($1, $2, $3, $4)),
                      d AS (DELETE FROM checkpoints WHERE seq = $7)
                 SELECT pg_notify($5, $6)",
                &[
                    &(c.seq as i64),
                    &c.head,
                    &c.signature,
                    &c.time,
                    &CHANNEL,
                    &head.seq.to_string(),
                    &superseded,
                ],
            )?;
        }
        tx.commit()?;
        Ok(Some(results))
    }

    /// The batch whole (no savepoint costs two round trips per job), and only if one of several
    /// jobs fails, again with a savepoint per job so that one alone is undone.
    fn whole_or_each(&mut self, jobs: &[Job]) -> Result<Answers, Attempt> {
        match self.try_commit(jobs, false)? {
            Some(results) => Ok(results),
            None => Ok(self
                .try_commit(jobs, true)?
                .expect("a batch with a savepoint per job is answered")),
        }
    }
}

type Answers = Vec<Result<Reply, StoreError>>;

impl Backend for PgWriter {
    fn commit(&mut self, jobs: &[Job]) -> Result<Vec<Result<Reply, StoreError>>, StoreError> {
        self.connected()?;
        match self.whole_or_each(jobs) {
            Ok(results) => Ok(results),
            // Lost while idle (a restarted database, a proxy's idle timeout): nothing of this
            // batch reached the database, so it is sent once more on a new connection.
            Err(Attempt::NotStarted(e)) if lost(&self.conn, &e) => {
                tracing::warn!("store writer: the connection was lost ({e}); reconnecting");
                self.reconnect()?;
                self.whole_or_each(jobs).map_err(StoreError::from)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Writes one meta row and commits, waiting at most [`PROBE_WAIT`] for a lock or the
    /// statement; a lost connection is made again first.
    fn probe(&mut self) -> Result<(), StoreError> {
        self.connected()?;
        match probe_once(&mut self.conn) {
            Err(StoreError::Postgres(e)) if lost(&self.conn, &e) => {
                self.reconnect()?;
                probe_once(&mut self.conn)
            }
            result => result,
        }
    }

    fn close(&mut self) {}
}

/// How a commit failed: before anything of the batch was sent, or later (when whether the
/// COMMIT took effect may be unknown, so it is never sent again).
enum Attempt {
    NotStarted(postgres::Error),
    Failed(StoreError),
}

impl From<postgres::Error> for Attempt {
    fn from(e: postgres::Error) -> Self {
        Attempt::Failed(e.into())
    }
}

impl From<StoreError> for Attempt {
    fn from(e: StoreError) -> Self {
        Attempt::Failed(e)
    }
}

impl From<Attempt> for StoreError {
    fn from(a: Attempt) -> Self {
        match a {
            Attempt::NotStarted(e) => e.into(),
            Attempt::Failed(e) => e,
        }
    }
}

/// Whether `e` means the connection is gone, rather than a statement failing on it: closed,
/// failing to send or receive, or ended by the server (a FATAL error, as when the database
/// shuts down or an administrator terminates the session, which may arrive before the client
/// has noticed the connection closing).
fn lost(conn: &Client, e: &postgres::Error) -> bool {
    conn.is_closed()
        || e.is_closed()
        || std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
        || e.as_db_error()
            .is_some_and(|db| matches!(db.severity(), "FATAL" | "PANIC"))
        || e.code()
            .is_some_and(|c| c.code().starts_with("08") || c.code().starts_with("57P"))
}

/// The writer's session settings. A database or role may default `synchronous_commit` to
/// `off`, which answers before the WAL is flushed: this connection turns it back on, so nothing
/// is acknowledged that a crash of the database could lose. (`local`, `remote_write`,
/// `remote_apply` and `on` all flush locally first and are kept.) And a write waits at most
/// [`WRITE_WAIT`] for a lock (the chain lock another replica holds, a row an administrator
/// locked), then fails, as on SQLite: the callers get a 503, not a request that never ends.
fn writer_session(conn: &mut Client) -> Result<(), StoreError> {
    conn.batch_execute(&format!(
        "SET lock_timeout = '{}ms'",
        WRITE_WAIT.as_millis()
    ))?;
    let setting: String = conn.query_one("SHOW synchronous_commit", &[])?.get(0);
    if setting == "off" {
        tracing::warn!("PostgreSQL has synchronous_commit = off; the store writer sets it on");
        conn.batch_execute("SET synchronous_commit = on")?;
    }
    Ok(())
}

/// Logs a job that failed: at debug when another replica changed its escalation first (its
/// caller re-reads and decides again, nothing failed), as an error otherwise.
fn log_failed(job: &Job, e: &StoreError) {
    match e {
        StoreError::Conflict(_) => tracing::debug!(op = job.op.name(), "store job fenced off: {e}"),
        _ => tracing::error!(op = job.op.name(), "store job failed: {e}"),
    }
}

/// The last record as the table has it.
fn head(sql: &mut Sql<'_, '_>) -> Result<Head, StoreError> {
    let row = sql.query_opt("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", &[])?;
    Ok(match row {
        Some(r) => Head {
            seq: r.get::<_, i64>(0) as u64,
            hash: hex::encode(r.get::<_, &[u8]>(1)),
        },
        None => Head::genesis(),
    })
}

fn apply_job(
    sql: &mut Sql<'_, '_>,
    chain: &Chain,
    origin: &str,
    head: &mut Head,
    job: &Job,
) -> Result<Reply, StoreError> {
    let (reply, implied) = apply(sql, &job.op)?;
    for entry in job.audit.iter().chain(&implied) {
        append(sql, &chain.link(head, entry)?, origin)?;
    }
    Ok(reply)
}

fn append(sql: &mut Sql<'_, '_>, link: &Link, origin: &str) -> Result<(), StoreError> {
    // The record before holds the link; the agent and verdict are read from the body
    // (schema 4).
    let hash = hash_bytes(&link.hash)?;
    sql.execute(
        "INSERT INTO audit (seq, time, kind, actor, body, hash, origin)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &(link.seq as i64),
            &link.time,
            &link.event.kind(),
            &link.event.actor(),
            &link.body,
            &&hash[..],
            &origin,
        ],
    )?;
    Ok(())
}

fn probe_once(conn: &mut Client) -> Result<(), StoreError> {
    let wait = PROBE_WAIT.as_millis();
    let mut tx = conn.transaction()?;
    tx.batch_execute(&format!(
        "SET LOCAL lock_timeout = {wait}; SET LOCAL statement_timeout = {wait}"
    ))?;
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('ready_probe', $1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &[&Utc::now().to_rfc3339()],
    )?;
    tx.commit()?;
    Ok(())
}
