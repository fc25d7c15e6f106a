use rusqlite::{params, Connection};

use super::*;
use crate::protocol::{KillSwitch, KillSwitchBody, PersonKey, SignedKillSwitch};
use crate::server::audit::{verify, AuditEvent, Expect};
use crate::server::store::chain::{Chain, Head};
use crate::server::store::sqlite::{db_path, open};
use crate::server::store::{AuditQuery, Reads};

/// The schema as the server wrote it before versions were recorded (copied, not shared with
/// [`V1`], so a change there cannot make this test pass by itself).
const UNVERSIONED: &str = r#"
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS actions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    agent TEXT NOT NULL,
    session TEXT NOT NULL,
    tool TEXT NOT NULL,
    effect TEXT NOT NULL,
    rule TEXT,
    reason TEXT NOT NULL,
    escalation TEXT,
    record TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS actions_by_session ON actions (agent, session, seq);
CREATE TABLE IF NOT EXISTS escalations (
    id TEXT PRIMARY KEY,
    action TEXT NOT NULL,
    state TEXT NOT NULL,
    body TEXT NOT NULL,
    plan TEXT NOT NULL,
    resolved_at TEXT
);
CREATE INDEX IF NOT EXISTS escalations_by_state ON escalations (state, resolved_at);
CREATE TABLE IF NOT EXISTS killswitches (scope TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS flagged (
    action TEXT PRIMARY KEY,
    reviewed INTEGER NOT NULL,
    body TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS used_signatures (signature TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    time TEXT NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    body TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
    seq INTEGER PRIMARY KEY,
    head TEXT NOT NULL,
    signature TEXT NOT NULL,
    time TEXT NOT NULL
);
"#;

/// A data dir as the server left it before versions: the old tables, a server start, a
/// refusal and a kill switch flip chained and signed with [`key`], written with the old columns only.
fn unversioned(dir: &std::path::Path) {
    let public = key().public().to_string();
    let conn = Connection::open(db_path(dir)).unwrap();
    conn.execute_batch(UNVERSIONED).unwrap();
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('server_public_key', ?1)",
        [&public],
    )
    .unwrap();
    let chain = Chain::new(key());
    let switch = KillSwitch {
        scope: "agent:refund-bot".into(),
        on: true,
        reason: "runaway".into(),
        by: "alice".into(),
        at: chrono::Utc::now(),
    };
    let flip = SignedKillSwitch {
        body: KillSwitchBody {
            scope: switch.scope.clone(),
            on: true,
            reason: switch.reason.clone(),
            operator: "alice".into(),
            issued_at: "2026-01-01T00:00:00Z".into(),
        },
        signature: "sig".into(),
    };
    let mut head = Head::genesis();
    let events = [
        AuditEvent::ServerStart(crate::server::audit::ServerStart {
            version: "0.1.0".into(),
            policy_digest: "p".into(),
            policy_version: "v1".into(),
            roster_digest: "r".into(),
            server_public_key: public.clone(),
            policy_file: "gavel.toml".into(),
            roster_file: "roster.toml".into(),
        }),
        AuditEvent::refused(
            "alice",
            "GET",
            "/v1/audit".into(),
            403,
            "not_auditor",
            "no".into(),
        ),
        AuditEvent::killswitch(&switch, &flip),
    ];
    for event in events {
        let link = chain.link(&mut head, &event).unwrap();
        conn.execute(
            "INSERT INTO audit (seq, time, kind, actor, body, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![link.seq as i64, link.time, link.event.kind(), link.event.actor(), link.body, link.prev_hash, link.hash],
        )
        .unwrap();
    }
    // The kill switch's rows, as the old server left them.
    conn.execute(
        "INSERT INTO killswitches (scope, body) VALUES (?1, ?2)",
        params![switch.scope, serde_json::to_string(&switch).unwrap()],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO used_signatures (signature) VALUES (?1)",
        [&flip.signature],
    )
    .unwrap();
    let c = chain.checkpoint(&head).unwrap();
    conn.execute(
        "INSERT INTO checkpoints (seq, head, signature, time) VALUES (?1, ?2, ?3, ?4)",
        params![c.seq as i64, c.head, c.signature, c.time],
    )
    .unwrap();
}

/// The same server key every time it is asked for.
pub(super) fn key() -> PersonKey {
    let private = format!("ed25519:{}AQE=", "AQEB".repeat(10));
    PersonKey::from_private("server", &private).unwrap()
}

#[test]
fn a_store_from_before_versions_is_migrated_and_still_verifies() {
    let dir = tempfile::tempdir().unwrap();
    unversioned(dir.path());
    let path = db_path(dir.path());
    assert_eq!(version(&Connection::open(&path).unwrap()).unwrap(), 0);
    // Verifiable before the migration (no typed columns yet) ...
    assert_eq!(verify(&path, &Expect::default()).unwrap().records, 3);

    let (writer, readers) = open(dir.path(), key(), 1).unwrap();
    drop(writer);
    assert_eq!(version(&Connection::open(&path).unwrap()).unwrap(), VERSION);
    // ... the typed columns were backfilled from the bodies, and the log still verifies.
    let by_agent = readers[0]
        .audit_records(&AuditQuery {
            agent: Some("refund-bot".into()),
            ..AuditQuery::default()
        })
        .unwrap();
    let kinds = |records: Vec<crate::protocol::AuditRecord>| {
        records.into_iter().map(|r| r.kind).collect::<Vec<_>>()
    };
    assert_eq!(kinds(by_agent), ["killswitch"]);
    let by_actor = readers[0]
        .audit_records(&AuditQuery {
            agent: Some("alice".into()),
            ..AuditQuery::default()
        })
        .unwrap();
    assert_eq!(kinds(by_actor), ["refused", "killswitch"]);
    let report = verify(&path, &Expect::default()).unwrap();
    assert_eq!(report.records, 3);

    // Opening again changes nothing.
    drop(readers);
    let (writer, _) = open(dir.path(), key(), 0).unwrap();
    drop(writer);
    assert_eq!(verify(&path, &Expect::default()).unwrap(), report);
}

#[test]
fn a_new_store_is_at_the_current_version() {
    let dir = tempfile::tempdir().unwrap();
    let (writer, _) = open(dir.path(), PersonKey::generate("server"), 0).unwrap();
    drop(writer);
    let conn = Connection::open(db_path(dir.path())).unwrap();
    assert_eq!(version(&conn).unwrap(), VERSION);
}

#[test]
fn a_store_from_a_newer_gavel_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(dir.path());
    let conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", VERSION + 1)
        .unwrap();
    drop(conn);
    let e = open(dir.path(), PersonKey::generate("server"), 0)
        .err()
        .expect("refused");
    assert!(
        matches!(e, StoreError::NewerSchema { found, supported: VERSION, .. } if found == VERSION + 1),
        "{e}"
    );
    assert!(e.to_string().contains("newer"), "{e}");
    let conn = Connection::open(&path).unwrap();
    assert_eq!(version(&conn).unwrap(), VERSION + 1);
    let tables: i64 = conn
        .query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| r.get(0))
        .unwrap();
    assert_eq!(tables, 0, "nothing was created in it");
}

