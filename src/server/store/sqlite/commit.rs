//! The write transaction: one per batch, the batch applied whole or, when a job fails (say on a
//! constraint), again with one savepoint per job so that job alone is rolled back and answered
//! with its error without failing the others; the
//! jobs' audit records appended to the chain, and a signed checkpoint before the commit, which
//! replaces the previous one unless that one is kept ([`superseded`]).

use chrono::Utc;
use rusqlite::{params, Connection, Transaction, TransactionBehavior};

use super::checkpointer::Checkpointer;
use super::ops::apply;
use super::{PROBE_WAIT, WRITE_WAIT};
use crate::server::store::backend::Backend;
use crate::server::store::chain::{hash_bytes, superseded, Chain, Head, Link};
use crate::server::store::{Job, Reply, StoreError};

pub struct SqliteWriter {
    conn: Connection,
    chain: Chain,
    head: Head,
    checkpointer: Checkpointer,
}

impl SqliteWriter {
    pub(super) fn new(
        conn: Connection,
        chain: Chain,
        head: Head,
        checkpointer: Checkpointer,
    ) -> SqliteWriter {
        SqliteWriter {
            conn,
            chain,
            head,
            checkpointer,
        }
    }
}

impl Backend for SqliteWriter {
    fn commit(&mut self, jobs: &[Job]) -> Result<Vec<Result<Reply, StoreError>>, StoreError> {
        let mut tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut results = Vec::with_capacity(jobs.len());
        let mut head = self.head.clone();
        // First the whole batch as one: a savepoint per job costs a copy of every page it
        // touches, and jobs rarely fail. If one does, that is undone and the batch is done
        // again job by job, each in its own savepoint.
        for job in jobs {
            match apply_job(&tx, &self.chain, &mut head, job) {
                Ok(reply) => results.push(Ok(reply)),
                Err(_) => break,
            }
        }
        if results.len() < jobs.len() {
            tx.rollback()?;
            tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            results.clear();
            head = self.head.clone();
            each_alone(&mut tx, &self.chain, jobs, &mut head, &mut results)?;
        }
        if head.seq > self.head.seq {
            let c = self.chain.checkpoint(&head)?;
            tx.prepare_cached(
                "INSERT INTO checkpoints (seq, head, signature, time) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![c.seq as i64, c.head, c.signature, c.time])?;
            if let Some(prev) = superseded(self.head.seq, head.seq) {
                tx.prepare_cached("DELETE FROM checkpoints WHERE seq = ?1")?
                    .execute([prev as i64])?;
            }
        }
        tx.commit()?;
        self.head = head;
        self.checkpointer.committed();
        Ok(results)
    }

    fn after_batch(&mut self, waiting: bool) {
        self.checkpointer.catch_up(&self.conn, waiting);
    }

    /// Takes the write lock (waiting at most `PROBE_WAIT`), writes one meta row and commits.
    fn probe(&mut self) -> Result<(), StoreError> {
        self.conn.busy_timeout(PROBE_WAIT)?;
        let now = Utc::now().to_rfc3339();
        let result = (|| {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('ready_probe', ?1)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [now],
            )?;
            tx.commit()
        })();
        self.conn.busy_timeout(WRITE_WAIT)?;
        result.map_err(StoreError::from)
    }

    /// Folds the WAL into the database file, so a stopped server leaves one self-contained
    /// file (what a backup or a copy of gavel.db expects).
    fn close(&mut self) {
        self.checkpointer.stop();
        if let Err(e) = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        {
            tracing::warn!("final WAL checkpoint failed: {e}");
        }
    }
}

/// The jobs each in its own savepoint: one that fails is undone and answered with its error,
/// and the chain head goes back to before it.
fn each_alone(
    tx: &mut Transaction<'_>,
    chain: &Chain,
    jobs: &[Job],
    head: &mut Head,
    results: &mut Vec<Result<Reply, StoreError>>,
) -> Result<(), StoreError> {
    for job in jobs {
        let before = head.clone();
        let mut sp = tx.savepoint()?;
        match apply_job(&sp, chain, head, job) {
            Ok(reply) => {
                sp.commit()?;
                results.push(Ok(reply));
            }
            Err(e) => {
                sp.rollback()?;
                drop(sp);
                *head = before;
                tracing::error!(op = job.op.name(), "store job failed: {e}");
                results.push(Err(e));
            }
        }
    }
    Ok(())
}

fn apply_job(
    conn: &Connection,
    chain: &Chain,
    head: &mut Head,
    job: &Job,
) -> Result<Reply, StoreError> {
    let (reply, implied) = apply(conn, &job.op)?;
    for entry in job.audit.iter().chain(&implied) {
        append(conn, &chain.link(head, entry)?)?;
    }
    Ok(reply)
}

fn append(conn: &Connection, link: &Link) -> Result<(), StoreError> {
    // The record before holds the link; the typed columns are read from the body (schema 7).
    conn.prepare_cached(
        "INSERT INTO audit (seq, time, kind, actor, body, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        link.seq as i64,
        link.time,
        link.event.kind(),
        link.event.actor(),
        link.body,
        hash_bytes(&link.hash)?,
    ])?;
    Ok(())
}
