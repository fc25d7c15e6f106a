//! One chain whatever writes it: two replicas' interleaved batches, and a job failing inside a
//! batch.

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::Duration;

use futures_util::future::join_all;
use gavel::server::store::postgres::CHAIN_LOCK;
use gavel::server::store::{Op, StoreError, KEEP_EVERY};

use super::{flip, linear_chain, open, pg, refused, verify_copy};
use crate::common::postgres::fresh_database;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_writing_at_once_append_one_linear_chain() {
    let url = fresh_database();
    let (a, b) = (open(&url, "replica-a"), open(&url, "replica-b"));
    let rounds = 10;
    let per_replica = 8;
    for round in 0..rounds {
        let writes = (0..per_replica).flat_map(|i| {
            let (op, audit) = if i == 0 {
                flip(&format!("tool:t{round}"), &format!("sig-{round}"))
            } else {
                (Op::Audit, refused(&format!("/v1/a/{round}/{i}")))
            };
            [
                a.write(op, audit),
                b.write(Op::Audit, refused(&format!("/v1/b/{round}/{i}"))),
            ]
        });
        for result in join_all(writes).await {
            result.expect("every write commits");
        }
    }
    let rows = linear_chain(&url);
    assert_eq!(rows.len(), 2 * rounds * per_replica);
    let origins: Vec<&str> = rows.iter().map(|r| r.3.as_str()).collect();
    assert_eq!(
        origins.iter().filter(|o| **o == "replica-a").count(),
        rounds * per_replica
    );
    let runs = 1 + origins.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(
        runs > 2,
        "the replicas' commits interleave (runs of one origin: {runs})"
    );
    let report = verify_copy(&url).expect("the chain verifies");
    assert_eq!(report.records, rows.len() as u64);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_job_is_rolled_back_alone_and_the_head_moves_back() {
    let url = fresh_database();
    let store = open(&url, "replica-a");
    // Another replica holds the chain lock: the first write's commit waits for it, and the
    // writes sent meanwhile queue up into the next batch.
    let (locked_tx, locked) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    let holder = {
        let url = url.clone();
        std::thread::spawn(move || {
            let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            c.execute("SELECT pg_advisory_lock($1)", &[&CHAIN_LOCK])
                .unwrap();
            locked_tx.send(()).unwrap();
            let _ = released.recv();
            c.execute("SELECT pg_advisory_unlock($1)", &[&CHAIN_LOCK])
                .unwrap();
        })
    };
    locked.recv().unwrap();
    let send = |op: Op, audit| {
        let store = store.clone();
        tokio::spawn(async move { store.write(op, audit).await })
    };
    // Sent one after another: the writer takes them off its queue in this order.
    let pause = || tokio::time::sleep(Duration::from_millis(100));
    let first = send(Op::Audit, refused("/v1/first"));
    pause().await;
    let (op, audit) = flip("global", "same-signature");
    let ok = send(op, audit);
    pause().await;
    let (op, audit) = flip("tool:x", "same-signature");
    let reused = send(op, audit);
    pause().await;
    let after = send(Op::Audit, refused("/v1/after"));
    pause().await;
    release.send(()).unwrap();
    holder.join().unwrap();

    first.await.unwrap().expect("the first write commits");
    ok.await.unwrap().expect("the flip commits");
    let e = reused
        .await
        .unwrap()
        .err()
        .expect("a reused signature fails");
    assert!(
        matches!(&e, StoreError::Postgres(_)) && e.to_string().contains("used_signatures_pkey"),
        "{e}"
    );
    after.await.unwrap().expect("the job after it commits");
    assert_eq!(
        store.stats.commits.load(Ordering::Relaxed),
        2,
        "the last three jobs shared one transaction"
    );

    let rows = linear_chain(&url);
    assert_eq!(rows.len(), 3, "the failed job's record was rolled back");
    let report = verify_copy(&url).expect("the chain verifies");
    assert_eq!(report.records, 3);
    let scopes = super::pg(&url, |c| {
        c.query("SELECT scope FROM killswitches", &[])
            .unwrap()
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect::<Vec<_>>()
    });
    assert_eq!(scopes, ["global"]);
    store.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_replace_each_others_checkpoint_and_keep_the_last_of_every_run() {
    let url = fresh_database();
    let (a, b) = (open(&url, "replica-a"), open(&url, "replica-b"));
    // One record per commit, the replicas taking turns: each replaces the checkpoint the other
    // wrote last, and the one before each multiple of KEEP_EVERY stays.
    let records = KEEP_EVERY + 20;
    for i in 0..records {
        let store = if i % 2 == 0 { &a } else { &b };
        store
            .write(Op::Audit, refused(&format!("/v1/{i}")))
            .await
            .expect("every write commits");
    }
    a.shutdown().await;
    b.shutdown().await;
    let kept: Vec<i64> = pg(&url, |c| {
        c.query("SELECT seq FROM checkpoints ORDER BY seq", &[])
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    });
    assert_eq!(kept, [KEEP_EVERY as i64 - 1, records as i64]);
    assert_eq!(linear_chain(&url).len() as u64, records);
    let report = verify_copy(&url).expect("the chain verifies");
    assert_eq!((report.records, report.checkpoints), (records, 2));
}
