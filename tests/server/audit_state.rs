//! `gavel audit verify` checks the state tables against what the log says; rows that cannot be
//! read fail loudly, and a pending escalation that cannot be loaded is denied and audited.

use std::path::Path;
use std::process::Command;

use gavel::protocol::{Escalation, ServerMessage, Verdict};
use gavel::server::audit::{verify, Expect, VerifyError};
use gavel::server::store::db_path;
use rusqlite::{params, Connection};
use serde_json::json;

use crate::audit::{copy_db, populated};
use crate::common::postgres::with_client;
use crate::common::{stream_as, Env, POLICY};

pub fn state_problem(dir: &Path) -> String {
    match verify(&db_path(dir), &Expect::default()) {
        Err(VerifyError::State(p)) => p,
        other => panic!("expected a state table problem, got {other:?}"),
    }
}

fn one(conn: &Connection, sql: &str) -> String {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[tokio::test]
async fn verify_names_the_first_state_table_row_the_log_does_not_support() {
    let env = populated().await;
    verify(&env.records().path(), &Expect::default()).unwrap();

    // An escalation edited from denied to approved (column and body).
    let d = copy_db(&env, "approved");
    let c = Connection::open(db_path(&d)).unwrap();
    let id = one(&c, "SELECT id FROM escalations WHERE state = 'denied'");
    c.execute(
        "UPDATE escalations SET state = 'approved', body = json_set(body, '$.state', 'approved') WHERE id = ?1",
        [&id],
    )
    .unwrap();
    assert_eq!(
        state_problem(&d),
        format!("escalation {id} is approved in the table but the log says denied")
    );
    let out = Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(["audit", "verify", "--data"])
        .arg(&d)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(
        err.trim(),
        format!(
            "gavel: state tables: escalation {id} is approved in the table but the log says denied"
        )
    );

    // Only the body edited: the state the server would load differs from the log.
    let d = copy_db(&env, "body-approved");
    let c = Connection::open(db_path(&d)).unwrap();
    c.execute(
        "UPDATE escalations SET body = json_set(body, '$.state', 'approved') WHERE id = ?1",
        [&id],
    )
    .unwrap();
    assert_eq!(
        state_problem(&d),
        format!("escalation {id} is approved in its stored body but the log says denied")
    );

    // A decision added to the pending escalation (the second of two approvals).
    let d = copy_db(&env, "decision-added");
    let c = Connection::open(db_path(&d)).unwrap();
    let id = one(&c, "SELECT id FROM escalations WHERE state = 'pending'");
    let body = one(&c, "SELECT body FROM escalations WHERE state = 'pending'");
    let mut esc: Escalation = serde_json::from_str(&body).unwrap();
    let mut forged = esc.decisions[0].clone();
    forged.body.approver = "frank".into();
    esc.decisions.push(forged);
    c.execute(
        "UPDATE escalations SET body = ?2 WHERE id = ?1",
        params![id, serde_json::to_string(&esc).unwrap()],
    )
    .unwrap();
    let p = state_problem(&d);
    assert_eq!(
        p,
        format!("escalation {id} has a decision by frank (\"approve\") in the table that the log does not record")
    );

    // A kill switch turned off in the table only.
    let d = copy_db(&env, "switch-off");
    let c = Connection::open(db_path(&d)).unwrap();
    c.execute(
        "UPDATE killswitches SET body = json_set(body, '$.on', json('false')) WHERE scope = 'agent:mailer'",
        [],
    )
    .unwrap();
    assert_eq!(
        state_problem(&d),
        "kill switch agent:mailer is off in the table but the log says on"
    );

    // A used signature forgotten: the flip could be replayed.
    let d = copy_db(&env, "replayable");
    let c = Connection::open(db_path(&d)).unwrap();
    c.execute("DELETE FROM used_signatures", []).unwrap();
    let p = state_problem(&d);
    assert!(
        p.contains("the table lacks it, so it could be replayed"),
        "{p}"
    );

    // A denied action turned into an allowed one.
    let d = copy_db(&env, "allowed");
    let c = Connection::open(db_path(&d)).unwrap();
    let id = one(&c, "SELECT id FROM actions WHERE tool = 'shell.exec'");
    c.execute("UPDATE actions SET effect = 'allow' WHERE id = ?1", [&id])
        .unwrap();
    assert_eq!(
        state_problem(&d),
        format!("action {id} is allow in the table but the log says deny")
    );

    // A flagged action marked reviewed without a review in the log.
    let d = copy_db(&env, "reviewed");
    let c = Connection::open(db_path(&d)).unwrap();
    let id = one(&c, "SELECT action FROM flagged WHERE reviewed = 0");
    c.execute("UPDATE flagged SET reviewed = 1 WHERE action = ?1", [&id])
        .unwrap();
    assert_eq!(
        state_problem(&d),
        format!("flagged action {id} is reviewed in the table but the log records no review of it")
    );

    // An escalation row deleted.
    let d = copy_db(&env, "deleted-row");
    let c = Connection::open(db_path(&d)).unwrap();
    let id = one(&c, "SELECT id FROM escalations WHERE state = 'approved'");
    c.execute("DELETE FROM escalations WHERE id = ?1", [&id])
        .unwrap();
    assert_eq!(
        state_problem(&d),
        format!("escalation {id} is in the log but not in the table")
    );
}

#[tokio::test]
async fn a_pending_escalation_that_cannot_be_loaded_is_denied_and_audited_at_start() {
    // Edits the rows of gavel.db the server reads at its next start.
    let mut env = Env::start_sqlite(POLICY).await;
    let bad = env
        .act(
            "refund-bot",
            "stripe.refund",
            json!({"amount": 4000.0}),
            "s",
        )
        .await;
    let good = env
        .act(
            "refund-bot",
            "stripe.refund",
            json!({"amount": 5000.0}),
            "s",
        )
        .await;
    let bad_esc = bad.escalation.clone().unwrap();
    env.stop().await;
    let c = Connection::open(db_path(&env.data)).unwrap();
    c.execute(
        "UPDATE escalations SET body = substr(body, 1, 40) WHERE id = ?1",
        [&bad_esc],
    )
    .unwrap();
    drop(c);

    env.boot().await;
    let out = env.poll("refund-bot", &bad.id).await.unwrap();
    assert_eq!(out.verdict, Verdict::Deny, "{out:?}");
    assert!(
        out.reason.contains(&bad_esc) && out.reason.contains("could not be read"),
        "{}",
        out.reason
    );
    assert_eq!(
        env.poll("refund-bot", &good.id).await.unwrap().verdict,
        Verdict::Pending
    );
    let pending = env.client.escalations(env.key("alice")).await.unwrap();
    assert_eq!(
        pending
            .iter()
            .map(|e| e.action.id.as_str())
            .collect::<Vec<_>>(),
        [good.id.as_str()]
    );
    let audited = env
        .client
        .audit(env.key("erin"), "kind=escalation_unreadable")
        .await
        .unwrap();
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0].body["escalation"], bad_esc.as_str());
    assert_eq!(audited[0].body["agent"], "refund-bot");
    assert!(audited[0].body["problem"]
        .as_str()
        .unwrap()
        .contains("cannot be read"));
    // Reading it fails loudly, naming the row; nobody can decide it.
    let e = env
        .client
        .escalation(env.key("alice"), &bad_esc)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "storage_unavailable");
    assert!(
        e.to_string()
            .contains(&format!("escalations row {bad_esc}")),
        "{e}"
    );
    // Consoles still get their snapshot.
    let (_ws, _, snapshot) = stream_as(&env.url(), env.key("alice")).await;
    assert!(
        matches!(snapshot, ServerMessage::Snapshot(_)),
        "{snapshot:?}"
    );

    // Denied once: a restart neither loses nor repeats it, and the log supports the tables.
    env.restart().await;
    let again = env
        .client
        .audit(env.key("erin"), "kind=escalation_unreadable")
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(
        env.poll("refund-bot", &bad.id).await.unwrap().verdict,
        Verdict::Deny
    );
    env.stop().await;
    verify(&db_path(&env.data), &Expect::default()).unwrap();
}

