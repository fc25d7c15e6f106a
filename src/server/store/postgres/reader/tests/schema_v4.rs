//! Schema 4: a store whose audit records kept their link, their hash as hex and their typed
//! columns is migrated to one that keeps the hash's 32 bytes alone, and reads, filters and
//! verifies the same; a store at schema 3 still verifies as it is, typed columns included.

use postgres::Client;

use super::db::Pair;
use super::fixture::{self, Clock};
use crate::server::audit::{every_kind_of_event, verify, AuditEvent, Expect, VerifyError};
use crate::server::store::backend::Reads;
use crate::server::store::postgres::export::snapshot;
use crate::server::store::postgres::schema::{migrate, VERSION};
use crate::server::store::{sqlite, AuditQuery};

/// Takes a store back to schema 3, as a version 3 server wrote it: the link and the hash as hex
/// in each row, the typed columns filled in from each record's event (none for a body that is
/// not one), every record in the index by kind, and no functions over bodies.
const TO_V3: &str = r#"
DROP FUNCTION audit_verdict(TEXT, TEXT);
DROP FUNCTION audit_agent(TEXT, TEXT);
DROP FUNCTION audit_json(TEXT);
CREATE TABLE audit_v3 (
    seq BIGINT PRIMARY KEY,
    time TEXT COLLATE "C" NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    body TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    agent TEXT,
    tool TEXT,
    action TEXT,
    escalation TEXT,
    verdict TEXT,
    origin TEXT NOT NULL
);
INSERT INTO audit_v3 (seq, time, kind, actor, body, prev_hash, hash, origin)
    SELECT seq, time, kind, actor, body,
           encode(COALESCE(lag(hash) OVER (ORDER BY seq), decode(repeat('0', 64), 'hex')), 'hex'),
           encode(hash, 'hex'), origin
    FROM audit ORDER BY seq;
DROP TABLE audit;
ALTER TABLE audit_v3 RENAME TO audit;
ALTER INDEX audit_v3_pkey RENAME TO audit_pkey;
CREATE INDEX audit_by_kind ON audit (kind, seq);
UPDATE meta SET value = '3' WHERE key = 'schema_version';
"#;

