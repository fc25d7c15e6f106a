//! Circuit breakers and anomaly flags on a real server: a breaker trips at its count and
//! denies with its reason, half-opens after its cooldown for one trial call that closes or
//! re-opens it, survives a restart, and is reset only by an operator's signed, audited request
//! (over HTTP and with `gavel breaker reset`). Unusual calls are flagged.

use std::time::Duration;

use gavel::client::Client;
use gavel::protocol::{BreakerState, Verdict};
use serde_json::json;

use crate::common::Env;

const POLICY: &str = r#"
[[rule]]
id = "reads"
tools = ["*.get"]
effect = "allow"
reason = "Read-only calls"

[[rule]]
id = "email"
tools = ["email.send"]
effect = "review"
reason = "Outbound email is read first"
approvers = "comms"
timeout = "10m"

[[rule]]
id = "no-shell"
tools = ["shell.*"]
effect = "deny"
reason = "Agents never get a shell"

[[breaker]]
id = "fatigue"
agents = ["mailer"]
window = "10m"
max_escalations = 3
cooldown = "2s"

[[breaker]]
id = "denials"
agents = ["deployer"]
window = "10m"
max_denied_share = 0.5
min_calls = 4
cooldown = "1h"
"#;

async fn email(env: &Env, n: u32) -> gavel::protocol::ActionOutcome {
    env.act(
        "mailer",
        "email.send",
        json!({ "to": format!("x{n}@example.com") }),
        "s",
    )
    .await
}

async fn audit_kinds(env: &Env, kind: &str) -> Vec<serde_json::Value> {
    env.client
        .audit(env.key("grace"), &format!("kind={kind}"))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.body)
        .collect()
}

