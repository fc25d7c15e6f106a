//! `[[limit]]` end to end: deny past the limit with a reason naming it, per-session envelopes,
//! reported costs, warn flags, budget escalations and their grace, restarts, CEL `usage` and
//! `now`, `GET /v1/usage` and the audit records.

use gavel::client::Client;
use gavel::protocol::{ActionOutcome, EscalationState, LimitScope, LimitState, Verdict, Vote};
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{request, Env};

const ALLOW_STRIPE: &str = r#"
[[rule]]
id = "stripe"
tools = ["stripe.*"]
effect = "allow"
reason = "Payments are routine"
"#;

async fn call(env: &Env, session: &str, cost: Option<f64>) -> ActionOutcome {
    let mut req = request("stripe.refund", json!({ "amount": 1.0 }), session);
    req.cost = cost;
    env.submit("refund-bot", req).await
}

async fn kinds(env: &Env, kind: &str) -> Vec<Value> {
    env.client
        .audit(env.key("grace"), "")
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.kind == kind)
        .map(|r| r.body)
        .collect()
}

/// Stops the server and checks its audit log and state tables with `gavel audit verify`.
async fn verified(env: &mut Env) {
    env.stop().await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(["audit", "verify"])
        .args(env.verify_args())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn report_cost(env: &Env, agent: &str, id: &str, body: Value) -> (u16, Value) {
    let (status, body) = env
        .client
        .raw(
            Method::POST,
            &format!("/v1/actions/{id}/cost"),
            Some(env.token(agent)),
            Some(&body),
        )
        .await
        .unwrap();
    (status.as_u16(), body)
}

#[tokio::test]
async fn past_max_calls_a_call_is_denied_naming_the_limit_and_when_it_frees_up_even_after_a_restart(
) {
    let policy = format!(
        "{ALLOW_STRIPE}\n[[limit]]\nid = \"daily\"\nagents = [\"refund-bot\"]\ntools = [\"stripe.*\"]\nwindow = \"1d\"\nmax_calls = 2\n"
    );
    let mut env = Env::start(&policy).await;
    for _ in 0..2 {
        assert_eq!(call(&env, "s", None).await.verdict, Verdict::Allow);
    }
    let denied = call(&env, "s", None).await;
    assert_eq!(denied.verdict, Verdict::Deny);
    assert!(
        denied
            .reason
            .starts_with("limit \"daily\": 2 of 2 calls in this 1d window; frees up at ")
            && denied.reason.ends_with("T00:00:00Z"),
        "{}",
        denied.reason
    );
    // Another agent and another tool are not counted.
    let other = env.act("refund-bot", "orders.get", json!({}), "s").await;
    assert_eq!(
        other.verdict,
        Verdict::Deny,
        "no rule allows it: default deny"
    );
    assert!(!other.reason.contains("limit"), "{}", other.reason);

    let usage = env
        .client
        .usage(env.key("alice"), Some("refund-bot"))
        .await
        .unwrap();
    assert_eq!(usage.limits.len(), 1);
    let u = &usage.limits[0];
    assert_eq!(
        (u.limit.as_str(), u.per, u.calls),
        ("daily", LimitScope::Agent, 2)
    );
    assert_eq!((u.max_calls, u.state), (Some(2), LimitState::Exceeded));
    assert_eq!(u.window_secs, 86_400);

    let hits = kinds(&env, "limit_exceeded").await;
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0]["limit"], "daily");
    assert_eq!(hits[0]["action"], denied.id.as_str());
    assert_eq!(hits[0]["on_exceed"], "deny");

    let metrics = reqwest::get(format!("{}/metrics", env.url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "# HELP gavel_budget_use_ratio ",
        "# TYPE gavel_budget_use_ratio gauge",
        "gavel_budget_use_ratio{limit=\"daily\",agent=\"refund-bot\"} 1",
        "gavel_budget_calls{limit=\"daily\",agent=\"refund-bot\"} 2",
    ] {
        assert!(metrics.contains(line), "{line} not in\n{metrics}");
    }
    let open = reqwest::Client::new()
        .get(format!("{}/metrics", env.url()))
        .header("accept", "application/openmetrics-text;version=1.0.0")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let parsed = openmetrics_parser::openmetrics::parse_openmetrics(&open)
        .unwrap_or_else(|e| panic!("{e}\n{open}"));
    assert!(parsed.families.contains_key("gavel_budget_cost"));

    env.restart().await;
    let usage = env.client.usage(env.key("alice"), None).await.unwrap();
    assert_eq!(usage.limits[0].calls, 2, "the denied call never counted");
    assert_eq!(call(&env, "s", None).await.verdict, Verdict::Deny);
}

