//! The store: every durable write and every read of server state.
//!
//! Every write (an action, escalation change, decision, flip, review, audit record) goes
//! through the writer thread as an [`Op`] with its audit records, over a bounded channel (a
//! full channel makes writers wait: backpressure, not memory growth). The writer takes every op
//! waiting, the backend applies them in one transaction, appends their audit records and a
//! signed checkpoint, commits (one fsync), and only then answers each caller.
//!
//! Reads run on a small pool of read connections, off the async threads.
//!
//! Nothing is stored or read by default: a value that cannot be written is an error, and a row
//! that cannot be read is an error naming its table and row. Every failure is logged.
//!
//! Parts: [`backend`] (the traits a backend implements), [`chain`] (the audit chain as the
//! writer extends it), [`writer`] (group commit), [`query`] (audit filters), [`sqlite`] (the
//! SQLite backend: schema and migrations, the write transaction, the typed queries).

mod backend;
mod chain;
mod error;
pub mod figures;
pub mod history;
pub mod postgres;
mod prune;
mod query;
mod rows;
pub mod sqlite;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::audit::{Anchor, AuditEvent};
use crate::protocol::{
    ActionRecord, ActionSummary, AuditRecord, Effect, Escalation, FlaggedAction, Grant, KillSwitch,
    PersonKey, PriorCall, Timestamp,
};

pub use backend::{Backend, Reads};
pub use chain::{Chain, Checkpoint, Head, Link, KEEP_EVERY};
pub use error::StoreError;
pub use history::HistoryQuery;
pub use query::AuditQuery;
pub use sqlite::state_name;
pub use writer::MAX_BATCH_JOBS;

/// Ops waiting for the writer before writers wait for room.
const QUEUE_DEPTH: usize = 4 * MAX_BATCH_JOBS;
/// Read connections: reads run in parallel up to this many.
const READERS: usize = 4;
/// Readiness answers share one probe for this long, so probing cannot load the store.
const PROBE_REUSE: Duration = Duration::from_secs(1);

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
    Escalation(Box<Change>),
    /// A changed escalation a person signed for once (extend, claim, snooze, reassign): the
    /// signature is recorded as used.
    SignedChange {
        change: Box<Change>,
        signature: String,
    },
    /// A call answered with an earlier action's outcome (a retry): its audit record, and the
    /// retry's `Idempotency-Key`, if new, naming that action.
    Retried {
        action: String,
        key: Option<KeyWrite>,
    },
    KillSwitch {
        switch: KillSwitch,
        signature: String,
        cancelled: Vec<Change>,
    },
    FlagReview {
        flagged: Box<FlaggedAction>,
        signature: String,
    },
    /// An operator's signed breaker reset: its signature used once (the reset itself is its
    /// audit record; breaker state lives in memory).
    BreakerReset { signature: String },
    /// A standing grant, created by a signed request (its signature used once).
    GrantCreated { grant: Grant, signature: String },
    /// A standing grant revoked (`grant` as revoked) by a signed request.
    GrantRevoked { grant: Grant, signature: String },
    /// An agent's report of a call's actual cost: `actions.cost` replaced.
    CostReported { action: String, cost: f64 },
    /// Deletes the rows of allowed and denied calls submitted before `before` that raised no
    /// escalation, among at most `limit` rows after `after` (by the table's order), and writes
    /// the `actions_pruned` record when any went. Answers with [`Reply::Pruned`].
    PruneActions {
        before: Timestamp,
        after: i64,
        limit: u32,
    },
    /// Audit records alone (server start, refusals).
    Audit,
    /// At start: every pending escalation whose row cannot be loaded is marked `unreadable`
    /// (a deny) and audited. Answers with the ids and problems.
    DenyUnreadable,
}

impl Op {
    pub fn name(&self) -> &'static str {
        match self {
            Op::Action(_) => "an action",
            Op::Escalation(_) => "an escalation change",
            Op::SignedChange { .. } => "a signed escalation change",
            Op::Retried { .. } => "a retried call",
            Op::KillSwitch { .. } => "a kill switch flip",
            Op::FlagReview { .. } => "a flag review",
            Op::GrantCreated { .. } => "a grant",
            Op::GrantRevoked { .. } => "a grant revocation",
            Op::CostReported { .. } => "a reported cost",
            Op::BreakerReset { .. } => "a breaker reset",
            Op::PruneActions { .. } => "pruning action rows",
            Op::Audit => "audit records",
            Op::DenyUnreadable => "denying unreadable escalations",
        }
    }
}

