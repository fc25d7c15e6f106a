//! Paging webhooks: escalation created, near its deadline and resolved, breaker tripped, kill
//! switch flipped, POSTed to the `[[webhook]]`s of the server's config file as gavel JSON, a
//! Slack message or a PagerDuty event, signed the Standard Webhooks way.
//!
//! The audit log is the outbox. Enforcement writes its records as it always did and never
//! waits for a webhook; each webhook's worker ([`worker`]) reads the log after its own cursor
//! ([`cursor`], a file in the data dir), maps the records that matter to events ([`events`]),
//! renders ([`body`]), signs ([`signing`]) and delivers them in order with retries
//! ([`delivery`]), and moves its cursor on only once an event is delivered or given up. So an
//! event survives a crash or restart (at least once; receivers deduplicate by `webhook-id`), and
//! a slow or dead receiver delays only its own webhook. Near-deadline warnings come from the
//! stored pending escalations ([`pending`]); those sent are remembered in the cursor.
//!
//! Replicas sharing a PostgreSQL store page once, not once each: only the replica holding the
//! webhook lease (a PostgreSQL session advisory lock, [`lease`]) runs the workers ([`leader`]),
//! and the cursors are rows in that database ([`cursor_pg`]) rather than files in one replica's
//! data dir. When the holder stops, dies or loses the database, another replica takes the
//! lease within a few seconds and goes on from the cursors as last saved. Delivery stays at
//! least once: an event in flight when the holder went away, or delivered but not yet saved
//! past, is sent again by the next holder. Every event carries an id stable across replicas
//! and retries (`evt_SEQ`, from the audit record's seq; near-deadline warnings one from the
//! escalation and its deadline) as `webhook-id` and in the body: receivers deduplicate by it.
//! The replicas should share one `[[webhook]]` list: the holder delivers only the webhooks in
//! its own config.

mod body;
mod config;
mod cursor;
mod cursor_pg;
mod delivery;
mod events;
mod leader;
mod lease;
mod pending;
pub mod signing;
mod worker;

use std::path::Path;
use std::sync::Arc;

use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use self::cursor::{Cursor, CursorFile, CursorStore};
use self::worker::Worker;
use super::store::{self, Store};
use crate::config::webhook::{EventType, WebhookEntry};
use crate::config::ConfigError;
use crate::protocol::ServerMessage;

pub use config::Webhook;

/// Reads every webhook's secrets and CA file, before the server takes its data dir.
pub fn resolve(entries: &[WebhookEntry]) -> Result<Vec<Webhook>, ConfigError> {
    entries.iter().map(Webhook::resolve).collect()
}

/// The running workers.
#[derive(Default)]
pub struct Webhooks {
    tasks: Vec<JoinHandle<()>>,
}

impl Webhooks {
    /// Waits for the workers to save their cursors and stop (after the server's stop signal).
    pub async fn stopped(self) {
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Loads each webhook's cursor (a webhook seen for the first time starts at the log's head:
/// it is told what happens from now on, not the history) and starts its worker. With a
/// PostgreSQL store (`shared`, its URL) the cursors live there and the workers run only while
/// this replica holds the webhook lease.
pub async fn start(
    hooks: Vec<Webhook>,
    data: &Path,
    shared: Option<&str>,
    store: &Store,
    bus: &broadcast::Sender<ServerMessage>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<Webhooks> {
    if hooks.is_empty() {
        return Ok(Webhooks::default());
    }
    let head = store.read(store::latest_anchor).await?.map_or(0, |a| a.seq);
    let fresh = Cursor {
        seq: head,
        ..Cursor::default()
    };
    let hooks: Vec<Arc<Webhook>> = hooks.into_iter().map(Arc::new).collect();
    if let Some(url) = shared {
        let task = leader::start(url, hooks, fresh, store, bus, shutdown).await?;
        return Ok(Webhooks { tasks: vec![task] });
    }
    let mut workers = Vec::new();
    for hook in hooks {
        let file = CursorFile::new(data, &hook.id);
        let cursor = match file.load()? {
            Some(c) => c,
            None => {
                file.save(&fresh).map_err(|e| {
                    anyhow::anyhow!("cannot write webhook cursor {}: {e}", file.path().display())
                })?;
                fresh.clone()
            }
        };
        workers.push((hook, CursorStore::File(file), cursor));
    }
    Ok(Webhooks {
        tasks: spawn_workers(workers, store, bus, shutdown),
    })
}

/// Starts a worker per webhook from its cursor, and the reader of pending escalations if one
/// of them wants near-deadline warnings; all stop when `stop` turns true.
fn spawn_workers(
    workers: Vec<(Arc<Webhook>, CursorStore, Cursor)>,
    store: &Store,
    bus: &broadcast::Sender<ServerMessage>,
    stop: watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    let mut tasks = Vec::new();
    let warning = workers
        .iter()
        .filter(|(h, _, _)| h.wants(EventType::EscalationNearDeadline))
        .map(|(h, _, _)| h.near_deadline)
        .min();
    let pending = warning.map(|w| {
        let (rx, task) = pending::spawn(store.clone(), pending::interval(w), stop.clone());
        tasks.push(task);
        rx
    });
    for (hook, place, cursor) in workers {
        let wants_warning = hook.wants(EventType::EscalationNearDeadline);
        let worker = Worker {
            hook,
            place,
            cursor,
            store: store.clone(),
            pending: pending.clone().filter(|_| wants_warning),
            wake: bus.subscribe(),
            shutdown: stop.clone(),
        };
        tasks.push(tokio::spawn(worker.run()));
    }
    tasks
}
