//! The lease on a real PostgreSQL: one of two campaigns is elected; killing its session deposes
//! it (and fences its cursor writes) and elects the other; ending a campaign hands over.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::timeout;

use super::*;
use crate::server::store::postgres::test_db::TestDb;
use crate::server::webhooks::cursor::{Cursor, PgCursor};

/// Well past one try, one failed check and a reconnect, on a machine busy with the other tests
/// (6 s once fell short in CI while every lib test ran at once on 2 cores).
const WITHIN: Duration = Duration::from_secs(20);

struct Candidate {
    campaign: Campaign,
    news: mpsc::Receiver<News>,
}

fn candidate(url: &str) -> Candidate {
    let (tx, news) = mpsc::channel(4);
    Candidate {
        campaign: campaign(url, tx).unwrap(),
        news,
    }
}

/// The session of whichever of `a` and `b` is elected first, and which one it was.
async fn first_elected(a: &mut Candidate, b: &mut Candidate) -> (usize, Session) {
    let news = timeout(WITHIN, async {
        tokio::select! {
            n = a.news.recv() => (0, n),
            n = b.news.recv() => (1, n),
        }
    })
    .await
    .expect("one of the two is elected");
    match news {
        (i, Some(News::Elected(s))) => (i, s),
        (i, _) => panic!("candidate {i} was deposed before being elected"),
    }
}

/// Nothing arrives for a while.
async fn quiet(c: &mut Candidate, what: &str) {
    if let Ok(n) = timeout(Duration::from_secs(2), c.news.recv()).await {
        let kind = match n {
            Some(News::Elected(_)) => "elected",
            Some(News::Deposed) => "deposed",
            None => "closed",
        };
        panic!("{what}: got {kind}");
    }
}

/// Ends the session holding the webhook lock, as a database restart or a cut connection would.
fn kill_holder(db: &TestDb) -> u64 {
    let mut c = db.connect();
    c.query(
        "SELECT pg_terminate_backend(pid) FROM pg_locks
         WHERE locktype = 'advisory' AND granted
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND ((classid::bigint << 32) | objid::bigint) = $1",
        &[&WEBHOOK_LOCK],
    )
    .unwrap()
    .len() as u64
}

fn cursor(seq: u64) -> Cursor {
    Cursor {
        seq,
        ..Cursor::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_holds_the_lease_and_another_takes_it_when_its_session_dies() {
    let db = tokio::task::spawn_blocking(|| {
        let db = TestDb::fresh();
        db.migrated();
        db
    })
    .await
    .unwrap();
    let mut cands = [candidate(&db.url), candidate(&db.url)];
    let [a, b] = &mut cands;
    let (first, session) = first_elected(a, b).await;
    let other = 1 - first;
    quiet(
        &mut cands[other],
        "the other replica while the first holds the lease",
    )
    .await;

    // The holder writes its cursor on the lease's session.
    let held = PgCursor::new(session, "pager");
    let h = held.clone();
    tokio::task::spawn_blocking(move || h.save(&cursor(5)))
        .await
        .unwrap()
        .unwrap();

    let db = tokio::task::spawn_blocking(move || {
        assert_eq!(kill_holder(&db), 1, "one session holds the lock");
        db
    })
    .await
    .unwrap();
    match timeout(WITHIN, cands[first].news.recv()).await {
        Ok(Some(News::Deposed)) => {}
        _ => panic!("the holder whose session died is deposed"),
    }
    let session = match timeout(WITHIN, cands[other].news.recv()).await {
        Ok(Some(News::Elected(s))) => s,
        _ => panic!("the other replica takes the lease"),
    };
    // The deposed holder's session can no longer move the cursor; the new one reads where it
    // got and goes on.
    let stale = tokio::task::spawn_blocking(move || held.save(&cursor(99)))
        .await
        .unwrap();
    assert!(stale.is_err(), "a write on the dead session fails");
    let taken = PgCursor::new(session, "pager");
    let loaded = tokio::task::spawn_blocking(move || taken.load())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(loaded, Some(cursor(5)));

    // The deposed replica campaigns again on a new connection, and waits.
    quiet(
        &mut cands[first],
        "the deposed replica while the other holds the lease",
    )
    .await;
    for c in cands {
        c.campaign.end(WITHIN).await;
    }
    tokio::task::spawn_blocking(move || drop(db)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_stops_hands_the_lease_over() {
    let db = tokio::task::spawn_blocking(|| {
        let db = TestDb::fresh();
        db.migrated();
        db
    })
    .await
    .unwrap();
    let mut cands = vec![candidate(&db.url), candidate(&db.url)];
    let (first, session) = {
        let [a, b] = &mut cands[..] else {
            unreachable!()
        };
        first_elected(a, b).await
    };
    drop(session);
    let mut leaving = cands.remove(first);
    let mut staying = cands.remove(0);
    leaving.campaign.end(WITHIN).await;
    assert!(leaving.news.recv().await.is_none(), "its campaign ended");
    let took = timeout(Duration::from_secs(3), staying.news.recv()).await;
    assert!(
        matches!(took, Ok(Some(News::Elected(_)))),
        "the other replica takes over within a try or two"
    );
    staying.campaign.end(WITHIN).await;
    tokio::task::spawn_blocking(move || drop(db)).await.unwrap();
}
