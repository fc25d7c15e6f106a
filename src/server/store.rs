//! The embedded store: SQLite in WAL mode, one writer thread with group commit.
//!
//! Every write (an action, escalation change, decision, flip, review, audit record) goes through
//! the writer as an [`Op`]. The writer takes every op waiting, applies them all in one
//! transaction, appends their audit records and a signed checkpoint, commits (one fsync), and
//! only then answers each caller: nothing is acknowledged before it is durable, and concurrent
//! requests share an fsync instead of queueing for one each.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use chrono::Utc;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::oneshot;

use super::audit::{record_hash, AuditEntry, CheckpointBody, GENESIS};
use crate::protocol::signing::Purpose;
use crate::protocol::{
    ActionRecord, ActionSummary, Effect, Escalation, EscalationState, FlaggedAction, KillSwitch,
    PersonKey, PriorCall,
};

/// Most ops a single transaction takes.
const MAX_BATCH: usize = 1024;

#[derive(Debug, thiserror::Error, Clone)]
pub enum StoreError {
    #[error("storage failed: {0}")]
    Sqlite(String),
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
}

struct Job {
    op: Op,
    audit: Vec<AuditEntry>,
    reply: oneshot::Sender<Result<Reply, StoreError>>,
}

enum Msg {
    Job(Box<Job>),
    Shutdown(oneshot::Sender<()>),
}

/// Handle to the writer thread plus a connection for reads.
#[derive(Clone)]
pub struct Store {
    tx: mpsc::Sender<Msg>,
    reader: Arc<Mutex<Connection>>,
    pub stats: Arc<StoreStats>,
}

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
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: a commit is on disk before we answer, even across power loss.
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
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
                return Err(StoreError::Sqlite(format!(
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
        let writer_stats = stats.clone();
        std::thread::Builder::new()
            .name("gavel-store".into())
            .spawn(move || {
                Writer {
                    stats: writer_stats,
                    conn,
                    key: server_key,
                    head,
                }
                .run(rx)
            })
            .map_err(|e| StoreError::Sqlite(e.to_string()))?;
        Ok(Store {
            tx,
            reader: Arc::new(Mutex::new(reader)),
            stats,
        })
    }

    /// Makes `op` and its audit records durable, then answers.
    pub async fn write(&self, op: Op, audit: Vec<AuditEntry>) -> Result<Reply, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Msg::Job(Box::new(Job { op, audit, reply })))
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Shutdown(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    /// Runs a read on the reader connection off the async threads.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    {
        let reader = self.reader.clone();
        tokio::task::spawn_blocking(move || {
            let conn = reader.lock().map_err(|_| StoreError::Closed)?;
            f(&conn).map_err(StoreError::from)
        })
        .await
        .map_err(|_| StoreError::Closed)?
    }
}