#[tokio::test]
async fn a_per_session_envelope_counts_each_session_apart() {
    let policy = format!(
        "{ALLOW_STRIPE}\n[[limit]]\nid = \"task\"\nper = \"session\"\nwindow = \"1d\"\nmax_calls = 1\n"
    );
    let env = Env::start(&policy).await;
    assert_eq!(call(&env, "a", None).await.verdict, Verdict::Allow);
    assert_eq!(call(&env, "a", None).await.verdict, Verdict::Deny);
    assert_eq!(call(&env, "b", None).await.verdict, Verdict::Allow);
    let usage = env.client.usage(env.key("alice"), None).await.unwrap();
    let sessions: Vec<_> = usage
        .limits
        .iter()
        .map(|u| (u.session.clone().unwrap(), u.calls, u.per))
        .collect();
    assert_eq!(
        sessions,
        [
            ("a".to_string(), 1, LimitScope::Session),
            ("b".to_string(), 1, LimitScope::Session)
        ]
    );
}

#[tokio::test]
async fn a_reported_actual_cost_replaces_the_estimate_and_changes_the_outcome() {
    let policy =
        format!("{ALLOW_STRIPE}\n[[limit]]\nid = \"spend\"\nwindow = \"1d\"\nmax_cost = 10.0\n");
    let mut env = Env::start(&policy).await;
    let first = call(&env, "s", Some(8.0)).await;
    assert_eq!(first.verdict, Verdict::Allow);
    let over = call(&env, "s", Some(5.0)).await;
    assert_eq!(over.verdict, Verdict::Deny);
    assert!(
        over.reason.contains("cost 8.00 of 10.00, this call 5.00"),
        "{}",
        over.reason
    );

    // Through the agent-side client, as an adapter reports it.
    let recorded = env
        .client
        .report_cost(env.token("refund-bot"), &first.id, 2.0)
        .await
        .unwrap();
    assert_eq!(recorded.action, first.id);
    assert_eq!(recorded.cost, 2.0);
    assert_eq!(recorded.previous, Some(8.0));
    assert!(recorded.counted);
    assert_eq!(recorded.limits.len(), 1);
    assert_eq!(
        (recorded.limits[0].limit.as_str(), recorded.limits[0].cost),
        ("spend", 2.0)
    );
    assert_eq!(call(&env, "s", Some(5.0)).await.verdict, Verdict::Allow);
    // The client refuses what JSON cannot carry before sending; the server's answers to
    // another agent and to a denied call come back as API errors with their codes.
    for bad in [-1.0, f64::NAN, f64::INFINITY] {
        let err = env
            .client
            .report_cost(env.token("refund-bot"), &first.id, bad)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "config", "{bad}: {err}");
    }
    let err = env
        .client
        .report_cost(env.token("mailer"), &first.id, 1.0)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_found", "{err}");

    // Only the agent that made the call may report, and only a sane cost.
    let (status, _) = report_cost(&env, "mailer", &first.id, json!({"cost": 1.0})).await;
    assert_eq!(status, 404);
    let (status, _) = report_cost(&env, "refund-bot", "act_nope", json!({"cost": 1.0})).await;
    assert_eq!(status, 404);
    for bad in [
        json!({"cost": -1.0}),
        json!({"cost": 1e300}),
        json!({"cost": f64::NAN}),
        json!({"cost": "3"}),
    ] {
        let (status, body) = report_cost(&env, "refund-bot", &first.id, bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, body) = report_cost(&env, "refund-bot", &over.id, json!({"cost": 1.0})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("action_denied"))
    );
    let reports = kinds(&env, "cost_reported").await;
    assert_eq!(reports.len(), 1);
    assert_eq!(
        (reports[0]["estimate"].as_f64(), reports[0]["cost"].as_f64()),
        (Some(8.0), Some(2.0))
    );
    verified(&mut env).await;
}

