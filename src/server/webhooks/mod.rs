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

mod body;
mod config;
mod cursor;
mod delivery;
mod events;
mod pending;
pub mod signing;
mod worker;

use std::path::Path;
use std::sync::Arc;

use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use self::cursor::{Cursor, CursorFile};
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
/// it is told what happens from now on, not the history) and starts its worker.
pub async fn start(
    hooks: Vec<Webhook>,
    data: &Path,
    store: &Store,
    bus: &broadcast::Sender<ServerMessage>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<Webhooks> {
    if hooks.is_empty() {
        return Ok(Webhooks::default());
    }
    let head = store.read(store::latest_anchor).await?.map_or(0, |a| a.seq);
    let mut tasks = Vec::new();
    let warning = hooks
        .iter()
        .filter(|h| h.wants(EventType::EscalationNearDeadline))
        .map(|h| h.near_deadline)
        .min();
    let pending = warning.map(|w| {
        let (rx, task) = pending::spawn(store.clone(), pending::interval(w), shutdown.clone());
        tasks.push(task);
        rx
    });
    for hook in hooks {
        let file = CursorFile::new(data, &hook.id);
        let cursor = match file.load()? {
            Some(c) => c,
            None => {
                let fresh = Cursor {
                    seq: head,
                    ..Cursor::default()
                };
                file.save(&fresh).map_err(|e| {
                    anyhow::anyhow!("cannot write webhook cursor {}: {e}", file.path().display())
                })?;
                fresh
            }
        };
        let wants_warning = hook.wants(EventType::EscalationNearDeadline);
        let worker = Worker {
            hook: Arc::new(hook),
            file,
            cursor,
            store: store.clone(),
            pending: pending.clone().filter(|_| wants_warning),
            wake: bus.subscribe(),
            shutdown: shutdown.clone(),
        };
        tasks.push(tokio::spawn(worker.run()));
    }
    Ok(Webhooks { tasks })
}