struct Writer {
    stats: Arc<StoreStats>,
    conn: Connection,
    key: PersonKey,
    head: (u64, String),
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Msg>) {
        let mut shutdown: Option<oneshot::Sender<()>> = None;
        while shutdown.is_none() {
            let first = match rx.recv() {
                Ok(m) => m,
                Err(_) => break,
            };
            let mut batch = Vec::new();
            let mut take = |m: Msg, batch: &mut Vec<Job>| match m {
                Msg::Job(j) => batch.push(*j),
                Msg::Shutdown(s) => shutdown = Some(s),
            };
            take(first, &mut batch);
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(m) => take(m, &mut batch),
                    Err(_) => break,
                }
            }
            if !batch.is_empty() {
                self.commit(batch);
            }
        }
        // Fold the WAL into the database file, so a stopped server leaves one self-contained
        // file (what a backup or a copy of gavel.db expects).
        if let Err(e) = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        {
            tracing::warn!("final WAL checkpoint failed: {e}");
        }
        if let Some(s) = shutdown {
            let _ = s.send(());
        }
    }

    /// One transaction for the whole batch; each job in its own savepoint, so a job that fails
    /// (say, a constraint) is rolled back and answered with its error without failing the others.
    fn commit(&mut self, batch: Vec<Job>) {
        let result = (|| -> Result<Vec<Result<Reply, StoreError>>, StoreError> {
            let mut tx = self.conn.transaction()?;
            let mut results = Vec::with_capacity(batch.len());
            let mut head = self.head.clone();
            for job in &batch {
                let before = head.clone();
                let mut sp = tx.savepoint()?;
                match apply_job(&sp, &mut head, job) {
                    Ok(reply) => {
                        sp.commit()?;
                        results.push(Ok(reply));
                    }
                    Err(e) => {
                        sp.rollback()?;
                        drop(sp);
                        head = before;
                        results.push(Err(e));
                    }
                }
            }
            if head.0 > self.head.0 {
                let signature = self.key.sign(
                    Purpose::Checkpoint,
                    &CheckpointBody {
                        seq: head.0,
                        head: &head.1,
                    },
                );
                tx.execute(
                    "INSERT INTO checkpoints (seq, head, signature, time) VALUES (?1, ?2, ?3, ?4)",
                    params![head.0 as i64, head.1, signature, Utc::now().to_rfc3339()],
                )?;
            }
            tx.commit()?;
            self.head = head;
            Ok(results)
        })();
        match result {
            Ok(results) => {
                self.stats.commits.fetch_add(1, Ordering::Relaxed);
                self.stats
                    .ops
                    .fetch_add(results.len() as u64, Ordering::Relaxed);
                for (job, result) in batch.into_iter().zip(results) {
                    let _ = job.reply.send(result);
                }
            }
            Err(e) => {
                tracing::error!("store commit failed: {e}");
                for job in batch {
                    let _ = job.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

fn apply_job(conn: &Connection, head: &mut (u64, String), job: &Job) -> Result<Reply, StoreError> {
    let reply = apply(conn, &job.op)?;
    for entry in &job.audit {
        append_audit(conn, head, entry)?;
    }
    if let (Op::Action(_), Reply::Escalation(esc)) = (&job.op, &reply) {
        // The escalation's audit record carries the history it was created with.
        append_audit(conn, head, &escalation_created_entry(esc))?;
    }
    Ok(reply)
}

pub fn escalation_created_entry(esc: &Escalation) -> AuditEntry {
    AuditEntry::new(
        "escalation_created",
        esc.action.agent.clone(),
        serde_json::json!({
            "escalation": esc.id, "action": esc.action.id, "agent": esc.action.agent,
            "tool": esc.action.tool, "digest": esc.digest, "rule": esc.rule.id,
            "group": esc.group, "approvals_required": esc.approvals_required,
            "deadline": esc.deadline, "history": esc.history.iter().map(|h| &h.action).collect::<Vec<_>>(),
        }),
    )
}

fn append_audit(
    conn: &Connection,
    head: &mut (u64, String),
    e: &AuditEntry,
) -> Result<(), StoreError> {
    let seq = head.0 + 1;
    let time = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let hash = record_hash(&head.1, seq, &time, e.kind, &e.actor, &e.body);
    conn.prepare_cached(
        "INSERT INTO audit (seq, time, kind, actor, body, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![seq as i64, time, e.kind, e.actor, json(&e.body), head.1, hash])?;
    *head = (seq, hash);
    Ok(())
}

fn save_escalation(
    conn: &Connection,
    esc: &Escalation,
    plan: Option<&ExpiryPlan>,
) -> Result<(), StoreError> {
    let state = json(&esc.state).trim_matches('"').to_string();
    let resolved = esc.resolved_at.map(|t| t.to_rfc3339());
    match plan {
        Some(plan) => conn
            .prepare_cached(
                "INSERT INTO escalations (id, action, state, body, plan, resolved_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![esc.id, esc.action.id, state, json(esc), json(plan), resolved])?,
        None => conn
            .prepare_cached("UPDATE escalations SET state = ?2, body = ?3, resolved_at = ?4 WHERE id = ?1")?
            .execute(params![esc.id, state, json(esc), resolved])?,
    };
    Ok(())
}

fn apply(tx: &Connection, op: &Op) -> Result<Reply, StoreError> {
    match op {
        Op::Action(write) => {
            let ActionWrite {
                record,
                effect,
                rule,
                reason,
                escalation,
                flagged,
            } = &**write;
            let mut reply = Reply::Done;
            let mut esc_id = None;
            if let Some((esc, plan)) = escalation {
                let mut esc = esc.clone();
                esc.history = last_calls(tx, &record.agent, &record.session, 3)?;
                save_escalation(tx, &esc, Some(plan))?;
                esc_id = Some(esc.id.clone());
                reply = Reply::Escalation(Box::new(esc));
            }
            tx.prepare_cached(
                "INSERT INTO actions (id, agent, session, tool, effect, rule, reason, escalation, record, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                record.id,
                record.agent,
                record.session,
                record.tool,
                effect.as_str(),
                rule,
                reason,
                esc_id,
                json(record),
                record.submitted_at.to_rfc3339()
            ])?;
            if let Some(f) = flagged {
                tx.prepare_cached(
                    "INSERT INTO flagged (action, reviewed, body, at) VALUES (?1, 0, ?2, ?3)",
                )?
                .execute(params![
                    f.action.id,
                    json(f),
                    f.flagged_at.to_rfc3339()
                ])?;
            }
            Ok(reply)
        }
        Op::Escalation { escalation } => {
            save_escalation(tx, escalation, None)?;
            Ok(Reply::Done)
        }
        Op::KillSwitch {
            switch,
            signature,
            cancelled,
        } => {
            tx.execute(
                "INSERT INTO used_signatures (signature) VALUES (?1)",
                [signature],
            )?;
            tx.execute(
                "INSERT INTO killswitches (scope, body) VALUES (?1, ?2)
                 ON CONFLICT(scope) DO UPDATE SET body = excluded.body",
                params![switch.scope, json(switch)],
            )?;
            for esc in cancelled {
                save_escalation(tx, esc, None)?;
            }
            Ok(Reply::Done)
        }
        Op::FlagReview { flagged, signature } => {
            tx.execute(
                "INSERT INTO used_signatures (signature) VALUES (?1)",
                [signature],
            )?;
            tx.execute(
                "UPDATE flagged SET reviewed = 1, body = ?2 WHERE action = ?1",
                params![flagged.action.id, json(flagged)],
            )?;
            Ok(Reply::Done)
        }
        Op::Audit => Ok(Reply::Done),
    }
}

/// The last `n` calls of a session before now, oldest first.
pub fn last_calls(
    conn: &Connection,
    agent: &str,
    session: &str,
    n: u32,
) -> Result<Vec<PriorCall>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, tool, record, effect, at FROM actions WHERE agent = ?1 AND session = ?2 ORDER BY seq DESC LIMIT ?3",
    )?;
    let mut calls = stmt
        .query_map(params![agent, session, n], |r| {
            let record: String = r.get(2)?;
            let effect: String = r.get(3)?;
            let at: String = r.get(4)?;
            Ok(PriorCall {
                action: r.get(0)?,
                tool: r.get(1)?,
                args: serde_json::from_str::<ActionRecord>(&record)
                    .map(|a| a.args)
                    .unwrap_or(Value::Null),
                verdict: serde_json::from_value(Value::String(effect)).unwrap_or(Effect::Deny),
                at: at.parse().unwrap_or_default(),
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    calls.reverse();
    Ok(calls)
}

/// An action row as the long-poll needs it.
pub struct StoredAction {
    pub agent: String,
    pub effect: Effect,
    pub rule: Option<String>,
    pub reason: String,
    pub escalation: Option<String>,
}

pub fn load_action(conn: &Connection, id: &str) -> Result<Option<StoredAction>, rusqlite::Error> {
    conn.query_row(
        "SELECT agent, effect, rule, reason, escalation FROM actions WHERE id = ?1",
        [id],
        |r| {
            let effect: String = r.get(1)?;
            Ok(StoredAction {
                agent: r.get(0)?,
                effect: serde_json::from_value(Value::String(effect)).unwrap_or(Effect::Deny),
                rule: r.get(2)?,
                reason: r.get(3)?,
                escalation: r.get(4)?,
            })
        },
    )
    .optional()
}

fn parse_rows<T: for<'de> Deserialize<'de>>(
    conn: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<T>, rusqlite::Error> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map(args, |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for text in rows {
        if let Ok(v) = serde_json::from_str(&text?) {
            out.push(v);
        }
    }
    Ok(out)
}

pub fn load_escalation(
    conn: &Connection,
    id: &str,
) -> Result<Option<(Escalation, ExpiryPlan)>, rusqlite::Error> {
    let row: Option<(String, String)> = conn
        .query_row(
            "SELECT body, plan FROM escalations WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(row.and_then(|(b, p)| {
        Some((
            serde_json::from_str(&b).ok()?,
            serde_json::from_str(&p).ok()?,
        ))
    }))
}

pub fn pending_escalations(
    conn: &Connection,
) -> Result<Vec<(Escalation, ExpiryPlan)>, rusqlite::Error> {
    let mut stmt = conn.prepare("SELECT body, plan FROM escalations WHERE state = 'pending'")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (b, p) = row?;
        if let (Ok(e), Ok(p)) = (serde_json::from_str(&b), serde_json::from_str(&p)) {
            out.push((e, p));
        }
    }
    Ok(out)
}

pub fn recent_resolved(conn: &Connection, limit: u32) -> Result<Vec<Escalation>, rusqlite::Error> {
    parse_rows(
        conn,
        "SELECT body FROM escalations WHERE state != 'pending' ORDER BY resolved_at DESC LIMIT ?1",
        [limit],
    )
}

pub fn killswitches(conn: &Connection) -> Result<Vec<KillSwitch>, rusqlite::Error> {
    parse_rows(conn, "SELECT body FROM killswitches ORDER BY scope", [])
}

/// Unreviewed flagged actions first (newest first), then recently reviewed ones.
pub fn flagged(conn: &Connection, limit: u32) -> Result<Vec<FlaggedAction>, rusqlite::Error> {
    parse_rows(
        conn,
        "SELECT body FROM flagged ORDER BY reviewed ASC, at DESC LIMIT ?1",
        [limit],
    )
}

pub fn load_flagged(
    conn: &Connection,
    action: &str,
) -> Result<Option<FlaggedAction>, rusqlite::Error> {
    Ok(
        parse_rows(conn, "SELECT body FROM flagged WHERE action = ?1", [action])?
            .into_iter()
            .next(),
    )
}

pub fn signature_used(conn: &Connection, signature: &str) -> Result<bool, rusqlite::Error> {
    conn.query_row(
        "SELECT 1 FROM used_signatures WHERE signature = ?1",
        [signature],
        |_| Ok(()),
    )
    .optional()
    .map(|o| o.is_some())
}

pub fn recent_activity(
    conn: &Connection,
    limit: u32,
) -> Result<Vec<ActionSummary>, rusqlite::Error> {
    let mut stmt = conn.prepare(
        "SELECT id, agent, tool, session, effect, rule, reason, at FROM actions ORDER BY seq DESC LIMIT ?1",
    )?;
    let rows = stmt.query_map([limit], |r| {
        let effect: String = r.get(4)?;
        let at: String = r.get(7)?;
        Ok(ActionSummary {
            id: r.get(0)?,
            agent: r.get(1)?,
            tool: r.get(2)?,
            session: r.get(3)?,
            effect: serde_json::from_value(Value::String(effect)).unwrap_or(Effect::Deny),
            rule: r.get(5)?,
            reason: r.get(6)?,
            at: at.parse().unwrap_or_default(),
        })
    })?;
    rows.collect()
}

/// Filters for `GET /v1/audit`.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct AuditQuery {
    pub agent: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub kind: Option<String>,
    pub verdict: Option<String>,
    pub after_seq: Option<u64>,
    pub limit: Option<u32>,
}

pub fn audit_records(
    conn: &Connection,
    q: &AuditQuery,
) -> Result<Vec<crate::protocol::AuditRecord>, rusqlite::Error> {
    let mut stmt = conn.prepare(
        "SELECT seq, time, kind, actor, body, prev_hash, hash FROM audit
         WHERE (?1 IS NULL OR actor = ?1 OR json_extract(body, '$.agent') = ?1)
           AND (?2 IS NULL OR time >= ?2)
           AND (?3 IS NULL OR time <= ?3)
           AND (?4 IS NULL OR kind = ?4)
           AND (?5 IS NULL OR json_extract(body, '$.effect') = ?5 OR json_extract(body, '$.resolution') = ?5
                OR json_extract(body, '$.verdict') = ?5)
           AND seq > ?6
         ORDER BY seq LIMIT ?7",
    )?;
    let rows = stmt.query_map(
        params![
            q.agent,
            q.since,
            q.until,
            q.kind,
            q.verdict,
            q.after_seq.unwrap_or(0) as i64,
            q.limit.unwrap_or(1000).min(10_000)
        ],
        |r| {
            let time: String = r.get(1)?;
            let body: String = r.get(4)?;
            Ok(crate::protocol::AuditRecord {
                seq: r.get::<_, i64>(0)? as u64,
                time: time.parse().unwrap_or_default(),
                kind: r.get(2)?,
                actor: r.get(3)?,
                body: serde_json::from_str(&body).unwrap_or(Value::Null),
                prev_hash: r.get(5)?,
                hash: r.get(6)?,
            })
        },
    )?;
    rows.collect()
}

pub fn state_name(state: EscalationState) -> &'static str {
    match state {
        EscalationState::Pending => "pending",
        EscalationState::Approved => "approved",
        EscalationState::Denied => "denied",
        EscalationState::Expired => "expired",
        EscalationState::Cancelled => "cancelled",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flip(scope: &str) -> Op {
        Op::KillSwitch {
            switch: KillSwitch {
                scope: scope.into(),
                on: true,
                reason: "r".into(),
                by: "alice".into(),
                at: Utc::now(),
            },
            signature: "same-signature".into(),
            cancelled: vec![],
        }
    }

    #[tokio::test]
    async fn a_failing_job_fails_alone_and_the_chain_stays_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), PersonKey::generate("server")).unwrap();
        let audit = |n: &str| {
            vec![AuditEntry::new(
                "killswitch",
                "alice",
                serde_json::json!({"n": n}),
            )]
        };
        // Sent together, so they usually share a transaction; the second reuses a signature.
        let (a, b, c) = tokio::join!(
            store.write(flip("global"), audit("a")),
            store.write(flip("tool:x"), audit("b")),
            store.write(Op::Audit, audit("c")),
        );
        assert!(a.is_ok());
        assert!(
            matches!(b, Err(StoreError::Sqlite(ref m)) if m.contains("UNIQUE")),
            "{:?}",
            b.err()
        );
        assert!(c.is_ok());
        store.shutdown().await;
        let report = super::super::audit::verify(&db_path(dir.path())).unwrap();
        assert_eq!(
            report.records, 2,
            "the failed job's audit record was rolled back with it"
        );
        let conn = Connection::open(db_path(dir.path())).unwrap();
        let switches = killswitches(&conn).unwrap();
        assert_eq!(switches.len(), 1);
        assert_eq!(switches[0].scope, "global");
    }
}
