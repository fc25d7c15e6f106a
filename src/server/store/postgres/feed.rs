//! The change feed: every audit record the other replicas commit, in chain order, so this
//! replica re-reads what they changed (see `server::replicas`).
//!
//! A thread holds one connection that LISTENs on [`CHANNEL`]; each notification, and every
//! [`POLL`] as a backstop, it reads the records after the last one it passed on. The records
//! are the feed and the notifications only wake it: after losing the connection the thread
//! reconnects and reads on from where it was, so nothing committed meanwhile is missed.
//! Commits take [`super::CHAIN_LOCK`], so records become visible in seq order and reading
//! "after seq N" never skips one that commits later.

use std::collections::HashMap;
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use postgres::Client;
use serde_json::Value;
use tokio::sync::{mpsc, watch};

use super::{connect, CHANNEL};
use crate::server::audit::AuditEvent;

/// How often the feed looks without being woken.
pub const POLL: Duration = Duration::from_secs(1);
/// How long a lost connection waits before the next attempt.
const RECONNECT: Duration = Duration::from_millis(250);
/// Most records one read takes.
const BATCH: i64 = 1000;

/// One audit record another replica wrote.
#[derive(Debug, Clone)]
pub struct FeedRecord {
    pub seq: u64,
    pub event: AuditEvent,
    /// For a call's record: the breaker, limit or kill switch that decided it, as its row says.
    pub governed: Option<String>,
}

/// What the feed passes on.
#[derive(Debug)]
pub enum FeedItem {
    Record(Box<FeedRecord>),
    /// The feed lost the database and is back: state that is not in the records (none today
    /// beyond what they carry) may be re-read whole.
    Reconnected,
}

/// Starts the feed of records after `after` written by replicas other than `origin`. It stops
/// when the receiver is dropped or `stop` turns true.
pub fn start(
    url: &str,
    origin: &str,
    after: u64,
    stop: watch::Receiver<bool>,
) -> std::io::Result<mpsc::Receiver<FeedItem>> {
    let (tx, rx) = mpsc::channel(4 * BATCH as usize);
    let (url, origin) = (url.to_string(), origin.to_string());
    std::thread::Builder::new()
        .name("gavel-feed".into())
        .spawn(move || run(&url, &origin, after, &tx, &stop))?;
    Ok(rx)
}

fn run(
    url: &str,
    origin: &str,
    mut after: u64,
    tx: &mpsc::Sender<FeedItem>,
    stop: &watch::Receiver<bool>,
) {
    let mut lost = false;
    while !*stop.borrow() && !tx.is_closed() {
        let mut conn = match listen(url) {
            Ok(c) => c,
            Err(e) => {
                if !lost {
                    tracing::error!("change feed: {e}; retrying");
                }
                lost = true;
                std::thread::sleep(RECONNECT);
                continue;
            }
        };
        if std::mem::take(&mut lost) {
            tracing::info!("change feed: reconnected");
            if tx.blocking_send(FeedItem::Reconnected).is_err() {
                return;
            }
        }
        if let Err(e) = follow(&mut conn, origin, &mut after, tx, stop) {
            tracing::error!("change feed: {e}; reconnecting");
            lost = true;
        }
    }
}

fn listen(url: &str) -> Result<Client, crate::server::store::StoreError> {
    let mut conn = connect(url)?;
    conn.batch_execute(&format!("LISTEN {CHANNEL}"))?;
    Ok(conn)
}

/// Reads, then waits for a notification (or [`POLL`]), until the connection fails or the feed
/// stops.
fn follow(
    conn: &mut Client,
    origin: &str,
    after: &mut u64,
    tx: &mpsc::Sender<FeedItem>,
    stop: &watch::Receiver<bool>,
) -> Result<(), postgres::Error> {
    loop {
        if *stop.borrow() || tx.is_closed() {
            return Ok(());
        }
        // Read until a read comes back short: the feed is then caught up.
        while read(conn, origin, after, tx)? == BATCH as usize {}
        // Wait for the next commit's notification; take every one queued.
        let woken = conn.notifications().timeout_iter(POLL).next()?.is_some();
        if woken {
            while conn.notifications().iter().next()?.is_some() {}
        }
    }
}

/// Passes on the records after `after` that other replicas wrote; returns how many rows it read.
fn read(
    conn: &mut Client,
    origin: &str,
    after: &mut u64,
    tx: &mpsc::Sender<FeedItem>,
) -> Result<usize, postgres::Error> {
    let rows = conn.query(
        "SELECT seq, kind, actor, body, origin FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2",
        &[&(*after as i64), &BATCH],
    )?;
    let mut records = Vec::with_capacity(rows.len());
    for row in &rows {
        let seq = row.get::<_, i64>(0) as u64;
        if row.get::<_, &str>(4) == origin {
            continue;
        }
        let (kind, actor, body): (&str, &str, &str) = (row.get(1), row.get(2), row.get(3));
        let event = serde_json::from_str::<Value>(body)
            .map_err(|e| e.to_string())
            .and_then(|v| AuditEvent::parse(kind, actor, &v).map_err(|e| e.to_string()));
        match event {
            Ok(event) => records.push(FeedRecord {
                seq,
                event,
                governed: None,
            }),
            // `gavel audit verify` reports it; the replicas carry on without it.
            Err(e) => tracing::error!("change feed: audit record {seq} cannot be read: {e}"),
        }
    }
    let mut governed = governed_calls(conn, &records)?;
    for mut record in records {
        if let AuditEvent::Action(a) = &record.event {
            record.governed = governed.remove(&a.action).flatten();
        }
        if tx
            .blocking_send(FeedItem::Record(Box::new(record)))
            .is_err()
        {
            return Ok(rows.len());
        }
    }
    if let Some(last) = rows.last() {
        *after = last.get::<_, i64>(0) as u64;
    }
    Ok(rows.len())
}

/// What decided each call among `records`, as its row says: the breaker, limit or kill switch,
/// or none. A call whose row is gone (pruned) is left out.
fn governed_calls(
    conn: &mut Client,
    records: &[FeedRecord],
) -> Result<HashMap<String, Option<String>>, postgres::Error> {
    let ids: Vec<&str> = records
        .iter()
        .filter_map(|r| match &r.event {
            AuditEvent::Action(a) => Some(a.action.as_str()),
            _ => None,
        })
        .collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = conn.query(
        "SELECT id, governed FROM actions WHERE id = ANY($1)",
        &[&ids],
    )?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}
