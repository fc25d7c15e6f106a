//! The SQLite writer's transaction: a batch is applied whole, and done again job by job only
//! when one fails; the WAL starts over under steady writes instead of growing (a checkpoint
//! that runs beside the writer never catches up by itself: the writer copies the rest).

use std::sync::atomic::Ordering;
use std::time::Duration;

use rusqlite::Connection;

use super::tests::{flip, refused};
use super::*;
use crate::server::audit::{verify, Expect};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_with_a_failing_job_is_done_again_job_by_job_in_one_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), PersonKey::generate("server")).unwrap();
    store.write(Op::Audit, refused()).await.unwrap();
    let before = store.stats.commits.load(Ordering::Relaxed);
    // Another connection holds the write lock, so the writes sent meanwhile queue up and the
    // writer takes them as one batch once it is released.
    let mut holder = Connection::open(db_path(dir.path())).unwrap();
    let lock = holder
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    let send = |(op, audit): (Op, Vec<_>)| {
        let store = store.clone();
        tokio::spawn(async move { store.write(op, audit).await })
    };
    let pause = || tokio::time::sleep(Duration::from_millis(100));
    let first = send((Op::Audit, refused()));
    pause().await;
    let ok = send(flip("global"));
    pause().await;
    let reused = send(flip("tool:x"));
    pause().await;
    let after = send((Op::Audit, refused()));
    pause().await;
    lock.commit().unwrap();

    first.await.unwrap().expect("the first write commits");
    ok.await.unwrap().expect("the flip commits");
    let e = reused
        .await
        .unwrap()
        .err()
        .expect("a reused signature fails");
    assert!(e.to_string().contains("UNIQUE"), "{e}");
    after.await.unwrap().expect("the job after it commits");
    assert_eq!(
        store.stats.commits.load(Ordering::Relaxed) - before,
        2,
        "the first write waited alone; the last three shared one transaction"
    );
    store.shutdown().await;
    let report = verify(&db_path(dir.path()), &Expect::default()).unwrap();
    assert_eq!(
        report.records, 4,
        "the failed job's record was undone with it alone"
    );
}

#[tokio::test]
async fn the_wal_starts_over_under_steady_writes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), PersonKey::generate("server")).unwrap();
    let wal = dir.path().join("gavel.db-wal");
    let mut largest = 0;
    // One commit each: 3,000 commits of about ten pages, some 120 MB if the WAL never started
    // over, which it must do though the writer never waits between commits.
    for i in 0..3000 {
        let (op, audit) = flip(&format!("tool:t{i}"));
        let op = match op {
            Op::KillSwitch {
                switch, cancelled, ..
            } => Op::KillSwitch {
                switch,
                signature: format!("signature-{i}"),
                cancelled,
            },
            other => other,
        };
        store.write(op, audit).await.unwrap();
        largest = largest.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
    }
    // The automatic checkpoint is left only as a bound at 64 MiB: a WAL kept far below that
    // was started over by the checkpointer thread and the writer's catch-up.
    assert!(
        largest < 24 << 20,
        "the WAL grew to {largest} bytes over 3,000 commits"
    );
    store.shutdown().await;
}

#[tokio::test]
async fn each_commit_replaces_the_last_checkpoint_except_the_last_of_every_run_and_verify_holds() {
    use crate::server::store::chain::KEEP_EVERY;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), PersonKey::generate("server")).unwrap();
    // One record per commit, so every seq is checkpointed once on its way.
    let records = 2 * KEEP_EVERY + 52;
    for _ in 0..records {
        store.write(Op::Audit, refused()).await.unwrap();
    }
    store.shutdown().await;
    let conn = Connection::open(db_path(dir.path())).unwrap();
    let kept: Vec<i64> = conn
        .prepare("SELECT seq FROM checkpoints ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let every = KEEP_EVERY as i64;
    assert_eq!(kept, [every - 1, 2 * every - 1, records as i64]);
    let report = verify(&db_path(dir.path()), &Expect::default()).unwrap();
    assert_eq!((report.records, report.checkpoints), (records, 3));
}
