//! `gavel grant`, `gavel grants`, `gavel revoke` and `gavel usage` as a person runs them,
//! against a real server.

mod common;

use common::Env;
use gavel::protocol::{Grant, Verdict};
use serde_json::json;

const POLICY: &str = r#"
[[rule]]
id = "refund-large"
tools = ["stripe.refund"]
when = "args.amount > 1000.0"
effect = "review"
reason = "Refunds above $1,000 need a finance approver"
approvers = "finance"
timeout = "10m"
grantable = true

[[rule]]
id = "email-external"
tools = ["email.send"]
effect = "review"
reason = "Outbound email is read first"
approvers = "comms"
timeout = "10m"
"#;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_grants_lists_and_revokes_from_the_command_line() {
    let env = Env::start(POLICY).await;
    let out = env
        .run_as(
            "carol",
            &[
                "grant",
                "--agent",
                "refund-bot",
                "--tool",
                "stripe.refund",
                "--when",
                "args.currency == 'usd'",
                "--for",
                "1h",
                "--reason",
                "incident 4411 refunds",
            ],
        )
        .await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.starts_with("granted grt_")
            && stdout.contains("refund-bot may call stripe.refund when args.currency == 'usd'"),
        "{stdout}"
    );
    let id = stdout
        .split_whitespace()
        .nth(1)
        .unwrap()
        .trim_end_matches(':');

    let allowed = env
        .act(
            "refund-bot",
            "stripe.refund",
            json!({"amount": 2000.0, "currency": "usd"}),
            "s",
        )
        .await;
    assert_eq!(
        (allowed.verdict, allowed.grant.as_deref()),
        (Verdict::Allow, Some(id))
    );

    let out = env.run_as("erin", &["grants"]).await;
    let listed = text(&out.stdout);
    assert!(out.status.success());
    let line = listed.lines().next().unwrap();
    let cols: Vec<&str> = line.split('\t').collect();
    assert_eq!(
        (cols[0], cols[1], cols[2], cols[3], cols[4], cols[6], cols[7]),
        (
            id,
            "refund-bot",
            "stripe.refund",
            "args.currency == 'usd'",
            "carol",
            "1 uses",
            "live"
        ),
        "{listed}"
    );
    let out = env.run_as("erin", &["grants", "--json"]).await;
    let grants: Vec<Grant> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((grants.len(), grants[0].uses), (1, 1));

    // Not the signer, not an operator: refused, one line, non-zero.
    let out = env
        .run_as("bob", &["revoke", id, "--reason", "mine now"])
        .await;
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("not_revoker"), "{err}");

    let out = env
        .run_as("carol", &["revoke", id, "--reason", "incident closed"])
        .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with(&format!("revoked {id}")));
    let after = env
        .act(
            "refund-bot",
            "stripe.refund",
            json!({"amount": 2000.0, "currency": "usd"}),
            "s2",
        )
        .await;
    assert_eq!(after.verdict, Verdict::Pending);
    let out = env.run_as("erin", &["grants"]).await;
    assert_eq!(text(&out.stdout), "");
    let out = env.run_as("erin", &["grants", "--all"]).await;
    assert!(text(&out.stdout).contains("revoked by carol"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_and_bad_input_are_one_clear_line() {
    let env = Env::start(POLICY).await;
    let cases: [(&str, Vec<&str>, &str); 4] = [
        (
            "bob",
            vec![
                "grant",
                "--agent",
                "mailer",
                "--tool",
                "email.send",
                "--for",
                "1h",
                "--reason",
                "r",
            ],
            "not_grantable",
        ),
        (
            "dave",
            vec![
                "grant",
                "--agent",
                "refund-bot",
                "--tool",
                "stripe.refund",
                "--for",
                "1h",
                "--reason",
                "r",
            ],
            "not_eligible",
        ),
        (
            "carol",
            vec![
                "grant",
                "--agent",
                "refund-bot",
                "--tool",
                "stripe.refund",
                "--for",
                "8d",
                "--reason",
                "r",
            ],
            "--for",
        ),
        (
            "carol",
            vec![
                "grant",
                "--agent",
                "refund-bot",
                "--tool",
                "stripe.refund",
                "--when",
                "args.amount >",
                "--for",
                "1h",
                "--reason",
                "r",
            ],
            "bad_condition",
        ),
    ];
    for (who, words, says) in cases {
        let out = env.run_as(who, &words).await;
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{words:?}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("gavel: ") && err.contains(says), "{err}");
    }
}

/// `gavel usage` reads `GET /v1/usage`: as text, one line per limit (and its grace), then the
/// breakers; as JSON, the server's report. Written to hold once limits and breakers fill the
/// report: every limit and breaker in the JSON must appear in the table, with the fields the
/// console reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_prints_the_report_as_a_table_and_as_json() {
    let env = Env::start(POLICY).await;
    env.act(
        "refund-bot",
        "stripe.refund",
        json!({"amount": 20.0, "currency": "usd"}),
        "sess-1",
    )
    .await;
    let out = env.run_as("carol", &["usage", "--json"]).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("usage --json is JSON");
    let limits = v["limits"].as_array().expect("limits is a list");
    let breakers = v["breakers"].as_array().expect("breakers is a list");
    let report: gavel::protocol::UsageReport =
        serde_json::from_value(v.clone()).expect("a UsageReport");
    for l in limits {
        for field in [
            "limit",
            "per",
            "agent",
            "window_secs",
            "resets_at",
            "calls",
            "cost",
        ] {
            assert!(!l[field].is_null(), "{field} in {l}");
        }
        assert!(l["share"].as_f64().is_some_and(f64::is_finite), "{l}");
        assert!(["ok", "warning", "exceeded"].contains(&l["state"].as_str().unwrap_or("")));
    }
    for b in breakers {
        for field in ["breaker", "agent", "state", "reason", "since", "until"] {
            assert!(!b[field].is_null(), "{field} in {b}");
        }
    }

    let out = env.run_as("carol", &["usage"]).await;
    let table = text(&out.stdout);
    assert!(out.status.success(), "{table}{}", text(&out.stderr));
    for line in table.lines() {
        assert!(line.chars().count() <= 80, "wider than 80 columns: {line}");
    }
    if report.limits.is_empty() {
        assert!(table.starts_with("No limit is in use.\n"), "{table}");
    } else {
        assert!(table.starts_with("LIMIT "), "{table}");
        for l in &report.limits {
            assert!(
                table
                    .lines()
                    .any(|x| x.contains(&l.agent) && x.contains(&l.calls.to_string())),
                "{} of {} missing: {table}",
                l.limit,
                l.agent
            );
        }
    }
    if report.breakers.is_empty() {
        assert!(table.ends_with("No breaker is open.\n"), "{table}");
    } else {
        for b in &report.breakers {
            assert!(table.contains(&format!("why: {}", b.reason)), "{table}");
        }
    }

    // One agent's use only.
    let out = env
        .run_as("carol", &["usage", "--agent", "refund-bot", "--json"])
        .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let one: gavel::protocol::UsageReport = serde_json::from_slice(&out.stdout).unwrap();
    assert!(one.limits.iter().all(|l| l.agent == "refund-bot"));
    assert!(one.breakers.iter().all(|b| b.agent == "refund-bot"));
}