#[tokio::test]
async fn submit_refuses_a_negative_non_finite_or_huge_cost() {
    let env = Env::start(ALLOW_STRIPE).await;
    for cost in [json!(-0.5), json!(1e300), json!(f64::INFINITY), json!("1")] {
        let body = json!({"tool": "stripe.refund", "args": {}, "session": "s", "cost": cost});
        let (status, answer) = env
            .client
            .raw(
                Method::POST,
                "/v1/actions",
                Some(env.token("refund-bot")),
                Some(&body),
            )
            .await
            .unwrap();
        // JSON has no infinity: serde writes null, which is no number either.
        let expect = if cost.is_null() { 200 } else { 400 };
        assert_eq!(status.as_u16(), expect, "{cost}: {answer}");
    }
}

#[tokio::test]
async fn past_warn_at_an_allowed_call_is_flagged_naming_the_limit() {
    let policy = format!(
        "{ALLOW_STRIPE}\n[[limit]]\nid = \"hourly\"\nwindow = \"1d\"\nmax_calls = 4\nwarn_at = 0.5\n"
    );
    let env = Env::start(&policy).await;
    let first = call(&env, "s", None).await;
    assert!(!first.flagged);
    let second = call(&env, "s", None).await;
    assert_eq!(second.verdict, Verdict::Allow);
    assert!(second.flagged);
    assert!(
        second.reason.contains("limit \"hourly\" is at 50%"),
        "{}",
        second.reason
    );
    let flagged = env.client.flagged(env.key("bob")).await.unwrap();
    assert!(flagged.iter().any(|f| f.action.id == second.id));
    let usage = env.client.usage(env.key("alice"), None).await.unwrap();
    assert_eq!(usage.limits[0].state, LimitState::Warning);
}

const BUDGET: &str = r#"
[[limit]]
id = "refund-budget"
agents = ["refund-bot"]
tools = ["stripe.*"]
window = "1d"
max_calls = 1
on_exceed = "review"
grace_calls = 2
approvers = "finance"
timeout = "5m"
"#;

#[tokio::test]
async fn an_approved_budget_escalation_grants_grace_and_a_denied_one_does_not() {
    let mut env = Env::start(&format!("{ALLOW_STRIPE}{BUDGET}")).await;
    assert_eq!(call(&env, "s", None).await.verdict, Verdict::Allow);
    let held = call(&env, "s", None).await;
    assert_eq!(held.verdict, Verdict::Pending);
    let esc = env.escalation(held.escalation.as_deref().unwrap()).await;
    let ask = esc.budget.clone().expect("a budget escalation");
    assert_eq!(
        (ask.usage.limit.as_str(), ask.usage.calls, ask.grace_calls),
        ("refund-budget", 1, 2)
    );
    assert_eq!(
        (esc.rule.id.as_str(), esc.group.as_str()),
        ("refund-budget", "finance")
    );
    assert!(!esc.rule.grantable);
    assert!(
        esc.rule.reason.contains("refund-bot has used 1 of 1 calls")
            && esc.rule.reason.contains("approving allows 2 more calls"),
        "{}",
        esc.rule.reason
    );
    let ack = env
        .client
        .decide(&Client::sign_decision(
            env.key("carol"),
            &esc,
            Vote::Approve,
            "ok",
        ))
        .await
        .unwrap();
    assert_eq!(ack.escalation.state, EscalationState::Approved);
    let out = env.poll("refund-bot", &held.id).await.unwrap();
    assert_eq!(out.verdict, Verdict::Allow, "the held call runs");
    assert_eq!(kinds(&env, "grace_granted").await.len(), 1);

    // Grace survives a restart: rebuilt from the approved budget escalation.
    env.restart().await;
    let usage = env.client.usage(env.key("alice"), None).await.unwrap();
    assert_eq!((usage.limits[0].calls, usage.limits[0].grace_calls), (2, 2));
    assert_eq!(
        call(&env, "s", None).await.verdict,
        Verdict::Allow,
        "within the grace"
    );
    let again = call(&env, "s", None).await;
    assert_eq!(again.verdict, Verdict::Pending);
    let usage = env.client.usage(env.key("alice"), None).await.unwrap();
    assert_eq!(usage.limits[0].calls, 4, "a held review counts");
    let esc = env.escalation(again.escalation.as_deref().unwrap()).await;
    env.client
        .decide(&Client::sign_decision(
            env.key("carol"),
            &esc,
            Vote::Deny,
            "enough",
        ))
        .await
        .unwrap();
    assert_eq!(
        env.poll("refund-bot", &again.id).await.unwrap().verdict,
        Verdict::Deny
    );
    let usage = env.client.usage(env.key("alice"), None).await.unwrap();
    assert_eq!(
        (usage.limits[0].calls, usage.limits[0].grace_calls),
        (3, 2),
        "the denied one is released and grants nothing"
    );
    assert_eq!(kinds(&env, "grace_granted").await.len(), 1);
    assert_eq!(kinds(&env, "limit_exceeded").await.len(), 2);
    assert_eq!(call(&env, "s", None).await.verdict, Verdict::Pending);
    verified(&mut env).await;
}

