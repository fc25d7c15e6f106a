//! Escalation writes: created with the session's history read in the write transaction, and
//! changed only from the state they were made from.

use chrono::Utc;
use gavel::protocol::{ActionRecord, Effect, Escalation, EscalationState};
use gavel::server::store::{ActionWrite, Change, ExpiryPlan, Op, Reply, Store, StoreError};
use serde_json::json;

use super::{open, pg};
use crate::common::postgres::fresh_database;

fn record(id: &str) -> ActionRecord {
    serde_json::from_value(json!({
        "id": id, "agent": "deployer", "tool": "deploy.release", "args": {"env": id},
        "session": "s1", "submitted_at": Utc::now(), "policy_version": "1",
    }))
    .unwrap()
}

fn write(record: ActionRecord, escalation: Option<Escalation>) -> Op {
    Op::Action(Box::new(ActionWrite {
        effect: if escalation.is_some() {
            Effect::Review
        } else {
            Effect::Allow
        },
        rule: Some("deploy".into()),
        reason: "r".into(),
        escalation: escalation.map(|e| {
            let plan = ExpiryPlan {
                escalate_to: None,
                timeout_secs: 60,
            };
            (e, plan)
        }),
        flagged: None,
        key: None,
        grant: None,
        governed: None,
        record,
    }))
}

fn escalation(id: &str, record: &ActionRecord) -> Escalation {
    serde_json::from_value(json!({
        "id": id, "action": record, "digest": "d",
        "rule": {"id": "deploy", "effect": "review", "reason": "r"},
        "history": [], "group": "ops", "approvals_required": 1, "separate_owner": false,
        "created_at": Utc::now(), "deadline": Utc::now() + chrono::Duration::minutes(1),
        "state": "pending",
    }))
    .unwrap()
}

/// Writes `rec` as a call held for review under escalation `id`, and the escalation stored.
async fn escalate(store: &Store, rec: &ActionRecord, id: &str) -> Box<Escalation> {
    let op = write(rec.clone(), Some(escalation(id, rec)));
    let Reply::Escalation(stored) = store.write(op, vec![]).await.unwrap() else {
        panic!("an escalating action answers with its escalation");
    };
    stored
}

fn resolved(esc: &Escalation) -> Escalation {
    let mut e = esc.clone();
    e.state = EscalationState::Approved;
    e.resolved_at = Some(Utc::now());
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_escalation_changes_only_from_the_state_it_was_read_in() {
    let url = fresh_database();
    let (a, b) = (open(&url, "replica-a"), open(&url, "replica-b"));
    // An earlier call of the session, written by the other replica.
    b.write(write(record("act_1"), None), vec![]).await.unwrap();
    let stored = escalate(&a, &record("act_2"), "esc_1").await;
    let history: Vec<&str> = stored.history.iter().map(|c| c.action.as_str()).collect();
    assert_eq!(history, ["act_1"], "the session's calls on every replica");
    assert_eq!(stored.history[0].args, json!({"env": "act_1"}));

    // A change made from another state than the stored one (another replica changed it since).
    let mut stale = (*stored).clone();
    stale.group = "backup".into();
    let e = b
        .write(
            Op::Escalation(Change::new(&stale, resolved(&stale))),
            vec![],
        )
        .await
        .err()
        .expect("a stale change is refused");
    assert!(
        matches!(&e, StoreError::Conflict(id) if id == "esc_1"),
        "{e}"
    );

    let mut missing = (*stored).clone();
    missing.id = "esc_nope".into();
    let e = a
        .write(
            Op::Escalation(Change::new(&missing, resolved(&missing))),
            vec![],
        )
        .await
        .err()
        .expect("a change to no escalation is refused");
    assert!(
        matches!(&e, StoreError::NoSuchEscalation(id) if id == "esc_nope"),
        "{e}"
    );

    // The change made from the stored state applies once; the same change again is stale.
    let change = || Op::Escalation(Change::new(&stored, resolved(&stored)));
    b.write(change(), vec![])
        .await
        .expect("the fenced change applies");
    let e = a.write(change(), vec![]).await.err().expect("applied once");
    assert!(matches!(&e, StoreError::Conflict(_)), "{e}");
    let state = super::pg(&url, |c| {
        c.query_one("SELECT state FROM escalations WHERE id = 'esc_1'", &[])
            .unwrap()
            .get::<_, String>(0)
    });
    assert_eq!(state, "approved");
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_escalation_that_cannot_be_read_is_denied_and_audited() {
    let url = fresh_database();
    let store = open(&url, "replica-a");
    escalate(&store, &record("act_1"), "esc_1").await;
    super::pg(&url, |c| {
        c.execute(
            "UPDATE escalations SET body = '{not json' WHERE id = 'esc_1'",
            &[],
        )
        .unwrap()
    });
    let Reply::Denied(denied) = store.write(Op::DenyUnreadable, vec![]).await.unwrap() else {
        panic!("DenyUnreadable answers with what it denied");
    };
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0].0, "esc_1");
    let (state, kind) = super::pg(&url, |c| {
        let state: String = c
            .query_one("SELECT state FROM escalations WHERE id = 'esc_1'", &[])
            .unwrap()
            .get(0);
        let kind: String = c
            .query_one("SELECT kind FROM audit ORDER BY seq DESC LIMIT 1", &[])
            .unwrap()
            .get(0);
        (state, kind)
    });
    assert_eq!(state, "unreadable");
    assert_eq!(kind, "escalation_unreadable");
    store.shutdown().await;
}