/// A call's stored arguments are held to the log's as JSON values, not as texts: the same
/// arguments written another way verify, other arguments or no JSON at all are named.
#[tokio::test]
async fn stored_arguments_are_compared_as_values_whatever_their_form() {
    let mut env = Env::start_sqlite(POLICY).await;
    let value = json!({"id": "o-1", "note": "line\none \"two\"", "n": 2, "tags": ["a", {}]});
    let id = env
        .act("refund-bot", "orders.get", value.clone(), "s")
        .await
        .id;
    env.stop().await;
    verify(&env.records().path(), &Expect::default()).expect("as written");
    let mut keys: Vec<(String, serde_json::Value)> =
        value.as_object().unwrap().clone().into_iter().collect();
    keys.reverse();
    let reordered = keys
        .iter()
        .map(|(k, v)| format!("{k:?} : {v}"))
        .collect::<Vec<_>>()
        .join(" , ");
    let cases = [
        (format!("{{ {reordered} }}"), None),
        (serde_json::to_string_pretty(&value).unwrap(), None),
        (
            r#"{"amount":1,"to":"someone else"}"#.to_string(),
            Some(format!(
                "action {id}'s stored arguments differ from the log's"
            )),
        ),
        (
            "{not json".to_string(),
            Some(format!("action {id}'s stored arguments cannot be read")),
        ),
    ];
    for (i, (stored, problem)) in cases.into_iter().enumerate() {
        let d = copy_db(&env, &format!("args-{i}"));
        let c = Connection::open(db_path(&d)).unwrap();
        c.execute(
            "UPDATE actions SET args = ?1 WHERE id = ?2",
            params![stored, id],
        )
        .unwrap();
        match problem {
            None => {
                verify(&db_path(&d), &Expect::default())
                    .unwrap_or_else(|e| panic!("{stored}: {e}"));
            }
            Some(problem) => {
                let found = state_problem(&d);
                assert!(found.starts_with(&problem), "{stored}: {found}");
            }
        }
    }
}