#[tokio::test]
async fn rules_see_usage_and_now() {
    let policy = r#"
[[rule]]
id = "big-session"
tools = ["stripe.*"]
when = "usage['spend'].cost >= 5.0"
effect = "review"
reason = "The session has spent $5"
approvers = "finance"
timeout = "10m"

[[rule]]
id = "in-time"
tools = ["stripe.*"]
when = "now > timestamp('2020-01-01T00:00:00Z') && usage['spend'].calls < 10"
effect = "allow"
reason = "Routine"

[[limit]]
id = "spend"
per = "session"
window = "1d"
max_cost = 100.0
"#;
    let env = Env::start(policy).await;
    assert_eq!(call(&env, "s", Some(6.0)).await.verdict, Verdict::Allow);
    let held = call(&env, "s", Some(1.0)).await;
    assert_eq!(
        (held.verdict, held.rule.as_deref()),
        (Verdict::Pending, Some("big-session"))
    );
    assert_eq!(
        call(&env, "t", Some(1.0)).await.verdict,
        Verdict::Allow,
        "another session"
    );
}

#[tokio::test]
async fn calls_at_once_never_take_the_last_unit_twice() {
    let policy =
        format!("{ALLOW_STRIPE}\n[[limit]]\nid = \"few\"\nwindow = \"1d\"\nmax_calls = 3\n");
    let env = Env::start(&policy).await;
    let calls = (0..12).map(|i| call(&env, if i % 2 == 0 { "a" } else { "b" }, None));
    let outs = futures_util::future::join_all(calls).await;
    let allowed = outs.iter().filter(|o| o.verdict == Verdict::Allow).count();
    assert_eq!(
        allowed,
        3,
        "{:?}",
        outs.iter().map(|o| &o.reason).collect::<Vec<_>>()
    );
    let usage = env.client.usage(env.key("alice"), None).await.unwrap();
    assert_eq!(usage.limits[0].calls, 3);
}

#[tokio::test]
async fn a_rule_review_keeps_its_requirements_and_gains_the_budget_ask_and_a_rule_deny_stays() {
    let policy = format!(
        r#"
[[rule]]
id = "two-people"
tools = ["stripe.refund"]
when = "args.amount > 100.0"
effect = "review"
reason = "Large refunds need two finance approvers"
approvers = "finance"
approvals = 2
timeout = "10m"

[[rule]]
id = "no-payouts"
tools = ["stripe.payout"]
effect = "deny"
reason = "Never"
{ALLOW_STRIPE}{BUDGET}"#
    );
    let env = Env::start(&policy).await;
    assert_eq!(call(&env, "s", None).await.verdict, Verdict::Allow);
    let big = env
        .act("refund-bot", "stripe.refund", json!({"amount": 500.0}), "s")
        .await;
    assert_eq!(big.verdict, Verdict::Pending);
    let esc = env.escalation(big.escalation.as_deref().unwrap()).await;
    assert_eq!(
        (esc.rule.id.as_str(), esc.approvals_required),
        ("two-people", 2)
    );
    assert!(esc.budget.is_some(), "the budget ask is added");
    assert!(
        esc.rule.reason.contains("limit \"refund-budget\""),
        "{}",
        esc.rule.reason
    );
    let payout = env.act("refund-bot", "stripe.payout", json!({}), "s").await;
    assert_eq!(
        (payout.verdict, payout.rule.as_deref()),
        (Verdict::Deny, Some("no-payouts"))
    );
    assert!(
        kinds(&env, "limit_exceeded").await.len() == 1,
        "a rule deny is no limit hit"
    );
}