/// A store taken back to version 1: without version 3's `tools_called`; version 2's actions as
/// version 1's, each row's record rebuilt around its arguments as a version 1 server stored it;
/// and version 4's audit table as version 1's, each record with its link, its hash as hex and
/// the typed columns of the calls and escalations this test writes.
const TO_V1: &str = r#"
DROP FUNCTION audit_verdict(TEXT, TEXT);
DROP FUNCTION audit_agent(TEXT, TEXT);
DROP FUNCTION audit_json(TEXT);
DROP INDEX audit_by_kind;
ALTER TABLE audit ALTER COLUMN hash TYPE TEXT USING encode(hash, 'hex'),
    ADD COLUMN prev_hash TEXT, ADD COLUMN agent TEXT, ADD COLUMN tool TEXT,
    ADD COLUMN action TEXT, ADD COLUMN escalation TEXT, ADD COLUMN verdict TEXT;
UPDATE audit SET prev_hash = l.prev,
                 agent = CASE WHEN kind <> 'server_start' THEN body::jsonb ->> 'agent' END,
                 tool = body::jsonb ->> 'tool',
                 action = body::jsonb ->> 'action',
                 escalation = body::jsonb ->> 'escalation',
                 verdict = CASE WHEN kind = 'action' THEN body::jsonb ->> 'effect' END
    FROM (SELECT seq, COALESCE(lag(hash) OVER (ORDER BY seq), repeat('0', 64)) AS prev
          FROM audit) l
    WHERE audit.seq = l.seq;
ALTER TABLE audit ALTER COLUMN prev_hash SET NOT NULL;
CREATE INDEX audit_by_kind ON audit (kind, seq);
DROP TABLE tools_called;
ALTER TABLE actions ADD COLUMN record TEXT;
UPDATE actions SET record = json_build_object(
    'id', id, 'agent', agent, 'tool', tool, 'args', args::json, 'session', session,
    'submitted_at', at, 'policy_version', '1')::text;
ALTER TABLE actions ALTER COLUMN record SET NOT NULL;
ALTER TABLE actions DROP COLUMN args;
CREATE INDEX audit_by_agent ON audit (agent, seq);
CREATE INDEX audit_by_escalation ON audit (escalation, seq);
UPDATE meta SET value = '1' WHERE key = 'schema_version';
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_stored_whole_are_migrated_to_their_arguments_which_the_history_shows() {
    let url = fresh_database();
    let a = open(&url, "replica-a");
    for id in ["act_1", "act_2"] {
        a.write(write(record(id), None), vec![]).await.unwrap();
    }
    a.shutdown().await;
    pg(&url, |c| {
        c.batch_execute(TO_V1).unwrap();
        // A record that is not JSON does not stop the migration: its arguments become null.
        c.execute(
            "UPDATE actions SET record = '{not json' WHERE id = 'act_2'",
            &[],
        )
        .unwrap();
    });

    let a = open(&url, "replica-a");
    let stored = escalate(&a, &record("act_3"), "esc_1").await;
    let shown: Vec<&serde_json::Value> = stored.history.iter().map(|c| &c.args).collect();
    assert_eq!(shown, [&json!({"env": "act_1"}), &serde_json::Value::Null]);
    a.shutdown().await;
    let (version, indexes) = pg(&url, |c| {
        let version: String = c
            .query_one("SELECT value FROM meta WHERE key = 'schema_version'", &[])
            .unwrap()
            .get(0);
        let indexes: Vec<String> = c
            .query(
                "SELECT indexname::text FROM pg_indexes WHERE tablename = 'audit' ORDER BY 1",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        (version, indexes)
    });
    assert_eq!(
        version,
        gavel::server::store::postgres::schema::VERSION.to_string()
    );
    assert_eq!(indexes, ["audit_by_kind", "audit_pkey"]);
    // The chain came through whole: every hash the one its checkpoints signed.
    crate::linear_chain(&url);
}