#[test]
fn verify_names_a_signed_body_that_does_not_fit() {
    use crate::server::audit::{record_hash, EventError, VerifyError};
    let dir = tempfile::tempdir().unwrap();
    unversioned(dir.path());
    let (writer, _) = open(dir.path(), key(), 0).unwrap();
    drop(writer);
    let path = db_path(dir.path());
    let conn = Connection::open(&path).unwrap();

    // A record chained and signed with the server's key, whose body is not a `refused` one.
    let prev: String = conn
        .query_row(
            "SELECT lower(hex(hash)) FROM audit WHERE seq = 3",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let body = serde_json::json!({"code": "c"});
    let time = "2026-01-01T00:00:00.000000Z";
    let hash = record_hash(&prev, 4, time, "refused", "x", &body).unwrap();
    conn.execute(
        "INSERT INTO audit (seq, time, kind, actor, body, hash) VALUES (4, ?1, 'refused', 'x', ?2, unhex(?3))",
        params![time, body.to_string(), hash],
    )
    .unwrap();
    let c = Chain::new(key())
        .checkpoint(&Head { seq: 4, hash })
        .unwrap();
    conn.execute(
        "INSERT INTO checkpoints (seq, head, signature, time) VALUES (?1, ?2, ?3, ?4)",
        params![c.seq as i64, c.head, c.signature, c.time],
    )
    .unwrap();
    let e = verify(&path, &Expect::default()).unwrap_err();
    assert!(
        matches!(
            &e,
            VerifyError::BadEvent {
                seq: 4,
                problem: EventError::Body {
                    kind: "refused",
                    ..
                }
            }
        ),
        "{e}"
    );
    assert!(
        e.to_string()
            .starts_with("record 4: its body is not a `refused` record"),
        "{e}"
    );
}