/// Waits until `until` has passed (a cooldown is time, not an event).
async fn wait_past(until: chrono::DateTime<chrono::Utc>) {
    let left = (until - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(left + Duration::from_millis(50)).await;
}

/// The verdict on one of deployer's calls, in session `s`.
async fn deployer(env: &Env, tool: &str) -> Verdict {
    env.act("deployer", tool, json!({}), "s").await.verdict
}

/// deployer: one allowed call and three denied ones trip `denials` on the fourth.
async fn trip_denials(env: &Env) {
    assert_eq!(deployer(env, "orders.get").await, Verdict::Allow);
    for _ in 0..3 {
        let out = env.act("deployer", "shell.exec", json!({}), "s").await;
        assert_eq!(out.rule.as_deref(), Some("no-shell"), "{}", out.reason);
    }
}

#[tokio::test]
async fn approval_fatigue_trips_on_the_escalation_past_the_max_then_half_opens() {
    let env = Env::start(POLICY).await;
    for n in 0..3 {
        assert_eq!(email(&env, n).await.verdict, Verdict::Pending);
    }
    let tripped = email(&env, 3).await;
    assert_eq!(tripped.verdict, Verdict::Deny);
    assert_eq!(tripped.escalation, None);
    assert!(
        tripped
            .reason
            .starts_with("breaker \"fatigue\" is open for mailer since ")
            && tripped.reason.contains("4 escalations within 10m (max 3)")
            && tripped.reason.contains("or when an operator resets it"),
        "{}",
        tripped.reason
    );
    // Open: every call of the agent is denied, even one the rules allow; others are not.
    let read = env.act("mailer", "orders.get", json!({}), "s").await;
    assert_eq!(read.verdict, Verdict::Deny);
    assert!(
        read.reason.contains("breaker \"fatigue\""),
        "{}",
        read.reason
    );
    assert_eq!(
        env.act("refund-bot", "orders.get", json!({}), "s")
            .await
            .verdict,
        Verdict::Allow
    );

    let usage = env
        .client
        .usage(env.key("grace"), Some("mailer"))
        .await
        .unwrap();
    let [status] = usage.breakers.as_slice() else {
        panic!("{usage:?}");
    };
    assert_eq!(
        (status.breaker.as_str(), status.state),
        ("fatigue", BreakerState::Open)
    );
    assert_eq!(status.reason, "4 escalations within 10m (max 3)");
    let trips = audit_kinds(&env, "breaker_tripped").await;
    assert_eq!(trips.len(), 1);
    assert_eq!(trips[0]["agent"], "mailer");
    assert_eq!(trips[0]["action"], json!(tripped.id));

    // Half-open: a trial that asks for review again is denied and re-opens it.
    wait_past(status.until).await;
    let usage = env
        .client
        .usage(env.key("grace"), Some("mailer"))
        .await
        .unwrap();
    assert_eq!(usage.breakers[0].state, BreakerState::HalfOpen);
    let trial = email(&env, 4).await;
    assert_eq!(trial.verdict, Verdict::Deny);
    assert!(
        trial.reason.contains("asked for review again"),
        "{}",
        trial.reason
    );
    assert_eq!(audit_kinds(&env, "breaker_tripped").await.len(), 2);

    // Half-open again: a trial the rules allow closes it, and the counts start afresh.
    let until = env
        .client
        .usage(env.key("grace"), Some("mailer"))
        .await
        .unwrap()
        .breakers[0]
        .until;
    wait_past(until).await;
    assert_eq!(
        env.act("mailer", "orders.get", json!({}), "s")
            .await
            .verdict,
        Verdict::Allow
    );
    let closed = audit_kinds(&env, "breaker_closed").await;
    assert_eq!(closed.len(), 1, "{closed:?}");
    assert!(env
        .client
        .usage(env.key("grace"), Some("mailer"))
        .await
        .unwrap()
        .breakers
        .is_empty());
    for n in 10..13 {
        assert_eq!(
            email(&env, n).await.verdict,
            Verdict::Pending,
            "escalation {n}"
        );
    }
    assert_eq!(email(&env, 13).await.verdict, Verdict::Deny);
}

#[tokio::test]
async fn a_denied_share_trips_once_min_calls_are_counted_and_survives_a_restart() {
    let mut env = Env::start(POLICY).await;
    // Kill-switch denials are not the policy's: they never count.
    env.client
        .flip(env.key("alice"), "agent:deployer", true, "maintenance")
        .await
        .unwrap();
    for _ in 0..5 {
        assert_eq!(deployer(&env, "orders.get").await, Verdict::Deny);
    }
    env.client
        .flip(env.key("alice"), "agent:deployer", false, "done")
        .await
        .unwrap();
    assert_eq!(deployer(&env, "orders.get").await, Verdict::Allow);
    // 1 allowed, then denials: 2 of 3 is below min_calls, 3 of 4 trips.
    assert_eq!(deployer(&env, "shell.exec").await, Verdict::Deny);
    assert_eq!(deployer(&env, "shell.exec").await, Verdict::Deny);
    assert_eq!(deployer(&env, "orders.get").await, Verdict::Allow);
    let tripping = env.act("deployer", "shell.exec", json!({}), "s").await;
    assert_eq!(tripping.rule.as_deref(), Some("no-shell"));
    let out = env.act("deployer", "orders.get", json!({}), "s").await;
    assert_eq!(out.verdict, Verdict::Deny);
    assert!(
        out.reason
            .contains("3 of 5 calls denied within 10m (max share 0.5)"),
        "{}",
        out.reason
    );

    env.restart().await;
    let out = env.act("deployer", "orders.get", json!({}), "s").await;
    assert_eq!(out.verdict, Verdict::Deny, "{}", out.reason);
    assert!(out.reason.contains("breaker \"denials\""), "{}", out.reason);
    let usage = env.client.usage(env.key("grace"), None).await.unwrap();
    assert_eq!(usage.breakers.len(), 1);
    assert_eq!(usage.breakers[0].agent, "deployer");

    // The open breaker shows on /metrics.
    let text = reqwest::get(format!("{}/metrics", env.url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("# TYPE gavel_breakers_open gauge"), "{text}");
    assert!(
        text.contains("gavel_breakers_open{breaker=\"denials\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("gavel_breakers_open{breaker=\"fatigue\"} 0"),
        "{text}"
    );
}

#[tokio::test]
async fn only_an_operator_resets_a_breaker_once_per_signature_and_it_is_audited() {
    let env = Env::start(POLICY).await;
    let refused = |who: &'static str, agent: &'static str, breaker: Option<&'static str>| {
        let env = &env;
        async move {
            env.client
                .reset_breaker(env.key(who), agent, breaker, "checked")
                .await
                .unwrap_err()
                .code()
                .to_string()
        }
    };
    assert_eq!(refused("alice", "deployer", None).await, "not_open");
    trip_denials(&env).await;
    assert_eq!(deployer(&env, "orders.get").await, Verdict::Deny);
    assert_eq!(refused("carol", "deployer", None).await, "not_operator");
    assert_eq!(refused("alice", "ghost", None).await, "unknown_agent_scope");
    assert_eq!(
        refused("alice", "deployer", Some("nope")).await,
        "unknown_breaker"
    );
    assert_eq!(
        refused("alice", "deployer", Some("fatigue")).await,
        "not_open"
    );

    let signed = Client::sign_breaker_reset(env.key("dave"), "deployer", None, "false alarm");
    let post = || async {
        env.client
            .raw(
                reqwest::Method::POST,
                "/v1/breakers/reset",
                None,
                Some(&signed),
            )
            .await
            .unwrap()
    };
    let (status, body) = post().await;
    assert_eq!(status.as_u16(), 200, "{body}");
    assert_eq!(body["breakers"], json!([]));
    assert_eq!(deployer(&env, "orders.get").await, Verdict::Allow);
    // A denial right after the reset does not trip it again: the counts started afresh.
    assert_eq!(deployer(&env, "shell.exec").await, Verdict::Deny);
    assert_eq!(deployer(&env, "orders.get").await, Verdict::Allow);

    trip_denials(&env).await;
    let (status, body) = post().await;
    assert_eq!(
        (status.as_u16(), body["error"]["code"].as_str()),
        (409, Some("replayed"))
    );
    let resets = audit_kinds(&env, "breaker_reset").await;
    assert_eq!(resets.len(), 1);
    assert_eq!(
        (
            &resets[0]["operator"],
            &resets[0]["reason"],
            &resets[0]["breakers"]
        ),
        (&json!("dave"), &json!("false alarm"), &json!(["denials"]))
    );

    // The command line: a lead is refused, an operator resets.
    let out = env
        .run_as(
            "bob",
            &["breaker", "reset", "agent:deployer", "--reason", "x"],
        )
        .await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not_operator") && err.lines().count() == 1,
        "{err}"
    );
    let out = env
        .run_as(
            "alice",
            &[
                "breaker",
                "reset",
                "agent:deployer",
                "--breaker",
                "denials",
                "--reason",
                "looked at it",
            ],
        )
        .await;
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("no breaker is open for deployer"), "{said}");
    assert_eq!(deployer(&env, "orders.get").await, Verdict::Allow);
    assert_eq!(audit_kinds(&env, "breaker_reset").await.len(), 2);
    let out = env
        .run_as("alice", &["breaker", "reset", "deployer", "--reason", "x"])
        .await;
    assert!(!out.status.success());

    // The log with breaker records still verifies against the state tables.
    let mut env = env;
    env.stop().await;
    gavel::server::audit::verify(
        &env.records().path(),
        &gavel::server::audit::Expect::default(),
    )
    .unwrap();
}

