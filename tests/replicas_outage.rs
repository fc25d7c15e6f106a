//! A replica whose database goes away, through a real TCP proxy in front of the real
//! PostgreSQL: every call fails closed (503, never an allow), `/readyz` fails, and once the
//! database is reachable again the replica serves without a restart, and catches up with what
//! the other replicas did meanwhile.

mod common;

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use common::cluster::Cluster;
use common::postgres::{address, fresh_database};
use common::proxy::Proxy;
use common::{request, stream_as, wait_for, Env, POLICY};
use gavel::protocol::{EscalationState, ServerMessage, Verdict};

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_fails_closed_while_its_database_is_gone_and_serves_again_when_it_returns() {
    let db = fresh_database();
    let upstream = address(&db);
    let proxy = Proxy::start(upstream).await;
    let mut env = Env::new(POLICY);
    env.store = Some(db.replace(&upstream.to_string(), &proxy.addr.to_string()));
    env.boot().await;
    let token = env.token("refund-bot").to_string();
    let ready = || {
        let client = env.client.clone();
        async move {
            let (status, body) = client
                .raw::<()>(Method::GET, "/readyz", None, None)
                .await
                .unwrap();
            (status.as_u16(), body)
        }
    };
    assert_eq!(ready().await.0, 200);
    let out = env.act("refund-bot", "orders.get", json!({}), "s").await;
    assert_eq!(out.verdict, Verdict::Allow);

    proxy.cut();
    // Calls are refused, never allowed; a held call's poll is refused too.
    for _ in 0..3 {
        let e = env
            .client
            .submit(&token, &request("orders.get", json!({}), "s"))
            .await
            .expect_err("no answer but a refusal while the database is gone");
        assert_eq!(e.code(), "storage_unavailable", "{e}");
    }
    let until = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (status, body) = ready().await;
        if status == 503 {
            assert!(
                body["reason"].as_str().unwrap_or("").contains("store"),
                "{body}"
            );
            break;
        }
        assert!(tokio::time::Instant::now() < until, "/readyz stayed 200");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, _) = env
        .client
        .raw::<()>(Method::GET, "/healthz", None, None)
        .await
        .unwrap();
    assert_eq!(status.as_u16(), 200, "the process itself is alive");

    proxy.restore();
    let until = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if ready().await.0 == 200 {
            break;
        }
        assert!(tokio::time::Instant::now() < until, "/readyz stayed 503");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Writes and reads work again on the same process.
    let out = env
        .act("refund-bot", "orders.get", json!({"n": 2}), "s")
        .await;
    assert_eq!(out.verdict, Verdict::Allow);
    let again = env.poll("refund-bot", &out.id).await.unwrap();
    assert_eq!(again.verdict, Verdict::Allow);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_cut_off_from_the_database_catches_up_with_the_others_when_it_is_back() {
    let mut c = Cluster::start(POLICY, 2).await;
    let upstream = address(&c.store);
    let proxy = Proxy::start(upstream).await;
    // Replica 0 reaches the database through the proxy.
    c.stop(0).await;
    c.replicas[0].store = Some(
        c.store
            .replace(&upstream.to_string(), &proxy.addr.to_string()),
    );
    c.boot(0).await;
    let (mut ws, _, _) = stream_as(&c.url(0), c.key("carol")).await;

    proxy.cut();
    // Meanwhile replica 1 holds a call for review and turns a switch on.
    let held = c
        .client(1)
        .submit(
            c.token("refund-bot"),
            &request("stripe.refund", json!({"amount": 5000.0}), "s"),
        )
        .await
        .unwrap();
    let esc_id = held.escalation.clone().unwrap();
    c.client(1)
        .flip(c.key("alice"), "tool:deploy.release", true, "freeze")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;

    proxy.restore();
    // Replica 0's console hears both, and replica 0 enforces the switch and can decide the call.
    wait_for(
        &mut ws,
        |m| matches!(m, ServerMessage::EscalationCreated { escalation } if escalation.id == esc_id),
    )
    .await;
    wait_for(&mut ws, |m| {
        matches!(m, ServerMessage::KillSwitchChanged { killswitch }
            if killswitch.scope == "tool:deploy.release" && killswitch.on)
    })
    .await;
    let out = c
        .client(0)
        .submit(
            c.token("deployer"),
            &request("deploy.release", json!({}), "s"),
        )
        .await
        .unwrap();
    assert_eq!(out.verdict, Verdict::Deny, "{out:?}");
    let esc = c
        .client(0)
        .escalation(c.key("carol"), &esc_id)
        .await
        .unwrap();
    let vote = gavel::client::Client::sign_decision(
        c.key("carol"),
        &esc,
        gavel::protocol::Vote::Approve,
        "ok",
    );
    let ack = c.client(0).decide(&vote).await.unwrap();
    assert_eq!(ack.escalation.state, EscalationState::Approved);
}