#[tokio::test]
async fn unreadable_rows_are_errors_that_name_table_and_row_never_defaults() {
    // Edits the rows of gavel.db the server reads at its next start.
    let mut env = Env::start_sqlite(POLICY).await;
    let allowed = env.act("refund-bot", "orders.get", json!({}), "s").await;
    env.client
        .flip(env.key("alice"), "tool:crm.delete", true, "frozen")
        .await
        .unwrap();
    env.stop().await;
    let c = Connection::open(db_path(&env.data)).unwrap();
    c.execute(
        "UPDATE actions SET effect = 'maybe' WHERE id = ?1",
        [&allowed.id],
    )
    .unwrap();
    c.execute("UPDATE audit SET time = 'teatime' WHERE seq = 1", [])
        .unwrap();

    env.boot().await;
    let e = env.poll("refund-bot", &allowed.id).await.unwrap_err();
    assert_eq!(e.code(), "storage_unavailable", "{e}");
    assert!(
        e.to_string()
            .contains(&format!("actions row {}", allowed.id))
            && e.to_string().contains("maybe"),
        "{e}"
    );
    let e = env.client.audit(env.key("erin"), "").await.unwrap_err();
    assert_eq!(e.code(), "storage_unavailable", "{e}");
    assert!(e.to_string().contains("audit row 1"), "{e}");
    env.stop().await;

    // A kill switch that cannot be read stops the server from starting, naming it.
    c.execute(
        "UPDATE killswitches SET body = '{' WHERE scope = 'tool:crm.delete'",
        [],
    )
    .unwrap();
    let e = gavel::server::start(env.config())
        .await
        .err()
        .expect("refused");
    let e = format!("{e:#}");
    assert!(e.contains("killswitches row tool:crm.delete"), "{e}");
}

/// deployer's hotfix handed over from ops to backup, then expired, and another call withdrawn
/// by its agent; then the server stopped. The hotfix's escalation id.
async fn handed_over_expired_and_withdrawn(env: &mut Env) -> String {
    let hotfix = env.act("deployer", "deploy.hotfix", json!({}), "s").await;
    let withdrawn = env.act("deployer", "deploy.release", json!({}), "t").await;
    env.client
        .withdraw(env.token("deployer"), &withdrawn.id)
        .await
        .unwrap();
    let until = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let out = env
        .client
        .wait_final(env.token("deployer"), &hotfix.id, until)
        .await
        .unwrap();
    assert_eq!(out.verdict, Verdict::Deny, "{out:?}");
    env.stop().await;
    hotfix.escalation.unwrap()
}

#[tokio::test]
async fn hand_overs_expiries_and_withdrawals_replay_to_the_tables() {
    // Edits gavel.db in place; the twin below edits the PostgreSQL store.
    let mut env = Env::start_sqlite(POLICY).await;
    let id = handed_over_expired_and_withdrawn(&mut env).await;
    verify(&db_path(&env.data), &Expect::default()).unwrap();

    let c = Connection::open(db_path(&env.data)).unwrap();
    c.execute(
        "UPDATE escalations SET body = json_set(body, '$.group', 'ops') WHERE id = ?1",
        [&id],
    )
    .unwrap();
    assert_eq!(
        state_problem(&env.data),
        format!("escalation {id} has group ops in the table but the log says backup")
    );
}

/// As above on PostgreSQL: the log replays to the tables there, and `gavel audit verify --store`
/// names an escalation row edited in the database.
#[tokio::test]
async fn hand_overs_replay_to_the_tables_on_postgres_and_verify_store_names_an_edited_row() {
    let mut env = Env::start_postgres(POLICY).await;
    let id = handed_over_expired_and_withdrawn(&mut env).await;
    let verify_store = |env: &Env| {
        Command::new(env!("CARGO_BIN_EXE_gavel"))
            .args(["audit", "verify"])
            .args(env.verify_args())
            .output()
            .unwrap()
    };
    let out = verify_store(&env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let url = env.store.clone().expect("a PostgreSQL store");
    let edited = id.clone();
    let rows = with_client(&url, move |c| {
        c.execute(
            "UPDATE escalations SET body = jsonb_set(body::jsonb, '{group}', '\"ops\"')::text \
             WHERE id = $1",
            &[&edited],
        )
        .unwrap()
    });
    assert_eq!(rows, 1);
    let out = verify_store(&env);
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        format!(
            "gavel: state tables: escalation {id} has group ops in the table but the log says backup"
        )
    );
}
