//! Webhooks with two replicas on one real PostgreSQL, each a real server on a loopback port,
//! and a real receiver: whichever replica an escalation is created on, the replica holding the
//! webhook lease pages it, once; when that replica stops or loses its lease connection, the
//! other takes over and goes on from the shared cursor.

mod common;

#[allow(dead_code)]
#[path = "webhooks/receiver.rs"]
mod receiver;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use gavel::config::webhook::WebhookEntry;
use gavel::config::ConfigFile;
use gavel::protocol::Verdict;
use gavel::server::store::postgres::WEBHOOK_LOCK;
use serde_json::json;

use common::cluster::Cluster;
use common::postgres::with_client;
use common::{request, POLICY};
use receiver::{verifies, Received, Receiver};

/// Long enough for a second replica delivering the same webhook to have sent an event again:
/// a worker looks at the log every 2 s without being woken, a replica tries for the lease
/// every second.
const QUIET: Duration = Duration::from_secs(4);

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// One JSON webhook to `url`, as `gavel serve --config` reads it.
fn webhook(url: &str) -> Vec<WebhookEntry> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gavel.toml");
    let table = format!("[[webhook]]\nid = \"ops\"\nurl = \"{url}\"\nsecret = \"{SECRET}\"\n");
    std::fs::write(&path, table).unwrap();
    ConfigFile::load(&path).expect("a valid config").webhooks
}

/// The backend pids holding the webhook lease.
fn holders(store: &str) -> Vec<i32> {
    with_client(store, |c| {
        c.query(
            "SELECT pid FROM pg_locks
             WHERE locktype = 'advisory' AND granted
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
               AND ((classid::bigint << 32) | objid::bigint) = $1",
            &[&WEBHOOK_LOCK],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
    })
}

/// Waits up to 10 s for some replica to hold the lease.
async fn lease_taken(store: &str) {
    let until = Instant::now() + Duration::from_secs(10);
    while holders(store).is_empty() {
        assert!(Instant::now() < until, "no replica takes the webhook lease");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the shared cursor is past every event the receiver got: none of them is owed
/// again, whoever delivers next.
async fn cursor_saved(store: &str, rx: &Receiver) {
    let last = rx
        .received()
        .iter()
        .filter_map(|r| r.id.strip_prefix("evt_")?.parse::<i64>().ok())
        .max()
        .expect("events received");
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let body: String = with_client(store, |c| {
            c.query_one(
                "SELECT body FROM webhook_cursors WHERE webhook = 'ops'",
                &[],
            )
            .unwrap()
            .get(0)
        });
        let seq = serde_json::from_str::<serde_json::Value>(&body).unwrap()["seq"]
            .as_i64()
            .unwrap();
        if seq >= last {
            return;
        }
        assert!(
            Instant::now() < until,
            "the cursor stays at {seq}, before {last}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `n` calls held for review on replica `i`: their escalations.
async fn escalate(c: &Cluster, i: usize, n: usize, tag: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for k in 0..n {
        let out = c
            .client(i)
            .submit(
                c.token("refund-bot"),
                &request(
                    "stripe.refund",
                    json!({"amount": 5000.0}),
                    &format!("{tag}-{k}"),
                ),
            )
            .await
            .unwrap();
        assert_eq!(out.verdict, Verdict::Pending, "{out:?}");
        ids.push(out.escalation.unwrap());
    }
    ids
}

/// Waits for each escalation's creation to be paged.
async fn paged(rx: &Receiver, escalations: &[String]) {
    for id in escalations {
        rx.wait_for("the escalation's creation", |r: &Received| {
            let body = r.json();
            body["type"] == "escalation.created" && body["data"]["escalation"] == json!(id)
        })
        .await;
    }
}

/// Every event the receiver got arrived once, signed with the webhook's secret.
fn each_once(rx: &Receiver) {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for r in rx.received() {
        assert!(verifies(SECRET, &r, &r.body), "{r:?}");
        *seen.entry(r.id).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "events delivered more than once: {twice:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_lease_holder_pages_each_event_once_and_the_other_replica_takes_over_when_it_stops() {
    let rx = Receiver::start().await;
    let mut c = Cluster::start_with_webhooks(POLICY, 2, webhook(&rx.url("hook"))).await;
    // Replica 0 alone takes the lease; replica 1, started again, waits behind it.
    c.stop(1).await;
    lease_taken(&c.store).await;
    c.boot(1).await;

    let mut first = escalate(&c, 0, 3, "a").await;
    first.extend(escalate(&c, 1, 3, "b").await);
    paged(&rx, &first).await;
    tokio::time::sleep(QUIET).await;
    each_once(&rx);
    assert_eq!(rx.received().len(), first.len(), "{:#?}", rx.received());

    // The holder stops; created on the survivor before it holds the lease, these are paged
    // once it does, from the cursor the holder saved.
    c.stop(0).await;
    let took_over = Instant::now();
    let later = escalate(&c, 1, 3, "c").await;
    paged(&rx, &later).await;
    assert!(
        took_over.elapsed() < Duration::from_secs(10),
        "the survivor took {:?} to page",
        took_over.elapsed()
    );
    tokio::time::sleep(QUIET).await;
    each_once(&rx);
    assert_eq!(rx.received().len(), first.len() + later.len());
    c.stop(1).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_holder_that_loses_its_lease_connection_stops_paging_and_a_replica_goes_on() {
    let rx = Receiver::start().await;
    let mut c = Cluster::start_with_webhooks(POLICY, 2, webhook(&rx.url("hook"))).await;
    lease_taken(&c.store).await;
    let before = escalate(&c, 0, 2, "a").await;
    paged(&rx, &before).await;
    cursor_saved(&c.store, &rx).await;

    // Only the lease's session ends; the holder's store connections live on.
    let holder = holders(&c.store);
    assert_eq!(holder.len(), 1, "one session holds the lease");
    let pid = holder[0];
    with_client(&c.store, move |db| {
        db.execute("SELECT pg_terminate_backend($1)", &[&pid])
            .unwrap();
        // Gone before anything happens that the old holder could page.
        let until = Instant::now() + Duration::from_secs(10);
        while db
            .query("SELECT 1 FROM pg_stat_activity WHERE pid = $1", &[&pid])
            .unwrap()
            .len()
            == 1
        {
            assert!(Instant::now() < until, "the lease's session does not end");
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let mut after = escalate(&c, 0, 2, "b").await;
    after.extend(escalate(&c, 1, 2, "c").await);
    paged(&rx, &after).await;
    lease_taken(&c.store).await;
    assert_ne!(holders(&c.store), [pid], "a new session holds the lease");
    tokio::time::sleep(QUIET).await;
    each_once(&rx);
    assert_eq!(rx.received().len(), before.len() + after.len());
    c.stop(0).await;
    c.stop(1).await;
}
