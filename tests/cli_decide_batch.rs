//! `gavel decide ESC1 ESC2 … approve|deny`: several escalations at once, each shown and signed
//! on its own, against a real server.

mod common;

use std::process::Output;

use common::{Env, POLICY};
use gavel::protocol::EscalationState;
use serde_json::json;

async fn decide(env: &Env, person: &str, words: &[&str]) -> Output {
    let mut all = vec!["decide"];
    all.extend_from_slice(words);
    env.run_as(person, &all).await
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

async fn refunds(env: &Env, amounts: &[f64]) -> Vec<String> {
    let mut ids = Vec::new();
    for amount in amounts {
        let out = env
            .act(
                "refund-bot",
                "stripe.refund",
                json!({"amount": amount}),
                "s",
            )
            .await;
        ids.push(out.escalation.expect("held for review"));
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_escalations_are_each_shown_signed_and_reported() {
    let env = Env::start(POLICY).await;
    let ids = refunds(&env, &[2000.0, 2500.0]).await;
    let (a, b) = (ids[0].as_str(), ids[1].as_str());

    // One unknown id among them: the others are still decided, each with its own line, and
    // the command fails naming the one that did not go through. A repeated id is decided once.
    let out = decide(
        &env,
        "carol",
        &[a, "esc_nope", b, a, "approve", "--reason", "checked both"],
    )
    .await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(!out.status.success(), "{stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(
        lines[0].starts_with(&format!("{a}: recorded: approved")),
        "{stdout}"
    );
    assert!(lines[1].starts_with("esc_nope: refused: "), "{stdout}");
    assert!(
        lines[2].starts_with(&format!("{b}: recorded: approved")),
        "{stdout}"
    );
    // What each signature covers was shown before it was made: no blind approval.
    for id in [a, b] {
        assert!(
            stderr.contains(&format!("approve {id} by refund-bot")),
            "{stderr}"
        );
    }
    assert_eq!(stderr.matches("digest ").count(), 2, "{stderr}");
    assert_eq!(stderr.matches("  args: ").count(), 2, "{stderr}");
    assert!(
        stderr
            .lines()
            .last()
            .unwrap()
            .contains("1 of 3 decisions failed: esc_nope"),
        "{stderr}"
    );
    for id in [a, b] {
        let esc = env.escalation(id).await;
        assert_eq!(esc.state, EscalationState::Approved);
        // Signed separately: one decision each, over that escalation's own digest.
        assert_eq!(esc.decisions.len(), 1);
        assert_eq!(esc.decisions[0].body.escalation, id);
        assert_eq!(esc.decisions[0].body.digest, esc.digest);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_deny_needs_a_reason_and_the_verdict_comes_last() {
    let env = Env::start(POLICY).await;
    let ids = refunds(&env, &[2000.0, 2500.0]).await;
    let (a, b) = (ids[0].as_str(), ids[1].as_str());

    for words in [
        vec![a, b, "deny"],
        vec!["approve", a, b],
        vec![a, "approve", b, "deny", "--reason", "no"],
        vec![a, b, "maybe", "--reason", "no"],
    ] {
        let out = decide(&env, "carol", &words).await;
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{words:?} was accepted");
        assert_eq!(err.trim().lines().count(), 1, "{words:?}: {err}");
    }
    // Nothing was sent by any of those.
    for id in [a, b] {
        assert_eq!(env.escalation(id).await.state, EscalationState::Pending);
    }

    let out = decide(&env, "carol", &[a, b, "deny", "--reason", "duplicates"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    for id in [a, b] {
        let esc = env.escalation(id).await;
        assert_eq!(esc.state, EscalationState::Denied);
        assert_eq!(esc.decisions[0].body.reason, "duplicates");
    }
}