fn to_v3(c: &mut Client) {
    c.batch_execute(TO_V3).unwrap();
    let rows: Vec<(i64, String, String, String)> = c
        .query("SELECT seq, kind, actor, body FROM audit", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    for (seq, kind, actor, body) in rows {
        let Ok(body) = serde_json::from_str(&body) else {
            continue;
        };
        let Ok(event) = AuditEvent::parse(&kind, &actor, &body) else {
            continue;
        };
        let i = event.index();
        c.execute(
            "UPDATE audit SET agent = $1, tool = $2, action = $3, escalation = $4, verdict = $5
             WHERE seq = $6",
            &[
                &i.agent,
                &i.tool,
                &i.action,
                &i.escalation,
                &i.verdict,
                &seq,
            ],
        )
        .unwrap();
    }
}

/// The fixture (the records of calls, escalations, decisions, kill switches and breakers, as the
/// writer chains them) in both stores.
fn written() -> Pair {
    let mut pair = Pair::new();
    fixture::write(&mut pair.writer, &Clock::new());
    pair.copy();
    pair
}

/// `gavel audit verify --store` on the PostgreSQL store.
fn verify_pg(pair: &Pair) -> Result<(), VerifyError> {
    let copy = snapshot(&pair.db.url).expect("the store is copied");
    verify(copy.path(), &Expect::default()).map(drop)
}

/// Verify finds in the PostgreSQL store what it finds in the SQLite store the fixture was
/// written to. The fixture cancels an escalation with no record of it, so there verify gets past
/// every record's place, link, hash and typed columns and stops at the state tables.
#[track_caller]
fn verifies_as_written(pair: &Pair) {
    let written = verify(&sqlite::db_path(pair.dir.path()), &Expect::default()).map(drop);
    assert!(matches!(written, Err(VerifyError::State(_))), "{written:?}");
    let text = |r: Result<(), VerifyError>| r.map_err(|e| e.to_string());
    assert_eq!(text(verify_pg(pair)), text(written));
}

/// Verify on the PostgreSQL store names record `seq`, with `problem` in what it says.
#[track_caller]
fn names_record(pair: &Pair, seq: u64, problem: &str) {
    let e = verify_pg(pair).unwrap_err();
    assert!(
        matches!(&e, VerifyError::BadRecord { seq: s, problem: p } if *s == seq && p.contains(problem)),
        "{e}"
    );
}

fn queries() -> Vec<AuditQuery> {
    let q = |agent: Option<&str>, kind: Option<&str>, verdict: Option<&str>| AuditQuery {
        agent: agent.map(str::to_string),
        kind: kind.map(str::to_string),
        verdict: verdict.map(str::to_string),
        ..AuditQuery::default()
    };
    vec![
        q(None, None, None),
        q(Some("bot"), None, None),
        q(Some("carol"), Some("decision"), Some("approve")),
        q(None, Some("action"), Some("deny")),
        q(None, None, Some("approved")),
        q(Some("nobody"), None, None),
    ]
}

fn hashes(c: &mut Client, hex: &str) -> Vec<String> {
    c.query(&format!("SELECT {hex} FROM audit ORDER BY seq"), &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[test]
fn records_stored_with_their_link_and_hex_hash_are_migrated_and_read_and_verify_the_same() {
    let pair = written();
    verifies_as_written(&pair);
    let read = || {
        queries()
            .iter()
            .map(|q| pair.pg.audit_records(q).unwrap())
            .collect::<Vec<_>>()
    };
    let before = read();
    assert!(before[0].len() > 30, "{}", before[0].len());
    assert!(before[1..5].iter().all(|r| !r.is_empty()), "{before:#?}");
    assert!(before[5].is_empty());

    let mut c = pair.pg_conn();
    to_v3(&mut c);
    // A schema 3 store is verified as it is, its stored link and typed columns included.
    verifies_as_written(&pair);
    let agent: Option<String> = c
        .query_one("SELECT agent FROM audit WHERE seq = 2", &[])
        .unwrap()
        .get(0);
    assert!(agent.is_some(), "record 2 is an agent's");
    c.execute("UPDATE audit SET agent = 'nobody' WHERE seq = 2", &[])
        .unwrap();
    names_record(&pair, 2, "index columns");
    c.execute("UPDATE audit SET agent = $1 WHERE seq = 2", &[&agent])
        .unwrap();
    verifies_as_written(&pair);
    let old_hashes = hashes(&mut c, "hash");

    migrate(&mut c, "test").expect("migrated");
    let version: String = c
        .query_one("SELECT value FROM meta WHERE key = 'schema_version'", &[])
        .unwrap()
        .get(0);
    assert_eq!(version, VERSION.to_string());
    // The same records, links, hashes and filters, in 32 bytes a hash.
    assert_eq!(read(), before);
    let lengths: Vec<i32> = c
        .query("SELECT length(hash) FROM audit", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(lengths.iter().all(|n| *n == 32), "{lengths:?}");
    assert_eq!(hashes(&mut c, "encode(hash, 'hex')"), old_hashes);
    verifies_as_written(&pair);

    // A stored hash edited is caught, as before.
    c.execute(
        "UPDATE audit SET hash = decode(repeat('0', 64), 'hex') WHERE seq = 2",
        &[],
    )
    .unwrap();
    names_record(&pair, 2, "edited");
}

/// A hash that is not hex, which no server wrote, does not stop the migration: it is kept as
/// its bytes, and verify reports the record.
#[test]
fn a_hash_that_is_not_hex_is_kept_and_reported() {
    let pair = written();
    let mut c = pair.pg_conn();
    to_v3(&mut c);
    c.execute("UPDATE audit SET hash = 'not hex' WHERE seq = 1", &[])
        .unwrap();
    migrate(&mut c, "test").expect("migrated");
    let kept: Vec<u8> = c
        .query_one("SELECT hash FROM audit WHERE seq = 1", &[])
        .unwrap()
        .get(0);
    assert_eq!(kept, b"not hex");
    names_record(&pair, 1, "edited");
}

/// The functions the filters read each record's agent and verdict by give what the server
/// indexed each kind by, as SQLite's generated columns do; a body that is not JSON has neither,
/// and fails no query.
#[test]
fn the_store_reads_each_kind_by_the_agent_and_verdict_it_is_indexed_by() {
    let pair = Pair::new();
    let mut c = pair.pg_conn();
    let read = |c: &mut Client, kind: &str, body: &str| -> (Option<String>, Option<String>) {
        let r = c
            .query_one(
                "SELECT audit_agent($1, $2), audit_verdict($1, $2)",
                &[&kind, &body],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    for (event, _, body) in every_kind_of_event() {
        let kind = event.kind();
        let (agent, verdict) = read(&mut c, kind, &body.to_string());
        let index = event.index();
        assert_eq!(agent.as_deref(), index.agent, "{kind}");
        assert_eq!(verdict.as_deref(), index.verdict, "{kind}");
    }
    for body in ["{broken", "", "[1, 2]", "\"agent\"", "null"] {
        assert_eq!(read(&mut c, "action", body), (None, None), "{body}");
    }
}

/// A filter by agent or verdict reads every record it passes over through the functions; where
/// PostgreSQL would scan a large log in parallel workers, it scans in one process instead, as
/// the functions cannot run in a worker.
#[test]
fn a_filter_over_a_log_large_enough_to_scan_in_parallel_runs() {
    let pair = Pair::new();
    let mut c = pair.pg_conn();
    c.batch_execute(
        "INSERT INTO audit (seq, time, kind, actor, body, hash, origin)
             SELECT n, 't', 'action', 'bot', '{\"agent\": \"bot\", \"effect\": \"allow\"}',
                    '\\x00', 'test'
             FROM generate_series(1, 20000) n;
         ANALYZE audit;
         SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0;
         SET min_parallel_table_scan_size = 0; SET max_parallel_workers_per_gather = 2;",
    )
    .unwrap();
    for filter in [
        "audit_agent(kind, body) = 'nobody'",
        "audit_verdict(kind, body) = 'deny'",
    ] {
        let sql = format!("SELECT count(*) FROM audit WHERE {filter}");
        let n: i64 = c
            .query_one(&sql, &[])
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .get(0);
        assert_eq!(n, 0, "{sql}");
    }
}

/// The queries that find records by kind can use the index by kind, which leaves out the
/// actions (most of the log): PostgreSQL proves each query's kinds are not `action`.
#[test]
fn the_queries_by_kind_can_use_the_index_without_actions() {
    let pair = Pair::new();
    let mut c = pair.pg_conn();
    // Plans for any parameters, as the reader's prepared statements get after a few runs;
    // and no plan that reads the whole table, so an index that can serve is shown serving.
    c.batch_execute("SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off")
        .unwrap();
    let queries = [
        (super::super::audit::BREAKER_RECORDS, ""),
        (super::super::figures::SWITCHES_ON, "('a', 'z', 10)"),
    ];
    for (i, (sql, params)) in queries.into_iter().enumerate() {
        c.batch_execute(&format!("PREPARE q{i} AS {sql}")).unwrap();
        let plan: Vec<String> = c
            .query(&format!("EXPLAIN EXECUTE q{i}{params}"), &[])
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        let plan = plan.join("\n");
        assert!(plan.contains("audit_by_kind"), "{sql}\n{plan}");
    }
}
