//! Unauthenticated refusals are counted in bounded form; authenticated ones stay records.

use gavel::client::Client;
use gavel::protocol::signing::Purpose;
use gavel::protocol::{now_rfc3339, PersonKey, SignedRequest, Vote};
use reqwest::Method;
use rusqlite::Connection;
use serde_json::{json, Value};

use crate::common::{Env, POLICY};

/// The records' size and checkpoint count of a stopped server: gavel.db (its WAL folded in at
/// shutdown), or a fresh SQLite copy of the PostgreSQL store.
fn footprint(env: &Env) -> (u64, i64) {
    let records = env.records();
    let size = std::fs::metadata(records.path()).unwrap().len();
    let conn = Connection::open(records.path()).unwrap();
    let checkpoints = conn
        .query_row("SELECT COUNT(*) FROM checkpoints", [], |r| r.get(0))
        .unwrap();
    (size, checkpoints)
}

#[tokio::test]
async fn a_thousand_anonymous_and_forged_requests_are_counted_in_a_few_bounded_records() {
    let mut env = Env::start(POLICY).await;
    let esc = env.refund_review(4000.0).await;
    env.stop().await;
    let before = footprint(&env);
    env.boot().await;

    let http = reqwest::Client::new();
    let stranger = PersonKey::generate("carol");
    let long = "x".repeat(4000);
    for i in 0..250 {
        // No token; an unknown token (with a long path).
        let r = http
            .post(format!("{}/v1/actions", env.url()))
            .json(&json!({"tool": "x.get", "session": "s"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401);
        let r = http
            .get(format!("{}/v1/actions/act_{long}", env.url()))
            .bearer_auth(format!("not-a-token-{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401);
        // A decision signed by a stranger's key in carol's name.
        let forged = Client::sign_decision(&stranger, &esc, Vote::Approve, "me");
        let e = env.client.decide(&forged).await.unwrap_err();
        assert_eq!(e.code(), "bad_signature");
        // A people read signed by the stranger, claiming carol.
        let req = SignedRequest {
            method: "GET".into(),
            path: "/v1/escalations".into(),
            person: "carol".into(),
            time: now_rfc3339(),
        };
        let r = http
            .get(format!("{}/v1/escalations", env.url()))
            .header("x-gavel-person", "carol")
            .header("x-gavel-time", &req.time)
            .header("x-gavel-signature", stranger.sign(Purpose::Request, &req))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401);
    }
    env.stop().await;
    let after = footprint(&env);
    assert!(
        after.0 < before.0 + 64 * 1024,
        "the records grew from {} to {} bytes",
        before.0,
        after.0
    );
    // This start's record, and the counts flushed at shutdown (plus one window at most).
    assert!(
        after.1 - before.1 <= 3,
        "{} checkpoints written",
        after.1 - before.1
    );

    env.boot().await;
    let records = env
        .client
        .audit(env.key("erin"), "kind=refusals")
        .await
        .unwrap();
    let total: u64 = records
        .iter()
        .map(|r| r.body["total"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 1000);
    let counts: Vec<&Value> = records
        .iter()
        .flat_map(|r| r.body["counts"].as_array().unwrap())
        .collect();
    let count_of = |code: &str, method: &str| -> u64 {
        counts
            .iter()
            .filter(|c| c["code"] == code && c["method"] == method)
            .map(|c| c["count"].as_u64().unwrap())
            .sum()
    };
    assert_eq!(count_of("unauthorized", "POST"), 250);
    assert_eq!(count_of("unknown_agent", "GET"), 250);
    assert_eq!(count_of("bad_signature", "POST"), 250);
    assert_eq!(count_of("bad_signature", "GET"), 250);
    // A bad signature records who it claimed to be as a claim, never as the actor.
    assert!(records.iter().all(|r| r.actor == "server"));
    assert!(counts
        .iter()
        .filter(|c| c["code"] == "bad_signature")
        .all(|c| c["claimed_person"] == "carol"));
    let as_carol = env
        .client
        .audit(env.key("erin"), "agent=carol")
        .await
        .unwrap();
    assert!(as_carol.is_empty(), "{as_carol:?}");
    // Paths are cut short.
    assert!(counts
        .iter()
        .all(|c| c["path"].as_str().unwrap().chars().count() <= 97));
    assert_eq!(
        env.client
            .audit(env.key("erin"), "kind=refused")
            .await
            .unwrap()
            .len(),
        0
    );
}

#[tokio::test]
async fn authenticated_refusals_stay_records_naming_the_real_actor() {
    let mut env = Env::start(POLICY).await;
    let out = env
        .act("mailer", "email.send", json!({"to": "x"}), "m")
        .await;
    let esc = env.escalation(out.escalation.as_deref().unwrap()).await;
    // A verified person refused: a deny needs a reason. The same signed body sent again (as
    // anyone who captured it could) is not bob acting again: counted, not recorded.
    let captured = Client::sign_decision(env.key("bob"), &esc, Vote::Deny, " ");
    for _ in 0..50 {
        let e = env.client.decide(&captured).await.unwrap_err();
        assert_eq!(e.code(), "reason_required");
    }
    // A known agent refused: malformed body; and on a people endpoint.
    let (status, _) = env
        .client
        .raw(
            Method::POST,
            "/v1/actions",
            Some(env.token("refund-bot")),
            Some(&json!({"tool": 1})),
        )
        .await
        .unwrap();
    assert_eq!(status.as_u16(), 400);
    let (status, _) = env
        .client
        .raw::<()>(
            Method::GET,
            "/v1/escalations",
            Some(env.token("deployer")),
            None,
        )
        .await
        .unwrap();
    assert_eq!(status.as_u16(), 403);

    let refused = env
        .client
        .audit(env.key("erin"), "kind=refused")
        .await
        .unwrap();
    let summary: Vec<(&str, &str)> = refused
        .iter()
        .map(|r| (r.actor.as_str(), r.body["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        summary,
        [
            ("bob", "reason_required"),
            ("refund-bot", "invalid_request"),
            ("deployer", "agent_forbidden")
        ]
    );
    env.restart().await;
    let counted = env
        .client
        .audit(env.key("erin"), "kind=refusals")
        .await
        .unwrap();
    assert_eq!(counted.len(), 1);
    assert_eq!(counted[0].body["total"], 49);
    assert_eq!(
        counted[0].body["counts"][0]["claimed_person"], "bob",
        "{}",
        counted[0].body
    );
}
