//! The gate's own MCP tasks (revision 2025-11-25): a `tools/call` the client augmented with
//! `params.task` is answered at once with a task, while gavel adjudicates the call and, if it
//! is allowed, the server runs it. The client polls `tasks/get` and fetches `tasks/result`.
//!
//! The table is bounded in count and in time: at most [`MAX_TASKS`] are kept, each for its ttl
//! (clamped to [`MIN_TTL_MS`]..=[`MAX_TTL_MS`]). A task that runs out of time while still held
//! is withdrawn from gavel and never forwarded. Task ids are 128 random bits: on stdio there is
//! one client, and nobody else can name its tasks.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use tokio::sync::watch;

use super::message::IdKey;

/// Tasks kept at once, finished ones included; a new task evicts the oldest finished one.
pub const MAX_TASKS: usize = 64;
pub const MIN_TTL_MS: u64 = 60_000;
pub const MAX_TTL_MS: u64 = 24 * 3600 * 1000;
/// When the client asks for none: an hour, as long as a review usually takes at most.
const DEFAULT_TTL_MS: u64 = 3600 * 1000;

/// `tasks/result` requests waiting on unfinished tasks at once; more are refused.
pub const MAX_WAITERS: usize = 256;

pub const RELATED_TASK: &str = "io.modelcontextprotocol/related-task";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Working,
    Completed,
    Failed,
    Cancelled,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Working => "working",
            Status::Completed => "completed",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn is_terminal(self) -> bool {
        self != Status::Working
    }
}

/// What `tasks/result` returns: exactly what the `tools/call` itself would have.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Result(Value),
    Error(Value),
}

struct Task {
    status: Status,
    message: Option<String>,
    created: DateTime<Utc>,
    updated: DateTime<Utc>,
    ttl_ms: u64,
    answer: Option<Answer>,
    /// The request id the gate gave the call when it forwarded it to the server.
    forwarded: Option<IdKey>,
    /// Turns true once the task is terminal; `tasks/result` waits on it.
    done: watch::Sender<bool>,
}

impl Task {
    fn expired(&self, now: DateTime<Utc>) -> bool {
        now.signed_duration_since(self.created).num_milliseconds() > self.ttl_ms as i64
    }
}

/// Why a task could not be created.
#[derive(Debug, PartialEq, Eq)]
pub struct Full;

/// What the gate does when a task ends early (cancelled, or expired while held).
#[derive(Debug, PartialEq, Eq)]
pub enum Stop {
    /// Still held: its held call (keyed as [`held_key`]) is stopped and withdrawn.
    Held(String),
    /// Already forwarded: the server is told to cancel the gate's request.
    Forwarded(IdKey),
}

#[derive(Default)]
pub struct Tasks {
    table: Mutex<HashMap<String, Task>>,
    /// The gate's request ids for forwarded calls, to their task.
    forwarded: Mutex<HashMap<IdKey, String>>,
    /// `tasks/result` requests now waiting.
    waiters: std::sync::atomic::AtomicUsize,
    /// Whether the gate's sweeper of expired tasks runs.
    sweeping: std::sync::atomic::AtomicBool,
    poll_ms: u64,
}

/// One waiting `tasks/result`; counted until dropped.
pub struct Waiter<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The held-call key of a task: never a JSON request id's text (those start with `"` or a digit).
pub fn held_key(task_id: &str) -> String {
    format!("task:{task_id}")
}

impl Tasks {
    pub fn new(poll_ms: u64) -> Tasks {
        Tasks {
            poll_ms,
            ..Tasks::default()
        }
    }

