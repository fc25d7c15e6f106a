//! The writer thread: group commit, one savepoint per job, a signed checkpoint per commit.

use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};

use chrono::Utc;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde_json::json;
use tokio::sync::oneshot;

use super::{
    json, last_calls, state_name, ActionWrite, ExpiryPlan, Job, Msg, Op, Reply, StoreError,
    StoreStats, MAX_BATCH_JOBS, PROBE_WAIT, WRITE_WAIT,
};
use crate::protocol::signing::Purpose;
use crate::protocol::{Escalation, EscalationState, PersonKey};
use crate::server::audit::{record_hash, AuditEntry, CheckpointBody};

pub(super) fn spawn(
    conn: Connection,
    key: PersonKey,
    head: (u64, String),
    stats: Arc<StoreStats>,
    rx: mpsc::Receiver<Msg>,
) -> Result<(), StoreError> {
    std::thread::Builder::new()
        .name("gavel-store".into())
        .spawn(move || {
            Writer {
                stats,
                conn,
                key,
                head,
            }
            .run(rx)
        })
        .map(|_| ())
        .map_err(|e| StoreError::Sqlite(format!("cannot start the writer thread: {e}")))
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
            let mut probes = Vec::new();
            let mut take = |m: Msg, batch: &mut Vec<Job>| match m {
                Msg::Job(j) => batch.push(*j),
                Msg::Probe(p) => probes.push(p),
                Msg::Shutdown(s) => shutdown = Some(s),
            };
            take(first, &mut batch);
            while batch.len() < MAX_BATCH_JOBS {
                match rx.try_recv() {
                    Ok(m) => take(m, &mut batch),
                    Err(_) => break,
                }
            }
            if !batch.is_empty() {
                self.commit(batch);
            }
            if !probes.is_empty() {
                let result = self.probe();
                for p in probes {
                    let _ = p.send(result.clone());
                }
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

    /// One transaction for the whole batch; each job in its own savepoint, so a job that fails
    /// (say, a constraint) is rolled back and answered with its error without failing the others.
    fn commit(&mut self, batch: Vec<Job>) {
        let result = (|| -> Result<Vec<Result<Reply, StoreError>>, StoreError> {
            let mut tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
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
                        tracing::error!(op = job.op.name(), "store job failed: {e}");
                        results.push(Err(e));
                    }
                }
            }
            if head.0 > self.head.0 {
                let signature = self
                    .key
                    .try_sign(
                        Purpose::Checkpoint,
                        &CheckpointBody {
                            seq: head.0,
                            head: &head.1,
                        },
                    )
                    .map_err(|e| StoreError::Unencodable {
                        what: "a checkpoint",
                        problem: e.to_string(),
                    })?;
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
                tracing::error!(jobs = batch.len(), "store commit failed: {e}");
                for job in batch {
                    let _ = job.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

fn apply_job(conn: &Connection, head: &mut (u64, String), job: &Job) -> Result<Reply, StoreError> {
    let (reply, extra) = apply(conn, &job.op)?;
    for entry in job.audit.iter().chain(&extra) {
        append_audit(conn, head, entry)?;
    }
    Ok(reply)
}

pub fn escalation_created_entry(esc: &Escalation) -> AuditEntry {
    AuditEntry::new(
        "escalation_created",
        esc.action.agent.clone(),
        json!({
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
    let hash = record_hash(&head.1, seq, &time, e.kind, &e.actor, &e.body).map_err(|err| {
        StoreError::Unencodable {
            what: "an audit record",
            problem: format!("{}: {err}", e.kind),
        }
    })?;
    conn.prepare_cached(
        "INSERT INTO audit (seq, time, kind, actor, body, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![seq as i64, time, e.kind, e.actor, json("an audit record", &e.body)?, head.1, hash])?;
    *head = (seq, hash);
    Ok(())
}

fn save_escalation(
    conn: &Connection,
    esc: &Escalation,
    plan: Option<&ExpiryPlan>,
) -> Result<(), StoreError> {
    let state = state_name(esc.state);
    let resolved = esc.resolved_at.map(|t| t.to_rfc3339());
    let body = json("an escalation", esc)?;
    let changed = match plan {
        Some(plan) => conn
            .prepare_cached(
                "INSERT INTO escalations (id, action, state, body, plan, resolved_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![esc.id, esc.action.id, state, body, json("an expiry plan", plan)?, resolved])?,
        None => conn
            .prepare_cached("UPDATE escalations SET state = ?2, body = ?3, resolved_at = ?4 WHERE id = ?1")?
            .execute(params![esc.id, state, body, resolved])?,
    };
    if changed != 1 {
        return Err(StoreError::Sqlite(format!(
            "escalation {} is not in the store",
            esc.id
        )));
    }
    Ok(())
}

/// Applies one op; answers with its reply and the audit records it implies.
fn apply(tx: &Connection, op: &Op) -> Result<(Reply, Vec<AuditEntry>), StoreError> {
    match op {
        Op::Action(write) => action(tx, write),
        Op::Escalation { escalation } => {
            save_escalation(tx, escalation, None)?;
            Ok((Reply::Done, vec![]))
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
                params![switch.scope, json("a kill switch", switch)?],
            )?;
            for esc in cancelled {
                save_escalation(tx, esc, None)?;
            }
            Ok((Reply::Done, vec![]))
        }
        Op::FlagReview { flagged, signature } => {
            tx.execute(
                "INSERT INTO used_signatures (signature) VALUES (?1)",
                [signature],
            )?;
            tx.execute(
                "UPDATE flagged SET reviewed = 1, body = ?2 WHERE action = ?1",
                params![flagged.action.id, json("a flag review", flagged)?],
            )?;
            Ok((Reply::Done, vec![]))
        }
        Op::Audit => Ok((Reply::Done, vec![])),
        Op::DenyUnreadable => deny_unreadable(tx),
    }
}

fn action(tx: &Connection, write: &ActionWrite) -> Result<(Reply, Vec<AuditEntry>), StoreError> {
    let ActionWrite {
        record,
        effect,
        rule,
        reason,
        escalation,
        flagged,
    } = write;
    let mut reply = Reply::Done;
    let mut extra = Vec::new();
    let mut esc_id = None;
    if let Some((esc, plan)) = escalation {
        let mut esc = esc.clone();
        esc.history = last_calls(tx, &record.agent, &record.session, 3)?;
        save_escalation(tx, &esc, Some(plan))?;
        esc_id = Some(esc.id.clone());
        // The escalation's audit record carries the history it was created with; it follows
        // the action's own record.
        extra.push(escalation_created_entry(&esc));
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
        json("an action", record)?,
        record.submitted_at.to_rfc3339()
    ])?;
    if let Some(f) = flagged {
        tx.prepare_cached(
            "INSERT INTO flagged (action, reviewed, body, at) VALUES (?1, 0, ?2, ?3)",
        )?
        .execute(params![
            f.action.id,
            json("a flagged action", f)?,
            f.flagged_at.to_rfc3339()
        ])?;
    }
    Ok((reply, extra))
}

/// Why a pending escalation row cannot be put back in the queue, if it cannot.
fn unloadable(id: &str, body: &str, plan: &str) -> Option<String> {
    let esc: Escalation = match serde_json::from_str(body) {
        Ok(e) => e,
        Err(e) => return Some(format!("its body cannot be read: {e}")),
    };
    if esc.id != id {
        return Some(format!("its body is for escalation {}", esc.id));
    }
    if esc.state != EscalationState::Pending {
        return Some(format!(
            "its body says {} while the row says pending",
            state_name(esc.state)
        ));
    }
    serde_json::from_str::<ExpiryPlan>(plan)
        .err()
        .map(|e| format!("its expiry plan cannot be read: {e}"))
}

fn deny_unreadable(tx: &Connection) -> Result<(Reply, Vec<AuditEntry>), StoreError> {
    let rows = {
        let mut stmt = tx.prepare(
            "SELECT id, action, body, plan FROM escalations WHERE state = 'pending' ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        rows.collect::<Result<Vec<(String, String, String, String)>, _>>()?
    };
    let mut denied = Vec::new();
    let mut audit = Vec::new();
    for (id, action, body, plan) in rows {
        let Some(problem) = unloadable(&id, &body, &plan) else {
            continue;
        };
        let agent: Option<String> = tx
            .query_row("SELECT agent FROM actions WHERE id = ?1", [&action], |r| {
                r.get(0)
            })
            .optional()?;
        tx.execute(
            "UPDATE escalations SET state = 'unreadable', resolved_at = ?2 WHERE id = ?1",
            params![id, Utc::now().to_rfc3339()],
        )?;
        audit.push(AuditEntry::new(
            "escalation_unreadable",
            "server",
            json!({"escalation": id, "action": action, "agent": agent, "problem": problem,
                   "resolution": "denied"}),
        ));
        denied.push((id, problem));
    }
    Ok((Reply::Denied(denied), audit))
}
