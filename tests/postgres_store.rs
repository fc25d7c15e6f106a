//! The PostgreSQL store's write side on a real PostgreSQL: replicas appending to one chain, jobs
//! failing alone, fenced escalation changes, the change feed, `gavel audit verify --store`, and
//! a database that is unreachable, lost or back.

mod common;

#[path = "postgres_store/chain.rs"]
mod chain;
#[path = "postgres_store/connection.rs"]
mod connection;
#[path = "postgres_store/feed.rs"]
mod feed;
#[path = "postgres_store/fence.rs"]
mod fence;
#[path = "postgres_store/verify.rs"]
mod verify;

use chrono::Utc;
use gavel::protocol::{KillSwitch, KillSwitchBody, PersonKey, SignedKillSwitch};
use gavel::server::audit::{verify, AuditEvent, Expect, VerifyReport, GENESIS};
use gavel::server::store::postgres::export::snapshot;
use gavel::server::store::{Op, Store};
use postgres::Client;

/// The replicas' shared server key (each replica has the same `server.key`).
pub fn server_key() -> PersonKey {
    PersonKey::from_private(
        "server",
        "ed25519:BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=",
    )
    .unwrap()
}

/// A store on `url` as the replica `origin` opens it.
pub fn open(url: &str, origin: &str) -> Store {
    Store::open_postgres(url, server_key(), origin).expect("the store opens")
}

/// Runs `f` on a direct connection to `url` (see `common::postgres::with_client`).
pub fn pg<T: Send + 'static>(url: &str, f: impl FnOnce(&mut Client) -> T + Send + 'static) -> T {
    crate::common::postgres::with_client(url, f)
}

/// A kill switch flip signed (as far as the store knows) with `signature`.
pub fn flip(scope: &str, signature: &str) -> (Op, Vec<AuditEvent>) {
    let switch = KillSwitch {
        scope: scope.into(),
        on: true,
        reason: "r".into(),
        by: "alice".into(),
        at: Utc::now(),
    };
    let signed = SignedKillSwitch {
        body: KillSwitchBody {
            scope: scope.into(),
            on: true,
            reason: "r".into(),
            operator: "alice".into(),
            issued_at: "2026-01-01T00:00:00Z".into(),
        },
        signature: signature.into(),
    };
    let audit = vec![AuditEvent::killswitch(&switch, &signed)];
    let op = Op::KillSwitch {
        switch,
        signature: signature.into(),
        cancelled: vec![],
    };
    (op, audit)
}

/// One refusal record, at `path`.
pub fn refused(path: &str) -> Vec<AuditEvent> {
    vec![AuditEvent::refused(
        "alice",
        "GET",
        path.into(),
        403,
        "c",
        "no".into(),
    )]
}

/// One audit row: seq, the hash of the row before it (genesis for the first), its hash, origin.
pub type Row = (i64, String, String, String);

/// The audit rows in seq order, checked to be one linear chain from genesis, and every
/// checkpoint to name the hash of the record at its seq.
pub fn linear_chain(url: &str) -> Vec<Row> {
    let (rows, checkpoints) = pg(url, |c| {
        let rows: Vec<Row> = c
            .query(
                "SELECT seq,
                        encode(COALESCE(lag(hash) OVER (ORDER BY seq), decode($1, 'hex')), 'hex'),
                        encode(hash, 'hex'), origin
                 FROM audit ORDER BY seq",
                &[&GENESIS],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect();
        let checkpoints: Vec<(i64, String)> = c
            .query("SELECT seq, head FROM checkpoints ORDER BY seq", &[])
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        (rows, checkpoints)
    });
    let mut prev = GENESIS.to_string();
    for (i, (seq, prev_hash, hash, _)) in rows.iter().enumerate() {
        assert_eq!(*seq, i as i64 + 1, "seqs run 1..N without a gap");
        assert_eq!(*prev_hash, prev, "record {seq} links to record {}", seq - 1);
        prev = hash.clone();
    }
    for (seq, head) in &checkpoints {
        assert_eq!(
            *head,
            rows[*seq as usize - 1].2,
            "checkpoint {seq} is over the chain"
        );
    }
    assert_eq!(
        checkpoints.last().map(|c| c.0),
        rows.last().map(|r| r.0),
        "the head is checkpointed"
    );
    rows
}

/// `gavel audit verify`'s checks on a copy of the store.
pub fn verify_copy(url: &str) -> Result<VerifyReport, String> {
    let url = url.to_string();
    std::thread::spawn(move || {
        let copy = snapshot(&url).map_err(|e| e.to_string())?;
        verify(copy.path(), &Expect::default()).map_err(|e| e.to_string())
    })
    .join()
    .expect("the verify thread")
}