    /// A new working task; expired tasks are dropped first (their stops returned), then the
    /// oldest finished one if the table is full. `Err` when every kept task is still working.
    pub fn create(&self, ttl_ms: Option<u64>) -> (Result<(String, Value), Full>, Vec<Stop>) {
        let now = Utc::now();
        let mut table = lock(&self.table);
        let stops = purge(&mut table, now);
        if table.len() >= MAX_TASKS {
            let oldest = table
                .iter()
                .filter(|(_, t)| t.status.is_terminal())
                .min_by_key(|(_, t)| t.created)
                .map(|(id, _)| id.clone());
            match oldest {
                Some(id) => {
                    table.remove(&id);
                }
                None => return (Err(Full), stops),
            }
        }
        // Unguessable or none at all (fail closed): a task id is all it takes to read a result.
        let mut random = [0u8; 16];
        if getrandom::fill(&mut random).is_err() {
            return (Err(Full), stops);
        }
        let id = format!("gavel-{}", hex::encode(random));
        let task = Task {
            status: Status::Working,
            message: Some("submitted to gavel".into()),
            created: now,
            updated: now,
            ttl_ms: ttl_ms
                .unwrap_or(DEFAULT_TTL_MS)
                .clamp(MIN_TTL_MS, MAX_TTL_MS),
            answer: None,
            forwarded: None,
            done: watch::channel(false).0,
        };
        let shown = self.shape(&id, &task);
        table.insert(id.clone(), task);
        (Ok((id, shown)), stops)
    }

    /// The `Task` object for `tasks/get`, or `None` for a task the gate does not hold.
    pub fn get(&self, id: &str) -> Option<Value> {
        let table = lock(&self.table);
        table
            .get(id)
            .filter(|t| !t.expired(Utc::now()))
            .map(|t| self.shape(id, t))
    }

    pub fn knows(&self, id: &str) -> bool {
        lock(&self.table).contains_key(id)
    }

    pub fn list(&self) -> Vec<Value> {
        let table = lock(&self.table);
        let now = Utc::now();
        let mut tasks: Vec<(&String, &Task)> =
            table.iter().filter(|(_, t)| !t.expired(now)).collect();
        tasks.sort_by_key(|(_, t)| t.created);
        tasks.into_iter().map(|(id, t)| self.shape(id, t)).collect()
    }

    /// What gavel says about a task still held (shown as its `statusMessage`).
    pub fn note(&self, id: &str, message: String) {
        if let Some(t) = lock(&self.table).get_mut(id) {
            if !t.status.is_terminal() {
                t.message = Some(message);
                t.updated = Utc::now();
            }
        }
    }

    /// Records that the call was forwarded as request `gate_id`; false when the task is gone
    /// or ended meanwhile, and then the call must not be forwarded.
    pub fn forwarding(&self, id: &str, gate_id: &IdKey) -> bool {
        let mut table = lock(&self.table);
        let now = Utc::now();
        let Some(t) = table
            .get_mut(id)
            .filter(|t| !t.status.is_terminal() && !t.expired(now))
        else {
            return false;
        };
        t.forwarded = Some(gate_id.clone());
        t.message = Some("allowed by gavel; the server is running it".into());
        t.updated = Utc::now();
        lock(&self.forwarded).insert(gate_id.clone(), id.to_string());
        true
    }

    /// True the first time only: the caller starts the sweeper that calls [`Tasks::expire`].
    pub fn start_sweeping(&self) -> bool {
        !self
            .sweeping
            .swap(true, std::sync::atomic::Ordering::Relaxed)
    }

    /// Drops the expired tasks now; returns what must be stopped for those still working.
    pub fn expire(&self) -> Vec<Stop> {
        purge(&mut lock(&self.table), Utc::now())
    }

    /// Whether any forwarded task call still awaits the server's answer.
    pub fn any_forwarded(&self) -> bool {
        !lock(&self.forwarded).is_empty()
    }

    /// The task a server response with request id `gate_id` belongs to, if the gate sent it.
    pub fn take_forwarded(&self, gate_id: &IdKey) -> Option<String> {
        lock(&self.forwarded).remove(gate_id)
    }

    /// Ends a working task (a terminal one keeps its status: a cancel stands). Returns the
    /// `Task` object to announce when it changed.
    pub fn finish(
        &self,
        id: &str,
        status: Status,
        message: String,
        answer: Answer,
    ) -> Option<Value> {
        let mut table = lock(&self.table);
        let t = table.get_mut(id).filter(|t| !t.status.is_terminal())?;
        t.status = status;
        t.message = Some(message);
        t.answer = Some(answer);
        t.updated = Utc::now();
        t.done.send_replace(true);
        Some(self.shape(id, t))
    }