/// An escalation changed from the state `was`. The write is fenced: it applies only if the
/// stored escalation is still exactly `was` (its stored body), and otherwise fails with
/// [`StoreError::Conflict`] and changes nothing, so replicas changing one escalation at once
/// (two votes, a vote and a deadline, two deadline timers) never lose a change or apply one
/// twice: the one that loses re-reads the escalation and decides again.
#[derive(Debug, Clone)]
pub struct Change {
    pub escalation: Escalation,
    pub was: Escalation,
}

impl Change {
    pub fn new(was: &Escalation, escalation: Escalation) -> Box<Change> {
        Box::new(Change {
            escalation,
            was: was.clone(),
        })
    }
}

pub struct ActionWrite {
    pub record: ActionRecord,
    pub effect: Effect,
    pub rule: Option<String>,
    pub reason: String,
    pub escalation: Option<(Escalation, ExpiryPlan)>,
    pub flagged: Option<FlaggedAction>,
    /// The call's `Idempotency-Key`, committed with the action so a retry after the answer
    /// can never make a second one.
    pub key: Option<KeyWrite>,
    /// The standing grant that allowed the call: its use is counted in the same transaction.
    pub grant: Option<String>,
    /// The breaker, limit or kill switch that decided the call (`breaker:ID`, `limit:ID`,
    /// `killswitch:SCOPE`), if one did.
    pub governed: Option<String>,
}

/// A recorded call as governance counts it (`recent_actions`).
#[derive(Debug, Clone, PartialEq)]
pub struct RecentAction {
    pub id: String,
    pub agent: String,
    pub session: String,
    pub tool: String,
    pub effect: Effect,
    pub rule: Option<String>,
    /// The breaker or limit that decided it, if one did.
    pub governed: Option<String>,
    /// Its estimate, or the actual cost once reported.
    pub cost: Option<f64>,
    /// How its escalation ended; `None` while pending or when it raised none.
    pub resolution: Option<crate::protocol::Resolution>,
    pub at: Timestamp,
}

/// A recorded call as a cost report needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct CostedAction {
    pub id: String,
    pub agent: String,
    pub tool: String,
    pub effect: Effect,
    /// Its estimate, or the actual cost reported before.
    pub cost: Option<f64>,
}

/// An agent's `Idempotency-Key` as stored: the body it came with (`fingerprint`, SHA-256 of the
/// canonical JSON of the parsed body) and when, for the retention.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyWrite {
    pub agent: String,
    pub key: String,
    pub fingerprint: String,
    pub created_at: Timestamp,
}

/// A live key: the body it first came with and the action it names.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredKey {
    pub fingerprint: String,
    pub action: String,
}

pub enum Reply {
    Done,
    Escalation(Box<Escalation>),
    /// (escalation id, what could not be read)
    Denied(Vec<(String, String)>),
    Pruned(Pruned),
}

/// How far one [`Op::PruneActions`] got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    /// Rows deleted.
    pub count: u64,
    /// The last row examined (`after` when none was): where the next one starts.
    pub through: i64,
    /// Whether rows before the horizon may remain past `through`.
    pub more: bool,
}

/// An action row as the long-poll needs it.
#[derive(Debug)]
pub struct StoredAction {
    pub agent: String,
    pub effect: Effect,
    pub rule: Option<String>,
    pub reason: String,
    pub escalation: Option<String>,
    /// The standing grant that allowed it, if one did.
    pub grant: Option<String>,
}

/// An op, its audit records, and where its answer goes.
pub struct Job {
    pub op: Op,
    pub audit: Vec<AuditEvent>,
    reply: oneshot::Sender<Result<Reply, StoreError>>,
}

enum Msg {
    Job(Box<Job>),
    Probe(oneshot::Sender<Result<(), StoreError>>),
    Shutdown(oneshot::Sender<()>),
}

