//! Several replicas on one real PostgreSQL, each a real server on a loopback port: any replica
//! takes any request; consoles and long-polls hear every replica's changes; kill switches reach
//! every replica; each deadline fires once; limits count every replica's calls; the audit chain
//! stays one and verifies.

mod common;

use std::time::Duration;

use gavel::client::Client;
use gavel::protocol::{EscalationState, ServerMessage, Verdict, Vote};
use serde_json::json;

use common::cluster::Cluster;
use common::postgres::with_client;
use common::{request, stream_as, wait_for, POLICY};

/// Polls `check` every 20 ms until it holds, for at most 10 s (propagation between replicas is
/// asynchronous; its speed is measured by the replicas benchmark, not here).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(tokio::time::Instant::now() < until, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How many audit records of `kind` name escalation `id`.
fn records_of(store: &str, kind: &'static str, id: &str) -> i64 {
    let id = id.to_string();
    with_client(store, move |c| {
        c.query_one(
            "SELECT count(*) FROM audit WHERE kind = $1 AND body::jsonb ->> 'escalation' = $2",
            &[&kind, &id],
        )
        .unwrap()
        .get(0)
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_held_on_one_replica_is_approved_on_another_and_its_waiting_agent_hears_at_once() {
    let c = Cluster::start(POLICY, 2).await;
    let token = c.token("refund-bot").to_string();
    let held = c
        .client(0)
        .submit(
            &token,
            &request("stripe.refund", json!({"amount": 5000.0}), "s"),
        )
        .await
        .unwrap();
    assert_eq!(held.verdict, Verdict::Pending);
    let esc_id = held.escalation.clone().unwrap();
    // The agent waits on replica 0, far longer than the test takes.
    let waiting = {
        let client = c.client(0).clone();
        let id = held.id.clone();
        tokio::spawn(async move { client.outcome(&token, &id, Duration::from_secs(60)).await })
    };
    // Replica 1 is asked at once, before it may have read the escalation's creation.
    let esc = c
        .client(1)
        .escalation(c.key("carol"), &esc_id)
        .await
        .unwrap();
    let vote = Client::sign_decision(c.key("carol"), &esc, Vote::Approve, "fine");
    let ack = c.client(1).decide(&vote).await.unwrap();
    assert!(ack.recorded);
    assert_eq!(ack.escalation.state, EscalationState::Approved);
    let outcome = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the agent waiting on the other replica is answered")
        .unwrap()
        .unwrap();
    assert_eq!(outcome.verdict, Verdict::Allow, "{outcome:?}");
    assert!(outcome.reason.contains("carol"), "{}", outcome.reason);
    // Both replicas answer the same, and it was resolved once.
    for i in 0..2 {
        let esc = c
            .client(i)
            .escalation(c.key("alice"), &esc_id)
            .await
            .unwrap();
        assert_eq!(esc.state, EscalationState::Approved, "replica {i}");
    }
    assert_eq!(records_of(&c.store, "escalation_resolved", &esc_id), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_console_on_one_replica_sees_escalations_votes_and_switches_made_on_another_live() {
    let c = Cluster::start(POLICY, 2).await;
    let (mut ws, _, _) = stream_as(&c.url(0), c.key("carol")).await;
    // Two approvals needed: the first vote is an update, seen live.
    let held = c
        .client(1)
        .submit(
            c.token("refund-bot"),
            &request("stripe.refund", json!({"amount": 20000.0}), "s"),
        )
        .await
        .unwrap();
    let esc_id = held.escalation.clone().unwrap();
    let created = wait_for(
        &mut ws,
        |m| matches!(m, ServerMessage::EscalationCreated { escalation } if escalation.id == esc_id),
    )
    .await;
    let ServerMessage::EscalationCreated { escalation } = created else {
        unreachable!()
    };
    let vote = Client::sign_decision(c.key("bob"), &escalation, Vote::Approve, "one");
    assert!(c.client(1).decide(&vote).await.unwrap().recorded);
    wait_for(&mut ws, |m| {
        matches!(m, ServerMessage::EscalationUpdated { escalation }
            if escalation.id == esc_id && escalation.decisions.len() == 1)
    })
    .await;
    c.client(1)
        .flip(c.key("alice"), "agent:refund-bot", true, "runaway")
        .await
        .unwrap();
    wait_for(&mut ws, |m| {
        matches!(m, ServerMessage::KillSwitchChanged { killswitch }
            if killswitch.scope == "agent:refund-bot" && killswitch.on)
    })
    .await;
    wait_for(&mut ws, |m| {
        matches!(m, ServerMessage::EscalationResolved { escalation }
            if escalation.id == esc_id && escalation.state == EscalationState::Cancelled)
    })
    .await;
    // A console that connects now gets the same picture from either replica.
    for i in 0..2 {
        let (_, _, snapshot) = stream_as(&c.url(i), c.key("carol")).await;
        let ServerMessage::Snapshot(s) = snapshot else {
            panic!("snapshot expected")
        };
        assert!(s.escalations.iter().all(|e| e.id != esc_id), "replica {i}");
        assert!(
            s.killswitches
                .iter()
                .any(|k| k.scope == "agent:refund-bot" && k.on),
            "replica {i}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kill_switch_flipped_on_one_replica_stops_calls_and_cancels_reviews_on_the_other() {
    let c = Cluster::start(POLICY, 2).await;
    let token = c.token("mailer").to_string();
    // Held on replica 0 before the flip; its agent waits there.
    let held = c
        .client(0)
        .submit(&token, &request("email.send", json!({"to": "a@b.c"}), "s"))
        .await
        .unwrap();
    assert_eq!(held.verdict, Verdict::Pending);
    let waiting = {
        let client = c.client(0).clone();
        let (token, id) = (token.clone(), held.id.clone());
        tokio::spawn(async move { client.outcome(&token, &id, Duration::from_secs(60)).await })
    };
    c.client(1)
        .flip(c.key("alice"), "tool:email.send", true, "phishing wave")
        .await
        .unwrap();
    // The next call on replica 0 is denied by the switch (once the flip is read there).
    eventually(
        "a call on replica 0 is denied by the switch flipped on replica 1",
        || {
            let client = c.client(0).clone();
            let token = token.clone();
            async move {
                let out = client
                    .submit(&token, &request("email.send", json!({"to": "x@y.z"}), "t"))
                    .await
                    .unwrap();
                out.verdict == Verdict::Deny && out.reason.contains("phishing wave")
            }
        },
    )
    .await;
    let outcome = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the waiting agent hears the cancellation")
        .unwrap()
        .unwrap();
    assert_eq!(outcome.verdict, Verdict::Deny);
    let esc_id = held.escalation.unwrap();
    assert_eq!(records_of(&c.store, "escalation_resolved", &esc_id), 1);
}

const DEADLINES: &str = r#"
[[rule]]
id = "deploy-fast"
tools = ["deploy.release"]
effect = "review"
reason = "Deploys need ops"
approvers = "ops"
timeout = "1s"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn each_deadline_fires_exactly_once_while_every_replica_times_it() {
    let c = Cluster::start(DEADLINES, 3).await;
    let token = c.token("deployer");
    let mut ids = Vec::new();
    for i in 0..9 {
        let out = c
            .client(i % 3)
            .submit(token, &request("deploy.release", json!({"n": i}), "s"))
            .await
            .unwrap();
        ids.push(out.escalation.unwrap());
    }
    for id in &ids {
        eventually("the escalation expires", || {
            let client = c.client(0).clone();
            let key = c.key("dave");
            let id = id.clone();
            async move {
                client.escalation(key, &id).await.unwrap().state == EscalationState::Expired
            }
        })
        .await;
    }
    // Every replica's timer fired for each; one expiry was written for each.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for id in &ids {
        assert_eq!(records_of(&c.store, "escalation_resolved", id), 1, "{id}");
    }
    for i in 0..3 {
        let pending = c.client(i).escalations(c.key("dave")).await.unwrap();
        assert!(pending.is_empty(), "replica {i} still holds {pending:?}");
    }
}

const LIMITED: &str = r#"
[[rule]]
id = "reads"
tools = ["*.get"]
effect = "allow"
reason = "Read-only calls"

[[limit]]
id = "reads-per-hour"
agents = ["refund-bot"]
tools = ["*.get"]
window = "1h"
max_calls = 4
on_exceed = "deny"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_limit_counts_the_calls_made_on_every_replica() {
    let c = Cluster::start(LIMITED, 2).await;
    let token = c.token("refund-bot");
    for n in 0..4u64 {
        let i = (n % 2) as usize;
        let out = c
            .client(i)
            .submit(token, &request("crm.get", json!({"n": n}), "s"))
            .await
            .unwrap();
        assert_eq!(out.verdict, Verdict::Allow, "call {n}: {out:?}");
        // Each replica has counted it before the next call (the other replica's count comes
        // from the change feed).
        for j in 0..2 {
            eventually("the call is counted on both replicas", || {
                let client = c.client(j).clone();
                let key = c.key("alice");
                async move {
                    let usage = client.usage(key, Some("refund-bot")).await.unwrap();
                    usage
                        .limits
                        .iter()
                        .any(|l| l.limit == "reads-per-hour" && l.calls == n + 1)
                }
            })
            .await;
        }
    }
    for i in 0..2 {
        let out = c
            .client(i)
            .submit(token, &request("crm.get", json!({"n": 9}), "s"))
            .await
            .unwrap();
        assert_eq!(out.verdict, Verdict::Deny, "replica {i}: {out:?}");
        assert!(out.reason.contains("reads-per-hour"), "{}", out.reason);
    }
}