    /// Cancels a working task: `Ok` with the `Task` object and what to stop, `Err` with why not.
    pub fn cancel(&self, id: &str) -> Result<(Value, Option<Stop>), String> {
        let mut table = lock(&self.table);
        let Some(t) = table.get_mut(id) else {
            return Err("no such task".into());
        };
        if t.status.is_terminal() {
            return Err(format!(
                "cannot cancel task: already in terminal status '{}'",
                t.status.as_str()
            ));
        }
        t.status = Status::Cancelled;
        t.message = Some("cancelled by the client; withdrawn from gavel".into());
        t.updated = Utc::now();
        t.done.send_replace(true);
        let stop = Some(match &t.forwarded {
            Some(gate_id) => Stop::Forwarded(gate_id.clone()),
            None => Stop::Held(held_key(id)),
        });
        Ok((self.shape(id, t), stop))
    }

    /// A place among the waiting `tasks/result` requests, if one is free.
    pub fn waiter(&self) -> Option<Waiter<'_>> {
        use std::sync::atomic::Ordering;
        let before = self.waiters.fetch_add(1, Ordering::Relaxed);
        let waiter = Waiter(&self.waiters);
        (before < MAX_WAITERS).then_some(waiter)
    }

    /// Waits on a task for `tasks/result`: `None` for an unknown task.
    pub fn watch(&self, id: &str) -> Option<watch::Receiver<bool>> {
        lock(&self.table).get(id).map(|t| t.done.subscribe())
    }

    /// A terminal task's answer, with the related-task `_meta` the spec asks for.
    pub fn answer(&self, id: &str) -> Option<Answer> {
        let table = lock(&self.table);
        let t = table.get(id)?;
        let answer = match (&t.answer, t.status) {
            (Some(a), _) => a.clone(),
            (None, Status::Cancelled) => Answer::Result(super::message::denied_result(
                "the task was cancelled",
                false,
            )),
            (None, _) => return None,
        };
        Some(match answer {
            Answer::Result(mut r) => {
                if let Some(obj) = r.as_object_mut() {
                    let meta = obj.entry("_meta").or_insert_with(|| json!({}));
                    if let Some(meta) = meta.as_object_mut() {
                        meta.insert(RELATED_TASK.into(), json!({ "taskId": id }));
                    }
                }
                Answer::Result(r)
            }
            e => e,
        })
    }

    fn shape(&self, id: &str, t: &Task) -> Value {
        let stamp = |d: DateTime<Utc>| d.to_rfc3339_opts(SecondsFormat::Millis, true);
        let mut v = json!({
            "taskId": id,
            "status": t.status.as_str(),
            "createdAt": stamp(t.created),
            "lastUpdatedAt": stamp(t.updated),
            "ttl": t.ttl_ms,
            "pollInterval": self.poll_ms,
        });
        if let Some(m) = &t.message {
            v["statusMessage"] = json!(m);
        }
        v
    }
}

/// The optional `notifications/tasks/status` for a task that changed.
pub fn status_notification(task: Value) -> Value {
    json!({"jsonrpc": "2.0", "method": "notifications/tasks/status", "params": task})
}

/// Drops expired tasks; returns what must be stopped for those still working.
fn purge(table: &mut HashMap<String, Task>, now: DateTime<Utc>) -> Vec<Stop> {
    let expired: Vec<String> = table
        .iter()
        .filter(|(_, t)| t.expired(now))
        .map(|(id, _)| id.clone())
        .collect();
    let mut stops = Vec::new();
    for id in expired {
        if let Some(t) = table.remove(&id) {
            if !t.status.is_terminal() {
                stops.push(match t.forwarded {
                    Some(gate_id) => Stop::Forwarded(gate_id),
                    None => Stop::Held(held_key(&id)),
                });
            }
        }
    }
    stops
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere must not leave tasks unreachable: the data stays consistent per call.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests;