/// Handle to the writer thread plus the read connections.
#[derive(Clone)]
pub struct Store {
    tx: mpsc::Sender<Msg>,
    readers: Arc<ReaderPool>,
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

/// Read connections, each used by one read at a time; a permit stands for an idle one.
struct ReaderPool {
    idle: Mutex<Vec<Box<dyn Reads>>>,
    permits: Semaphore,
}

impl ReaderPool {
    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Box<dyn Reads>>> {
        // The list stays whole whatever panicked while holding it: pop and push only.
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub fn db_path(data: &Path) -> PathBuf {
    sqlite::db_path(data)
}

impl Store {
    /// Opens (or creates, or migrates) the SQLite store in `data` and starts the writer thread.
    /// The server key signs checkpoints; its public half is recorded so `gavel audit verify`
    /// can check them.
    pub fn open(data: &Path, server_key: PersonKey) -> Result<Store, StoreError> {
        let (backend, readers) = sqlite::open(data, server_key, READERS)?;
        let readers = readers
            .into_iter()
            .map(|r| Box::new(r) as Box<dyn Reads>)
            .collect();
        Store::start(backend, readers)
    }

    /// Opens (or creates, or migrates) the PostgreSQL store at `url`, shared with any other
    /// replica using it, and starts the writer thread. `origin` names this replica in the
    /// audit rows it writes.
    pub fn open_postgres(
        url: &str,
        server_key: PersonKey,
        origin: &str,
    ) -> Result<Store, StoreError> {
        // The synchronous client runs a runtime of its own: open it off the caller's.
        let (url, origin) = (url.to_string(), origin.to_string());
        let (backend, readers) =
            std::thread::spawn(move || postgres::open(&url, server_key, READERS, &origin))
                .join()
                .map_err(|_| StoreError::Closed)??;
        let readers = readers
            .into_iter()
            .map(|r| Box::new(r) as Box<dyn Reads>)
            .collect();
        Store::start(backend, readers)
    }

    /// Starts the writer thread on `backend`, reading through `readers`.
    pub fn start<B: Backend>(
        backend: B,
        readers: Vec<Box<dyn Reads>>,
    ) -> Result<Store, StoreError> {
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let stats = Arc::new(StoreStats::default());
        writer::spawn(backend, stats.clone(), rx)?;
        Ok(Store {
            tx,
            readers: Arc::new(ReaderPool {
                permits: Semaphore::new(readers.len()),
                idle: Mutex::new(readers),
            }),
            stats,
            probe: Arc::default(),
        })
    }

    /// Makes `op` and its audit records durable, then answers. A failure is logged here.
    pub async fn write(&self, op: Op, audit: Vec<AuditEvent>) -> Result<Reply, StoreError> {
        let name = op.name();
        let (reply, rx) = oneshot::channel();
        let result = match self
            .tx
            .send(Msg::Job(Box::new(Job { op, audit, reply })))
            .await
        {
            Ok(()) => rx.await.unwrap_or(Err(StoreError::Closed)),
            Err(_) => Err(StoreError::Closed),
        };
        match &result {
            // Another replica changed the escalation first: expected, and its caller decides
            // again (every replica's timer meets this once per expiry).
            Err(e @ StoreError::Conflict(_)) => {
                tracing::debug!(op = name, "store write fenced off: {e}")
            }
            Err(e) => tracing::error!(op = name, "store write failed: {e}"),
            Ok(_) => {}
        }
        result
    }

    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Shutdown(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Whether the store can write now: a probe write through the writer (the backend takes
    /// its write lock briefly and commits). Callers within [`PROBE_REUSE`] of a probe share
    /// its answer.
    pub async fn ready(&self) -> Result<(), StoreError> {
        let mut last = self.probe.lock().await;
        if let Some((at, result)) = &*last {
            if at.elapsed() < PROBE_REUSE {
                return result.clone();
            }
        }
        let (tx, rx) = oneshot::channel();
        let result = match self.tx.send(Msg::Probe(tx)).await {
            Ok(()) => rx.await.unwrap_or(Err(StoreError::Closed)),
            Err(_) => Err(StoreError::Closed),
        };
        if let Err(e) = &result {
            tracing::error!("store readiness probe failed: {e}");
        }
        *last = Some((Instant::now(), result.clone()));
        result
    }

    /// Runs a read on an idle read connection off the async threads, waiting for one when all
    /// are busy. A failure is logged here.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Reads) -> Result<T, StoreError> + Send + 'static,
    {
        let result = self.read_on_idle(f).await;
        if let Err(e) = &result {
            tracing::error!("store read failed: {e}");
        }
        result
    }

    async fn read_on_idle<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Reads) -> Result<T, StoreError> + Send + 'static,
    {
        let pool = self.readers.clone();
        let permit = pool
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Closed)?;
        // A permit is held, so a connection is idle.
        let reader = pool.idle().pop().ok_or(StoreError::Closed)?;
        let done = tokio::task::spawn_blocking(move || {
            let result = f(reader.as_ref());
            (reader, result)
        })
        .await;
        match done {
            Ok((reader, result)) => {
                pool.idle().push(reader);
                drop(permit);
                result
            }
            Err(e) => {
                // The read panicked and took its connection with it: the pool is one smaller.
                permit.forget();
                Err(StoreError::ReadAborted(Arc::new(e)))
            }
        }
    }
}

// The typed queries as functions, for `store.read(store::killswitches)` and
// `store.read(move |r| store::load_action(r, &id))`.

pub fn last_calls(
    r: &dyn Reads,
    agent: &str,
    session: &str,
    n: u32,
) -> Result<Vec<PriorCall>, StoreError> {
    r.last_calls(agent, session, n)
}
pub fn load_action(r: &dyn Reads, id: &str) -> Result<Option<StoredAction>, StoreError> {
    r.load_action(id)
}
pub fn idempotency_key(
    r: &dyn Reads,
    agent: &str,
    key: &str,
    now: Timestamp,
) -> Result<Option<StoredKey>, StoreError> {
    r.idempotency_key(agent, key, now)
}
pub fn load_escalation(
    r: &dyn Reads,
    id: &str,
) -> Result<Option<(Escalation, ExpiryPlan)>, StoreError> {
    r.load_escalation(id)
}
pub fn pending_escalations(r: &dyn Reads) -> Result<Vec<(Escalation, ExpiryPlan)>, StoreError> {
    r.pending_escalations()
}
pub fn recent_resolved(r: &dyn Reads, limit: u32) -> Result<Vec<Escalation>, StoreError> {
    r.recent_resolved(limit)
}
pub fn killswitches(r: &dyn Reads) -> Result<Vec<KillSwitch>, StoreError> {
    r.killswitches()
}
pub fn flagged(r: &dyn Reads, limit: u32) -> Result<Vec<FlaggedAction>, StoreError> {
    r.flagged(limit)
}
pub fn load_flagged(r: &dyn Reads, action: &str) -> Result<Option<FlaggedAction>, StoreError> {
    r.load_flagged(action)
}
pub fn signature_used(r: &dyn Reads, signature: &str) -> Result<bool, StoreError> {
    r.signature_used(signature)
}
pub fn recent_activity(r: &dyn Reads, limit: u32) -> Result<Vec<ActionSummary>, StoreError> {
    r.recent_activity(limit)
}
pub fn audit_records(r: &dyn Reads, q: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
    r.audit_records(q)
}
/// Every standing grant, live or not, with its use count.
pub fn grants(r: &dyn Reads) -> Result<Vec<Grant>, StoreError> {
    r.grants()
}
pub fn latest_anchor(r: &dyn Reads) -> Result<Option<Anchor>, StoreError> {
    r.latest_anchor()
}
/// Every call recorded at or after `since`, oldest first.
pub fn recent_actions(r: &dyn Reads, since: Timestamp) -> Result<Vec<RecentAction>, StoreError> {
    r.recent_actions(since)
}
/// A recorded call's agent, tool, effect and cost; `None` if there is no such call.
pub fn costed_action(r: &dyn Reads, id: &str) -> Result<Option<CostedAction>, StoreError> {
    r.costed_action(id)
}
/// Every (agent, tool) pair ever called.
pub fn tools_called(r: &dyn Reads) -> Result<Vec<(String, String)>, StoreError> {
    r.tools_called()
}
/// The breaker records from each agent's latest trip of each breaker on, oldest first.
pub fn breaker_events(r: &dyn Reads) -> Result<Vec<AuditEvent>, StoreError> {
    r.breaker_events()
}
pub fn resolved_history(
    r: &dyn Reads,
    q: &HistoryQuery,
) -> Result<(Vec<Escalation>, Option<String>), StoreError> {
    r.resolved_history(q)
}
/// The governance figures of `from..=to` (`GET /v1/governance`); `kill_prefix(scope)` is how
/// that kill switch's deny reasons start.
pub fn governance_figures(
    r: &dyn Reads,
    from: Timestamp,
    to: Timestamp,
    kill_prefix: fn(&str) -> String,
) -> Result<crate::protocol::GovernanceFigures, StoreError> {
    r.governance_figures(from, to, kill_prefix)
}

#[cfg(test)]
mod commit_tests;
#[cfg(test)]
mod tests;