const LIMITED: &str = r#"
[[rule]]
id = "stripe"
tools = ["stripe.*"]
effect = "allow"
reason = "Payments are routine"

[[limit]]
id = "daily"
agents = ["refund-bot"]
tools = ["stripe.*"]
window = "1d"
max_calls = 3
max_cost = 100.0
warn_at = 0.5
"#;

/// A real `[[limit]]` and real calls: the row names the limit and the agent and shows the calls
/// against the maximum, the cost, the share and the state; `--json` carries the same numbers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_shows_a_real_limit_in_use_as_a_row_and_as_numbers() {
    let env = Env::start(LIMITED).await;
    for cost in [20.0, 25.5] {
        let mut req = common::request("stripe.refund", json!({"amount": 1.0}), "sess-1");
        req.cost = Some(cost);
        assert_eq!(env.submit("refund-bot", req).await.verdict, Verdict::Allow);
    }

    let out = env
        .run_as("carol", &["usage", "--agent", "refund-bot", "--json"])
        .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let limits = v["limits"].as_array().expect("limits is a list");
    assert_eq!(limits.len(), 1, "{v}");
    let l = &limits[0];
    assert_eq!(l["limit"], "daily");
    assert_eq!(l["per"], "agent");
    assert_eq!(l["agent"], "refund-bot");
    assert_eq!(l["window_secs"], 86_400);
    assert_eq!(l["calls"], 2);
    assert_eq!(l["max_calls"], 3);
    assert_eq!(l["cost"], 45.5);
    assert_eq!(l["max_cost"], 100.0);
    assert_eq!(l["warn_at"], 0.5);
    assert_eq!(l["grace_calls"], 0);
    // Two of three calls is the larger share: past warn_at, not yet at the limit.
    let share = l["share"].as_f64().unwrap();
    assert!((share - 2.0 / 3.0).abs() < 1e-9, "{share}");
    assert_eq!(l["state"], "warning");
    assert_eq!(v["breakers"], json!([]));

    let out = env.run_as("carol", &["usage"]).await;
    let table = text(&out.stdout);
    assert!(out.status.success(), "{table}{}", text(&out.stderr));
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["LIMIT", "AGENT", "CALLS", "COST", "SHARE", "STATE", "RESETS"],
        "{table}"
    );
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        row[..6],
        [
            "daily",
            "refund-bot",
            "2/3",
            "$45.50/$100.00",
            "67%",
            "warning"
        ],
        "{table}"
    );
    assert!(table.ends_with("No breaker is open.\n"), "{table}");

    // The third call reaches the maximum; the fourth is over it and denied, naming the limit.
    env.act(
        "refund-bot",
        "stripe.refund",
        json!({"amount": 1.0}),
        "sess-1",
    )
    .await;
    let over = env
        .act(
            "refund-bot",
            "stripe.refund",
            json!({"amount": 1.0}),
            "sess-1",
        )
        .await;
    assert_eq!(over.verdict, Verdict::Deny, "{}", over.reason);
    let out = env.run_as("carol", &["usage"]).await;
    let table = text(&out.stdout);
    let row: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(
        row[..6],
        [
            "daily",
            "refund-bot",
            "3/3",
            "$45.50/$100.00",
            "100%",
            "EXCEEDED"
        ],
        "{table}"
    );
}
