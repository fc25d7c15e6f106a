//! In-process policy evaluation with ~100 rules: the cost the enforcement point adds to every
//! tool call before it touches the store.
//!
//! cargo bench --bench policy
//!
//! Criterion reports medians; `tail` then times 200,000 evaluations one by one over a mix of
//! inputs (each kind of rule, matching early, late and not at all) and prints p50/p99/p99.9
//! against the goal (p99 ≤ 10 µs).

use criterion::{criterion_group, criterion_main, Criterion};
use gavel::config::SourceFile;
use gavel::server::policy::{EvalInput, Policy};
use gavel::server::roster::Roster;
use serde_json::json;
use std::hint::black_box;
use std::time::{Duration, Instant};

fn roster() -> Roster {
    let key = gavel::protocol::PersonKey::generate("p").public();
    let text = format!(
        "[[person]]\nid = \"p\"\nkey = \"{key}\"\nroles = [\"approver\"]\ngroups = [\"finance\", \"ops\"]\n"
    );
    Roster::parse(&SourceFile::new("roster.toml", text)).unwrap()
}

/// 100 rules across 25 services: an allow, a flag, a review and a deny each, most with a
/// CEL condition, as a large organisation's policy would look.
fn policy_text() -> String {
    let mut s = String::new();
    for i in 0..25 {
        s += &format!(
            r#"
[[rule]]
id = "svc{i}-read"
tools = ["svc{i}.get", "svc{i}.list"]
effect = "allow"
reason = "reads"

[[rule]]
id = "svc{i}-small"
tools = ["svc{i}.write"]
when = "args.amount <= 100.0 && context.env != 'production'"
effect = "flag"
reason = "small writes"

[[rule]]
id = "svc{i}-large"
tools = ["svc{i}.write"]
when = "args.amount > 100.0 || args.target.startsWith('prod')"
effect = "review"
reason = "large writes"
approvers = "finance"
timeout = "10m"

[[rule]]
id = "svc{i}-forbidden"
tools = ["svc{i}.*"]
agents = ["intern-*"]
when = "has(args.force) && args.force == true"
effect = "deny"
reason = "no forcing"
"#
        );
    }
    s
}

fn bench(c: &mut Criterion) {
    let roster = roster();
    let policy = Policy::parse(&SourceFile::new("policy.toml", policy_text()), &roster).unwrap();
    assert_eq!(policy.rules.len(), 100);
    let ctx = json!({"env": "staging", "cwd": "/srv/app"});
    let read_args = json!({"id": "o-17"});
    let write_args =
        json!({"amount": 250.0, "target": "prod-db", "order": "o-17", "lines": [1, 2, 3]});

    let mut group = c.benchmark_group("policy_100_rules");
    let cases = [
        ("allow_glob_only", "svc12.get", &read_args),
        ("review_with_cel", "svc24.write", &write_args),
        ("no_rule_matches", "other.tool", &read_args),
    ];
    for (name, tool, args) in cases {
        group.bench_function(name, |b| {
            b.iter(|| {
                policy.evaluate(black_box(&EvalInput {
                    agent: "refund-bot",
                    tool,
                    args,
                    session: "s-1",
                    context: &ctx,
                    on_behalf_of: Some("bob"),
                    cost: None,
                    rationale: None,
                    now: None,
                    usage: None,
                }))
            })
        });
    }
    group.finish();
}

/// Each evaluation timed on its own: the tail, which a median hides.
fn tail(_: &mut Criterion) {
    const N: usize = 200_000;
    const GOAL: Duration = Duration::from_micros(10);
    let roster = roster();
    let policy = Policy::parse(&SourceFile::new("policy.toml", policy_text()), &roster).unwrap();
    let staging = json!({"env": "staging", "cwd": "/srv/app"});
    let production = json!({"env": "production", "cwd": "/srv/app"});
    let read = json!({"id": "o-17"});
    let small = json!({"amount": 50.0, "target": "dev-db"});
    let large = json!({"amount": 250.0, "target": "prod-db", "order": "o-17", "lines": [1, 2, 3]});
    let forced = json!({"amount": 5.0, "target": "dev-db", "force": true});
    // (agent, tool, args, context): allow by glob early and late, flag, review by amount and
    // by target, deny for an intern's forcing, a write no rule takes, an unknown tool.
    let mix = [
        ("refund-bot", "svc0.get", &read, &staging),
        ("refund-bot", "svc24.list", &read, &staging),
        ("refund-bot", "svc3.write", &small, &staging),
        ("refund-bot", "svc21.write", &small, &staging),
        ("refund-bot", "svc12.write", &large, &staging),
        ("refund-bot", "svc24.write", &large, &production),
        ("intern-7", "svc18.write", &forced, &staging),
        ("refund-bot", "svc9.write", &small, &production),
        ("refund-bot", "other.tool", &read, &staging),
    ];
    let mut times = Vec::with_capacity(N);
    for i in 0..N {
        let (agent, tool, args, context) = mix[i % mix.len()];
        let input = EvalInput {
            agent,
            tool,
            args,
            session: "s-1",
            context,
            on_behalf_of: Some("bob"),
            cost: None,
            rationale: None,
            now: None,
            usage: None,
        };
        let t = Instant::now();
        black_box(policy.evaluate(black_box(&input)));
        times.push(t.elapsed());
    }
    times.sort();
    let at = |p: f64| times[((N as f64 * p).ceil() as usize).clamp(1, N) - 1];
    println!(
        "policy_100_rules tail: n={N} over {} inputs, p50={:?} p99={:?} p99.9={:?} max={:?}",
        mix.len(),
        at(0.50),
        at(0.99),
        at(0.999),
        times[N - 1]
    );
    println!(
        "goal 10 µs (p99): {}",
        if at(0.99) <= GOAL { "met" } else { "not met" }
    );
}

criterion_group!(benches, bench, tail);
criterion_main!(benches);