#[tokio::test]
async fn a_budget_escalation_held_across_a_restart_still_counts_and_its_approval_grants_grace() {
    let mut env = Env::start(&format!("{ALLOW_STRIPE}{BUDGET}")).await;
    assert_eq!(call(&env, "s", None).await.verdict, Verdict::Allow);
    let held = call(&env, "s", None).await;
    assert_eq!(held.verdict, Verdict::Pending);
    env.restart().await;
    let usage = env.client.usage(env.key("alice"), None).await.unwrap();
    assert_eq!(usage.limits[0].calls, 2, "the pending review still counts");
    let esc = env.escalation(held.escalation.as_deref().unwrap()).await;
    assert!(
        esc.budget.is_some(),
        "the budget ask is stored with the escalation"
    );
    env.client
        .decide(&Client::sign_decision(
            env.key("alice"),
            &esc,
            Vote::Approve,
            "ok",
        ))
        .await
        .unwrap();
    let usage = env.client.usage(env.key("alice"), None).await.unwrap();
    assert_eq!((usage.limits[0].calls, usage.limits[0].grace_calls), (2, 2));
    assert_eq!(usage.limits[0].state, LimitState::Ok);
    assert_eq!(kinds(&env, "grace_granted").await.len(), 1);
}

/// Approval fatigue counts budget escalations: an agent that keeps asking for more room is
/// asking people, like one that keeps raising reviews, and its breaker stops it.
#[tokio::test]
async fn budget_escalations_count_toward_the_approval_fatigue_breaker() {
    let policy = format!(
        r#"{ALLOW_STRIPE}
[[limit]]
id = "one-a-day"
agents = ["refund-bot"]
tools = ["stripe.*"]
window = "1d"
max_calls = 1
on_exceed = "review"
grace_calls = 1
approvers = "finance"
timeout = "10m"

[[breaker]]
id = "asks-too-often"
agents = ["refund-bot"]
window = "10m"
max_escalations = 2
cooldown = "1h"
"#
    );
    let env = Env::start(&policy).await;
    assert_eq!(call(&env, "s1", None).await.verdict, Verdict::Allow);
    // Separate sessions, so no call joins another's pending escalation.
    for session in ["s2", "s3"] {
        let held = call(&env, session, None).await;
        assert_eq!(held.verdict, Verdict::Pending, "{held:?}");
        assert_eq!(held.rule.as_deref(), Some("one-a-day"));
    }
    let tripped = call(&env, "s4", None).await;
    assert_eq!(tripped.verdict, Verdict::Deny, "{tripped:?}");
    assert!(
        tripped.reason.contains("asks-too-often"),
        "{}",
        tripped.reason
    );
    let report = env
        .client
        .usage(env.key("grace"), Some("refund-bot"))
        .await
        .unwrap();
    assert_eq!(
        report
            .breakers
            .iter()
            .map(|b| b.breaker.as_str())
            .collect::<Vec<_>>(),
        ["asks-too-often"]
    );
    assert_eq!(kinds(&env, "breaker_tripped").await.len(), 1);
}

/// Sessions are the agent's to name: a per-session limit must not make `GET /v1/usage` as long
/// as an agent likes. The answer lists the fullest uses and says how many it left out.
#[tokio::test]
async fn usage_lists_the_fullest_limit_uses_and_counts_the_rest() {
    let policy = format!(
        "{ALLOW_STRIPE}\n[[limit]]\nid = \"per-task\"\nagents = [\"refund-bot\"]\nper = \"session\"\nwindow = \"1d\"\nmax_calls = 2\n"
    );
    let env = Env::start(&policy).await;
    let extra = 2;
    for i in 0..gavel::protocol::MAX_USAGE_ROWS + extra - 1 {
        assert_eq!(
            call(&env, &format!("task-{i}"), None).await.verdict,
            Verdict::Allow
        );
    }
    // The one session at its maximum is among the listed however the rest sort.
    for _ in 0..2 {
        assert_eq!(call(&env, "busy", None).await.verdict, Verdict::Allow);
    }
    let report = env.client.usage(env.key("grace"), None).await.unwrap();
    assert_eq!(report.limits.len(), gavel::protocol::MAX_USAGE_ROWS);
    assert_eq!(report.omitted, extra as u64);
    let busy = report
        .limits
        .iter()
        .find(|l| l.session.as_deref() == Some("busy"))
        .expect("the fullest use is listed");
    assert_eq!((busy.calls, busy.state), (2, LimitState::Exceeded));
}
