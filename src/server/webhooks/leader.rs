//! Webhooks with a PostgreSQL store: every replica campaigns for the webhook lease
//! ([`lease`](super::lease)) and only the one holding it runs the workers, each from its
//! webhook's cursor in the shared `webhook_cursors` table. A term lasts from election to the
//! first failed check of the lease's connection, or to the server's stop; at its end the
//! workers are stopped before anything else happens, and the next term (here or on another
//! replica) starts from the cursors as last saved.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use super::config::Webhook;
use super::cursor::{Cursor, CursorStore, PgCursor};
use super::cursor_pg::create_missing;
use super::lease::{self, Campaign, News, Session};
use crate::protocol::ServerMessage;
use crate::server::shutdown::stopped;
use crate::server::store::{self, postgres, Store};

/// How long a term's end waits for its workers (an attempt in flight gets two seconds, then
/// the worker saves its cursor) before it drops them.
const END_WAIT: Duration = Duration::from_secs(10);
/// How long a stopping server waits for the lease thread to drop its connection.
const RELEASE_WAIT: Duration = Duration::from_secs(5);

/// What every term needs.
struct Shared {
    hooks: Vec<Arc<Webhook>>,
    store: Store,
    bus: broadcast::Sender<ServerMessage>,
}

/// Creates the cursors of webhooks seen for the first time (at `fresh`), checks the others,
/// starts campaigning on `url` and returns the task that runs terms until `shutdown`.
pub async fn start(
    url: &str,
    hooks: Vec<Arc<Webhook>>,
    fresh: Cursor,
    store: &Store,
    bus: &broadcast::Sender<ServerMessage>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<JoinHandle<()>> {
    let ids: Vec<String> = hooks.iter().map(|h| h.id.clone()).collect();
    let at = url.to_string();
    tokio::task::spawn_blocking(move || {
        let mut c = postgres::connect(&at)?;
        create_missing(&mut c, &ids, &fresh)
    })
    .await
    .context("checking the webhook cursors")??;
    let (tx, news) = mpsc::channel(4);
    let campaign = lease::campaign(url, tx).context("starting the webhook lease thread")?;
    let shared = Shared {
        hooks,
        store: store.clone(),
        bus: bus.clone(),
    };
    Ok(tokio::spawn(run(shared, campaign, news, shutdown)))
}

/// One term after another, as the lease comes and goes.
async fn run(
    shared: Shared,
    campaign: Campaign,
    mut news: mpsc::Receiver<News>,
    shutdown: watch::Receiver<bool>,
) {
    let mut term: Option<Term> = None;
    loop {
        let next = tokio::select! {
            n = news.recv() => n,
            _ = stopped(shutdown.clone()) => break,
        };
        if let Some(t) = term.take() {
            t.end().await;
        }
        match next {
            Some(News::Elected(session)) => term = Some(Term::start(&shared, session).await),
            Some(News::Deposed) => {}
            None => {
                tracing::error!("the webhook lease thread ended: webhooks are not delivered here");
                break;
            }
        }
    }
    // The workers save their cursors on the lease's session before it is let go.
    if let Some(t) = term.take() {
        t.end().await;
    }
    drop(news);
    campaign.end(RELEASE_WAIT).await;
}

/// The workers of one term, and the signal that stops them.
struct Term {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Term {
    /// Loads each webhook's cursor on `session` and starts its worker. A webhook whose cursor
    /// cannot be read is left out of this term, logged (a damaged cursor is not started over).
    async fn start(shared: &Shared, session: Session) -> Term {
        let (stop, stopping) = watch::channel(false);
        let mut workers = Vec::new();
        for hook in &shared.hooks {
            let place = CursorStore::Postgres(PgCursor::new(session.clone(), &hook.id));
            match cursor(&shared.store, &place).await {
                Ok(cursor) => workers.push((hook.clone(), place, cursor)),
                Err(e) => tracing::error!(
                    webhook = %hook.id,
                    "{e:#}; this webhook is not delivered until the lease changes hands"
                ),
            }
        }
        let tasks = super::spawn_workers(workers, &shared.store, &shared.bus, stopping);
        Term { stop, tasks }
    }

    /// Stops the workers and waits for them, at most [`END_WAIT`] (one stuck saving on a dead
    /// connection is dropped).
    async fn end(self) {
        let _ = self.stop.send(true);
        let until = tokio::time::Instant::now() + END_WAIT;
        for mut task in self.tasks {
            if tokio::time::timeout_at(until, &mut task).await.is_err() {
                task.abort();
            }
        }
    }
}

/// The webhook's stored cursor; a missing one (its row deleted, to restart the webhook from
/// now) is stored anew at the log's head.
async fn cursor(store: &Store, place: &CursorStore) -> anyhow::Result<Cursor> {
    let p = place.clone();
    if let Some(cursor) = tokio::task::spawn_blocking(move || p.load()).await?? {
        return Ok(cursor);
    }
    let fresh = Cursor {
        seq: store.read(store::latest_anchor).await?.map_or(0, |a| a.seq),
        ..Cursor::default()
    };
    let (p, f) = (place.clone(), fresh.clone());
    tokio::task::spawn_blocking(move || p.save(&f)).await??;
    Ok(fresh)
}
