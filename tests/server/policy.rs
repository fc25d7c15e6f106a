//! Policy semantics through a real server: errors never loosen policy, durations are checked at
//! start.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gavel::client::Client;
use gavel::protocol::{EscalationState, Verdict, Vote};
use serde_json::json;

use crate::common::Env;

/// The refund rules of the example policy (`assets/policy.toml`), as shipped.
fn example_refund_rules() -> String {
    let text = include_str!("../../assets/policy.toml");
    let section = text
        .split("# ---- ")
        .find(|s| s.starts_with("Refunds"))
        .expect("the example policy has a refunds section");
    format!("# ---- {section}")
}

#[tokio::test]
async fn a_string_amount_cannot_be_approved_by_the_owner_alone() {
    let env = Env::start(&example_refund_rules()).await;
    let out = env
        .act(
            "refund-bot",
            "stripe.refund",
            json!({"amount": "50000", "order": "o-1", "currency": "usd", "reason": "duplicate"}),
            "s",
        )
        .await;
    assert_eq!(out.verdict, Verdict::Pending);
    // The first review rule decides (its condition failed: a match), held to the strictest
    // rule that could have applied: two approvers, not the owner.
    assert_eq!(out.rule.as_deref(), Some("refund-large"));
    let esc = env.escalation(out.escalation.as_deref().unwrap()).await;
    assert_eq!((esc.group.as_str(), esc.approvals_required), ("finance", 2));
    assert!(esc.separate_owner);
    assert!(
        esc.rule.reason.contains("\"refund-huge\"")
            && esc.rule.reason.contains("could not be evaluated"),
        "the approver sees why: {}",
        esc.rule.reason
    );
    let minutes = (esc.deadline - esc.created_at).num_minutes();
    assert_eq!(minutes, 10, "the shortest of the rules' timeouts");

    // alice owns refund-bot: her approval is refused.
    let alice = Client::sign_decision(env.key("alice"), &esc, Vote::Approve, "looks fine");
    let err = env.client.decide(&alice).await.unwrap_err();
    assert_eq!(err.code(), "owner_approval");
    // One other approver is not enough.
    let carol = Client::sign_decision(env.key("carol"), &esc, Vote::Approve, "checked");
    let ack = env.client.decide(&carol).await.unwrap();
    assert_eq!(ack.escalation.state, EscalationState::Pending);
    assert_eq!(
        env.poll("refund-bot", &out.id).await.unwrap().verdict,
        Verdict::Pending
    );
    let bob = Client::sign_decision(env.key("bob"), &esc, Vote::Approve, "checked too");
    let ack = env.client.decide(&bob).await.unwrap();
    assert_eq!(ack.escalation.state, EscalationState::Approved);

    // The audit record of the call names the rules that raised the review.
    let audit = env
        .client
        .audit(env.key("erin"), "kind=action")
        .await
        .unwrap();
    let record = audit
        .iter()
        .find(|r| r.body["action"] == out.id.as_str())
        .expect("the call is audited");
    assert_eq!(record.body["raised_by"], json!(["refund-huge"]));
}

#[tokio::test]
async fn amounts_the_rules_accept_still_decide_as_written() {
    let env = Env::start(&example_refund_rules()).await;
    let args =
        |amount: f64| json!({"amount": amount, "order": "o", "currency": "usd", "reason": "r"});
    let small = env
        .act("refund-bot", "stripe.refund", args(50.0), "s")
        .await;
    assert_eq!(
        (small.verdict, small.rule.as_deref()),
        (Verdict::Allow, Some("refund-small"))
    );
    let large = env
        .act("refund-bot", "stripe.refund", args(5000.0), "s")
        .await;
    let esc = env.escalation(large.escalation.as_deref().unwrap()).await;
    assert_eq!((esc.approvals_required, esc.separate_owner), (1, false));
    assert_eq!(
        esc.rule.reason,
        "Refunds above $1,000 need a finance approver"
    );
}

/// Starts `gavel serve` with `policy`; returns its one-line error, or fails if it starts.
fn refused_at_start(policy: &str) -> String {
    let env = Env::new(policy);
    let mut child = Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&env.data)
        .arg("--policy")
        .arg(&env.policy)
        .arg("--roster")
        .arg(&env.roster)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server started with this policy:\n{policy}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn timeouts_that_would_overflow_are_refused_at_start() {
    for timeout in [
        "100000000d",
        "106751991167301d",
        "18446744073709551615s",
        "99999999999999999999999999d",
        "366d",
        "0s",
    ] {
        let policy = format!(
            "[[rule]]\nid = \"slow\"\ntools = [\"x.*\"]\neffect = \"review\"\nreason = \"r\"\napprovers = \"finance\"\ntimeout = \"{timeout}\"\n"
        );
        let err = refused_at_start(&policy);
        assert!(
            err.contains("policy.toml:7:11: rule \"slow\": timeout:"),
            "{timeout}: {err}"
        );
    }
}

#[tokio::test]
async fn review_rules_for_different_groups_that_could_each_apply_deny() {
    let env = Env::start(
        r#"
[[rule]]
id = "money"
tools = ["payout.send"]
when = "args.amount > 1000.0"
effect = "review"
reason = "Large payouts need finance"
approvers = "finance"
timeout = "10m"

[[rule]]
id = "words"
tools = ["payout.send"]
when = "!(args.amount > 1000.0)"
effect = "review"
reason = "Other payouts need comms"
approvers = "comms"
timeout = "10m"
"#,
    )
    .await;
    let out = env
        .act("refund-bot", "payout.send", json!({"amount": "5000"}), "s")
        .await;
    assert_eq!((out.verdict, out.rule.as_deref()), (Verdict::Deny, None));
    assert!(out.escalation.is_none());
    assert!(
        out.reason.contains("\"money\", \"words\"")
            && out
                .reason
                .contains("different approver groups (finance, comms)"),
        "{}",
        out.reason
    );
    let ok = env
        .act("refund-bot", "payout.send", json!({"amount": 5000}), "s")
        .await;
    assert_eq!(ok.verdict, Verdict::Pending);
}
