//! In-process policy evaluation with ~100 rules: the cost the enforcement point adds to every
//! tool call before it touches the store.
//!
//! cargo bench --bench policy

use criterion::{criterion_group, criterion_main, Criterion};
use gavel::config::SourceFile;
use gavel::server::policy::{EvalInput, Policy};
use gavel::server::roster::Roster;
use serde_json::json;
use std::hint::black_box;

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

criterion_group!(benches, bench);
criterion_main!(benches);
