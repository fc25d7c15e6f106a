//! Escalation created and resolved and a kill switch flip reach a gavel-JSON, a Slack and a
//! PagerDuty webhook, each body signed so the receiver can verify it.

use gavel::client::Client;
use gavel::protocol::Vote;
use serde_json::Value;

use crate::common::{Env, POLICY};
use crate::receiver::{verifies, Received, Receiver};
use crate::{configure, OTHER_SECRET, SECRET};

/// The signature verifies with the secret, and not for a tampered body or another secret.
fn assert_signed(r: &Received, secret: &str, other: &str) {
    assert!(verifies(secret, r, &r.body), "a valid signature: {r:?}");
    let mut tampered = r.body.to_vec();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 1;
    assert!(!verifies(secret, r, &tampered), "tampered body");
    assert!(!verifies(other, r, &r.body), "another secret");
}

/// The Slack message's event type, from its context line.
fn slack_type(r: &Received) -> String {
    let blocks = r.json()["blocks"].as_array().cloned().unwrap_or_default();
    let context = blocks.last().map(|b| b["elements"][0]["text"].clone());
    let text = context.and_then(|t| t.as_str().map(str::to_string));
    text.unwrap_or_default()
        .split(" · ")
        .next()
        .unwrap_or("")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_resolved_and_kill_switch_arrive_signed_in_every_format() {
    let rx = Receiver::start().await;
    let mut env = Env::new(POLICY);
    std::env::set_var("GAVEL_TEST_PAGER_SECRET", SECRET);
    configure(
        &mut env,
        &format!(
            "[[webhook]]\nid = \"generic\"\nurl = \"{}\"\nsecret = \"{SECRET}\"\n\n\
             [[webhook]]\nid = \"chat\"\nurl = \"{}\"\nformat = \"slack\"\nsecret = \"{OTHER_SECRET}\"\n\n\
             [[webhook]]\nid = \"pager\"\nurl = \"{}\"\nformat = \"pagerduty\"\n\
             routing_key = \"R0UT1NGKEY\"\nsecret_env = \"GAVEL_TEST_PAGER_SECRET\"\n",
            rx.url("json"),
            rx.url("slack"),
            rx.url("pd")
        ),
    );
    env.boot().await;

    let esc = env.refund_review(2000.0).await;
    let approve = Client::sign_decision(env.key("carol"), &esc, Vote::Approve, "checked");
    env.client.decide(&approve).await.unwrap();
    env.client
        .flip(env.key("alice"), "tool:email.send", true, "runaway mailer")
        .await
        .unwrap();

    // gavel JSON.
    let of_type = |path: &'static str, t: &'static str| {
        move |r: &Received| r.path == path && r.json()["type"] == t
    };
    let created = rx
        .wait_for("json created", of_type("json", "escalation.created"))
        .await;
    let body = created.json();
    assert_eq!(body["id"], Value::from(created.id.clone()));
    assert!(created.id.starts_with("evt_"), "{}", created.id);
    let data = &body["data"];
    assert_eq!(data["escalation"], Value::from(esc.id.clone()));
    assert_eq!(data["agent"], "refund-bot");
    assert_eq!(data["tool"], "stripe.refund");
    assert_eq!(data["rule"], "refund-large");
    assert_eq!(
        data["reason"],
        "Refunds above $1,000 need a finance approver"
    );
    assert_eq!(data["group"], "finance");
    assert!(data["deadline"].is_string(), "{data}");
    assert_signed(&created, SECRET, OTHER_SECRET);
    let resolved = rx
        .wait_for("json resolved", of_type("json", "escalation.resolved"))
        .await;
    let data = &resolved.json()["data"];
    assert_eq!(data["escalation"], Value::from(esc.id.clone()));
    assert_eq!(data["resolution"], "approved");
    assert_eq!(data["deciders"][0]["approver"], "carol");
    assert_signed(&resolved, SECRET, OTHER_SECRET);
    let flipped = rx
        .wait_for("json flip", of_type("json", "killswitch.flipped"))
        .await;
    let data = &flipped.json()["data"];
    assert_eq!(
        (
            &data["scope"],
            &data["on"],
            &data["operator"],
            &data["reason"]
        ),
        (
            &Value::from("tool:email.send"),
            &Value::from(true),
            &Value::from("alice"),
            &Value::from("runaway mailer")
        )
    );
    assert_signed(&flipped, SECRET, OTHER_SECRET);

    // Slack: a message with text and blocks, signed with its own secret.
    for t in [
        "escalation.created",
        "escalation.resolved",
        "killswitch.flipped",
    ] {
        let r = rx
            .wait_for(t, |r| r.path == "slack" && slack_type(r) == t)
            .await;
        let text = r.json()["text"].as_str().unwrap_or_default().to_string();
        assert!(text.starts_with("gavel: "), "{text}");
        assert!(r.json()["blocks"].as_array().is_some_and(|b| b.len() >= 2));
        assert_signed(&r, OTHER_SECRET, SECRET);
    }
    let created = rx
        .wait_for("slack created", |r| {
            r.path == "slack" && slack_type(r) == "escalation.created"
        })
        .await;
    let text = created.json()["text"].as_str().unwrap().to_string();
    assert!(
        text.contains("refund-bot") && text.contains("finance"),
        "{text}"
    );

    // PagerDuty Events v2: trigger, then resolve, on the escalation's dedup key.
    let pd = |action: &'static str, key: String| {
        move |r: &Received| {
            r.path == "pd" && r.json()["event_action"] == action && r.json()["dedup_key"] == *key
        }
    };
    let trigger = rx
        .wait_for("pd trigger", pd("trigger", esc.id.clone()))
        .await;
    let body = trigger.json();
    assert_eq!(body["routing_key"], "R0UT1NGKEY");
    assert_eq!(body["payload"]["source"], "gavel");
    assert_eq!(body["payload"]["severity"], "warning");
    assert_eq!(body["payload"]["custom_details"]["rule"], "refund-large");
    assert!(body["payload"]["summary"]
        .as_str()
        .unwrap()
        .contains("stripe.refund"));
    assert_signed(&trigger, SECRET, OTHER_SECRET);
    let resolve = rx
        .wait_for("pd resolve", pd("resolve", esc.id.clone()))
        .await;
    assert_eq!(resolve.json()["routing_key"], "R0UT1NGKEY");
    assert_signed(&resolve, SECRET, OTHER_SECRET);
    let kill = rx
        .wait_for(
            "pd kill",
            pd("trigger", "killswitch:tool:email.send".into()),
        )
        .await;
    assert_eq!(kill.json()["payload"]["severity"], "critical");

    // Every delivery's id is unique per event and the same in every format.
    let ids = |path: &str| {
        let mut ids: Vec<String> = rx
            .received()
            .into_iter()
            .filter(|r| r.path == path)
            .map(|r| r.id)
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(ids("json"), ids("slack"));
    assert_eq!(ids("json"), ids("pd"));
    env.stop().await;
}