#[tokio::test]
async fn unusual_calls_are_flagged_not_loosened() {
    let policy = format!("{POLICY}\n[anomaly]\nagents = [\"refund-bot\"]\nnew_tool = true\n");
    let mut env = Env::start(&policy).await;
    let first = env.act("refund-bot", "orders.get", json!({}), "s").await;
    assert_eq!((first.verdict, first.flagged), (Verdict::Allow, true));
    assert!(
        first
            .reason
            .contains("refund-bot has never called orders.get before")
            && first.reason.contains("rule \"reads\""),
        "{}",
        first.reason
    );
    let again = env.act("refund-bot", "orders.get", json!({}), "s").await;
    assert_eq!((again.verdict, again.flagged), (Verdict::Allow, false));
    // A denial stays a denial; an agent not watched is not flagged.
    let shell = env.act("refund-bot", "shell.exec", json!({}), "s").await;
    assert_eq!((shell.verdict, shell.flagged), (Verdict::Deny, false));
    assert!(
        !env.act("mailer", "orders.get", json!({}), "s")
            .await
            .flagged
    );
    let flagged = env.client.flagged(env.key("bob")).await.unwrap();
    assert!(flagged.iter().any(|f| f.action.id == first.id));

    // The baseline is every tool the agent ever called, so a restart forgets none.
    env.restart().await;
    assert!(
        !env.act("refund-bot", "orders.get", json!({}), "s")
            .await
            .flagged
    );
    assert!(
        !env.act("refund-bot", "shell.exec", json!({}), "s")
            .await
            .flagged
    );
    assert!(
        env.act("refund-bot", "customers.get", json!({}), "s")
            .await
            .flagged
    );
}

#[tokio::test]
async fn a_burst_above_the_agents_own_rate_is_flagged() {
    let policy = format!(
        "{POLICY}\n[anomaly]\nrate_factor = 2.0\nrate_window = \"1m\"\nbaseline = \"1h\"\nmin_calls = 3\n"
    );
    let env = Env::start(&policy).await;
    let mut flags = Vec::new();
    for _ in 0..4 {
        flags.push(env.act("refund-bot", "orders.get", json!({}), "s").await);
    }
    let flagged: Vec<bool> = flags.iter().map(|o| o.flagged).collect();
    assert_eq!(flagged, [false, false, true, true]);
    assert!(
        flags[2]
            .reason
            .contains("refund-bot made 3 calls within 1m"),
        "{}",
        flags[2].reason
    );
}
