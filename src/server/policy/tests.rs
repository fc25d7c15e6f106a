use super::*;
use serde_json::json;

fn roster() -> Roster {
    let root = env!("CARGO_MANIFEST_DIR");
    Roster::load(std::path::Path::new(&format!("{root}/assets/roster.toml"))).unwrap()
}

fn example() -> Policy {
    let root = env!("CARGO_MANIFEST_DIR");
    let src =
        SourceFile::read(std::path::Path::new(&format!("{root}/assets/policy.toml"))).unwrap();
    Policy::parse(&src, &roster()).unwrap()
}

fn parse(text: &str) -> Result<Policy, ConfigError> {
    Policy::parse(&SourceFile::new("policy.toml", text), &roster())
}

fn decide(p: &Policy, tool: &str, args: Value) -> Decision {
    decide_in(p, tool, args, json!({}))
}

fn decide_in(p: &Policy, tool: &str, args: Value, context: Value) -> Decision {
    p.evaluate(&EvalInput {
        agent: "refund-bot",
        tool,
        args: &args,
        session: "s",
        context: &context,
        on_behalf_of: None,
        cost: None,
        rationale: None,
    })
}

fn eval(p: &Policy, tool: &str, args: Value) -> (Effect, Option<String>) {
    let d = decide(p, tool, args);
    (d.effect(), d.rule().map(|i| p.rules[i].id.clone()))
}

fn rule(s: &str) -> Option<String> {
    Some(s.to_string())
}

fn refund(amount: Value) -> Value {
    json!({"amount": amount, "order": "o-1", "currency": "usd", "reason": "duplicate"})
}

#[test]
fn example_policy_decides_as_documented() {
    let p = example();
    assert_eq!(
        eval(&p, "stripe.refund", refund(json!(50.0))),
        (Effect::Allow, rule("refund-small"))
    );
    assert_eq!(
        eval(&p, "stripe.refund", refund(json!(50))),
        (Effect::Allow, rule("refund-small"))
    );
    assert_eq!(
        eval(&p, "stripe.refund", refund(json!(500.0))),
        (Effect::Flag, rule("refund-medium"))
    );
    assert_eq!(
        eval(&p, "stripe.refund", refund(json!(5000.0))),
        (Effect::Review, rule("refund-large"))
    );
    assert_eq!(
        eval(&p, "stripe.refund", refund(json!(50000.0))),
        (Effect::Review, rule("refund-huge"))
    );
    assert_eq!(
        eval(
            &p,
            "email.send",
            json!({"to": "a@example.com", "subject": "s", "body": "b"})
        ),
        (Effect::Allow, rule("email-internal"))
    );
    assert_eq!(
        eval(
            &p,
            "email.send",
            json!({"to": "x@gmail.com", "subject": "s", "body": "b"})
        ),
        (Effect::Review, rule("email-external"))
    );
    assert_eq!(
        eval(
            &p,
            "email.send_bulk",
            json!({"recipients": ["a@example.com"]})
        ),
        (Effect::Deny, rule("email-bulk"))
    );
    let sql = |db: &str, sql: &str| json!({"database": db, "sql": sql});
    assert_eq!(
        eval(&p, "postgres.execute", sql("prod-main", "DROP TABLE users")),
        (Effect::Deny, rule("db-destructive"))
    );
    assert_eq!(
        eval(&p, "postgres.execute", sql("prod-main", "update t set x=1")),
        (Effect::Review, rule("db-prod-write"))
    );
    assert_eq!(
        eval(
            &p,
            "postgres.execute",
            sql("staging-orders", "update t set x=1")
        ),
        (Effect::Allow, rule("db-staging-write"))
    );
    assert_eq!(
        eval(
            &p,
            "postgres.query",
            sql("prod-orders", "SELECT id FROM orders")
        ),
        (Effect::Allow, rule("db-read"))
    );
    let deploy = |env: Value| json!({"service": "checkout", "environment": env, "build": 4801});
    assert_eq!(
        eval(&p, "deploy.release", deploy(json!("staging"))),
        (Effect::Flag, rule("deploy-staging"))
    );
    assert_eq!(
        eval(&p, "deploy.release", deploy(json!("production"))),
        (Effect::Review, rule("deploy-production"))
    );
    assert_eq!(
        eval(
            &p,
            "deploy.rollback",
            json!({"service": "search", "environment": "staging", "to": "build-4790"})
        ),
        (Effect::Allow, rule("deploy-rollback"))
    );
    assert_eq!(eval(&p, "orders.get", json!({"id": 1})).0, Effect::Allow);
    assert_eq!(
        eval(&p, "shell.exec", json!({"command": "ls"})),
        (Effect::Deny, None)
    );
}

/// The outcome for a call, with the review requirements when it is a review.
fn review_of(d: &Decision) -> &Review {
    match d {
        Decision::Review(r) => r,
        other => panic!("not a review: {other:?}"),
    }
}

#[test]
fn a_failing_condition_never_picks_the_weaker_review() {
    let p = example();
    // "50000" as a string: refund-large's condition fails (counts as a match, decides as the
    // first among equals), and the rule that applies when it is false (refund-huge) raises it.
    for amount in [
        json!("50000"),
        json!(null),
        json!([50000]),
        json!({"usd": 5}),
    ] {
        let d = decide(&p, "stripe.refund", refund(amount.clone()));
        let r = review_of(&d);
        assert_eq!(p.rules[r.rule].id, "refund-large", "{amount}");
        assert!(r.errored);
        assert_eq!(r.spec.approvals, 2, "{amount}");
        assert!(r.spec.separate_owner, "{amount}");
        assert_eq!(r.spec.timeout, Duration::from_secs(600), "the shortest");
        assert_eq!(
            r.raised_by
                .iter()
                .map(|&i| p.rules[i].id.as_str())
                .collect::<Vec<_>>(),
            ["refund-huge"],
            "{amount}"
        );
        let why = p.reason(&d);
        assert!(
            why.contains("\"refund-huge\"") && why.contains("2 approvals"),
            "{why}"
        );
        assert!(why.contains("not the agent's owner"), "{why}");
    }
    // No amount at all: the same.
    let d = decide(
        &p,
        "stripe.refund",
        json!({"order": "o", "currency": "usd"}),
    );
    assert_eq!(review_of(&d).spec.approvals, 2);
}

#[test]
fn raised_reviews_take_the_strictest_of_each_requirement() {
    let text = r#"
[[rule]]
id = "a"
when = "args.n > 1"
effect = "review"
reason = "a"
approvers = "finance"
timeout = "1h"
on_expiry = "escalate"
escalate_to = "sre"

[[rule]]
id = "b"
when = "args.n > 2"
effect = "review"
reason = "b"
approvers = "finance"
approvals = 2
timeout = "2h"
on_expiry = "escalate"
escalate_to = "sre"

[[rule]]
id = "c"
effect = "review"
reason = "c"
approvers = "finance"
timeout = "30m"
separate_owner = true

[[rule]]
id = "d"
when = "args.n > 3"
effect = "review"
reason = "after the clean match: cannot decide"
approvers = "comms"
timeout = "1s"
"#;
    let p = parse(text).unwrap();
    let d = decide(&p, "x", json!({"n": "many"}));
    let r = review_of(&d);
    assert_eq!((r.rule, r.errored), (0, true));
    assert_eq!(r.raised_by, [1, 2]);
    assert_eq!(
        r.spec,
        ReviewSpec {
            group: "finance".into(),
            approvals: 2,
            timeout: Duration::from_secs(1800),
            expiry: Expiry::Deny,
            separate_owner: true,
        }
    );
    // When every candidate hands over to the same group, so does the raised review.
    let d = decide(&p, "x", json!({"n": 5}));
    assert_eq!(review_of(&d).raised_by, Vec::<usize>::new());
    let only_ab = text
        .replace("id = \"c\"", "id = \"c\"\ntools = [\"other\"]")
        .replace("id = \"d\"", "id = \"d\"\ntools = [\"other\"]");
    let p = parse(&only_ab).unwrap();
    let d = decide(&p, "x", json!({"n": "many"}));
    let r = review_of(&d);
    assert_eq!(r.spec.expiry, Expiry::Escalate("sre".into()));
    assert_eq!(r.spec.approvals, 2);
}

#[test]
fn review_rules_with_different_groups_that_could_each_apply_deny() {
    let p = parse(
        r#"
[[rule]]
id = "money"
when = "args.amount > 1000"
effect = "review"
reason = "finance"
approvers = "finance"
timeout = "10m"

[[rule]]
id = "words"
effect = "review"
reason = "comms"
approvers = "comms"
timeout = "10m"
"#,
    )
    .unwrap();
    let d = decide(&p, "x", json!({"amount": "lots"}));
    assert_eq!(
        d,
        Decision::Deny {
            rule: None,
            cause: DenyCause::GroupConflict {
                rules: vec![0, 1],
                groups: vec!["finance".into(), "comms".into()]
            }
        }
    );
    let why = p.reason(&d);
    assert!(
        why.contains("different approver groups (finance, comms)"),
        "{why}"
    );
    // Without a failure the first clean match decides as always.
    assert_eq!(
        review_of(&decide(&p, "x", json!({"amount": 5000})))
            .spec
            .group,
        "finance"
    );
    assert_eq!(
        review_of(&decide(&p, "x", json!({"amount": 5}))).spec.group,
        "comms"
    );
}

#[test]
fn comparing_values_of_different_types_is_an_error() {
    let p = parse(
        r#"
[[rule]]
id = "staging"
tools = ["deploy.release"]
when = "args.environment != 'production'"
effect = "allow"
reason = "not production"

[[rule]]
id = "watch"
tools = ["watch"]
when = "args.v == 'x'"
effect = "deny"
reason = "watched"

[[rule]]
id = "numbers"
tools = ["n"]
when = "args.v == 1 && args.v == 1u && args.v == 1.0 && args.v < 2 && args.v >= 1.0 && args.v in [1.0]"
effect = "allow"
reason = "numbers compare across int, uint and double"
"#,
    )
    .unwrap();
    for env in [
        json!(["production"]),
        json!(null),
        json!({"name": "production"}),
        json!(7),
        json!(true),
    ] {
        assert_eq!(
            eval(&p, "deploy.release", json!({ "environment": env })),
            (Effect::Deny, None),
            "{env}"
        );
    }
    assert_eq!(
        eval(&p, "deploy.release", json!({"environment": "staging"})).0,
        Effect::Allow
    );
    // A deny rule counts a type error as a match.
    for v in [json!(["x"]), json!(null), json!(1)] {
        assert_eq!(
            decide(&p, "watch", json!({ "v": v })),
            Decision::Deny {
                rule: Some(1),
                cause: DenyCause::Rule { errored: true }
            }
        );
    }
    assert_eq!(eval(&p, "n", json!({"v": 1})).0, Effect::Allow);
    assert_eq!(eval(&p, "n", json!({"v": 1.0})).0, Effect::Allow);
    assert_eq!(eval(&p, "n", json!({"v": "1"})).0, Effect::Deny);
}

#[test]
fn strict_relations_everywhere() {
    let t = |cond: &str, args: Value| -> Result<bool, String> {
        let c = Condition::compile(cond).unwrap_or_else(|e| panic!("{cond}: {e:?}"));
        let input = EvalInput {
            agent: "a",
            tool: "t",
            args: &args,
            session: "s",
            context: &json!({}),
            on_behalf_of: None,
            cost: None,
            rationale: None,
        };
        condition::with_root(|root| c.eval(&condition::context(root, &input)))
    };
    let a = json!({"s": "x", "l": ["a", 1], "n": 5, "big": 18446744073709551615u64, "f": 0.5});
    assert_eq!(t("args.s == 'x'", a.clone()), Ok(true));
    assert!(t("args.s == 1", a.clone()).is_err());
    assert!(t("args.s != null", a.clone()).is_err());
    assert!(
        t("'a' in args.l", a.clone()).is_ok(),
        "found before the int"
    );
    assert!(
        t("'b' in args.l", a.clone()).is_err(),
        "compared with the int"
    );
    assert!(t("args.s in {'x': 1}", a.clone()).unwrap());
    assert!(t("1 in {'x': 1}", a.clone()).is_err());
    assert!(t("args.s < 1", a.clone()).is_err());
    assert!(t("[1] < [2]", a.clone()).is_err());
    assert_eq!(t("args.big > args.n", a.clone()), Ok(true));
    assert_eq!(t("args.big == 18446744073709551615u", a.clone()), Ok(true));
    assert_eq!(
        t("args.n + 1 == 6", a.clone()),
        Ok(true),
        "JSON integers are int"
    );
    assert_eq!(t("args.f < 1", a.clone()), Ok(true));
    assert_eq!(
        t("9007199254740993 == 9007199254740992.0", a.clone()),
        Ok(false)
    );
    assert_eq!(t("[1, 'a'] == [1, 'a']", a.clone()), Ok(true));
    assert!(t("[1, 'a'] == ['a', 1]", a.clone()).is_err());
    assert_eq!(t("type(args.s) == string", a.clone()), Ok(true));
    assert_eq!(t("args.l.exists(x, x == 'a')", a.clone()), Ok(true));
    assert!(t("args.l.all(x, x == 'a')", a.clone()).is_err());
    assert!(t("args.s.size() == 1 ? args.n : false", a.clone()).is_err());
}

#[test]
fn conditions_that_are_not_boolean_are_refused_at_start() {
    for (cond, what) in [
        ("'production'", "a string"),
        ("42", "an int"),
        ("1.5", "a double"),
        ("null", "null"),
        ("[true]", "a list"),
        ("{'a': true}", "a map"),
        ("args.amount * 2", "a product"),
        ("args.amount + 1", "a sum"),
        ("-args.amount", "a number"),
        ("size(args.to)", "int"),
        ("string(args.n)", "string"),
        ("tool", "a string (`tool`)"),
        ("cost", "a double (`cost`)"),
        ("email_domains(args.to)", "list"),
        ("sql_kinds(args.sql, 'postgres')", "list"),
        ("args.l.map(x, x == 1)", "a list"),
        ("args.l.filter(x, x == 1)", "a list"),
        ("args.x ? 'a' : true", "a string"),
        ("args.x ? true : 1", "an int"),
    ] {
        let text =
            format!("[[rule]]\nid = \"r\"\nwhen = \"{cond}\"\neffect = \"deny\"\nreason = \"r\"\n");
        let e = parse(&text)
            .err()
            .unwrap_or_else(|| panic!("{cond} accepted"));
        let s = e.to_string();
        assert!(
            s.starts_with("policy.toml:3:") && s.contains("true or false") && s.contains(what),
            "{cond}: {s}"
        );
    }
    for cond in [
        "args.flag",
        "args.x ? true : args.y == 1",
        "has(args.x)",
        "args.l.all(x, x == 1)",
        "args.l.exists_one(x, x == 1)",
        "path_within(args.p, '/srv')",
    ] {
        let text =
            format!("[[rule]]\nid = \"r\"\nwhen = \"{cond}\"\neffect = \"deny\"\nreason = \"r\"\n");
        assert!(parse(&text).is_ok(), "{cond}");
    }
    // At run time a non-boolean result is an error: no match for allow, a match for deny.
    let p = parse(
        "[[rule]]\nid = \"a\"\ntools = [\"a\"]\nwhen = \"args.flag\"\neffect = \"allow\"\nreason = \"r\"\n\
         [[rule]]\nid = \"d\"\ntools = [\"d\"]\nwhen = \"args.flag\"\neffect = \"deny\"\nreason = \"r\"\n",
    )
    .unwrap();
    assert_eq!(eval(&p, "a", json!({"flag": "yes"})).0, Effect::Deny);
    assert_eq!(eval(&p, "a", json!({"flag": true})).0, Effect::Allow);
    assert_eq!(eval(&p, "d", json!({"flag": 1})).1, rule("d"));
}

#[test]
fn unknown_functions_and_bad_dialects_are_refused_at_start() {
    let e = parse("[[rule]]\nid = \"r\"\nwhen = \"args.to.endswith('x')\"\neffect = \"deny\"\nreason = \"r\"\n")
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("policy.toml:3:") && e.contains("unknown function `endswith`"),
        "{e}"
    );
    for cond in [
        "sql_kinds(args.sql, 'postgresql').exists(k, k == 'drop')",
        "sql_kinds(args.sql, args.dialect).exists(k, k == 'drop')",
    ] {
        let text =
            format!("[[rule]]\nid = \"r\"\nwhen = \"{cond}\"\neffect = \"deny\"\nreason = \"r\"\n");
        let e = parse(&text).err().unwrap().to_string();
        assert!(e.contains("policy.toml:3:") && e.contains("dialect"), "{e}");
    }
}

#[test]
fn timeouts_are_checked_at_start_in_the_one_duration_grammar() {
    let with_timeout = |t: &str| {
        format!(
            "[[rule]]\nid = \"r\"\neffect = \"review\"\nreason = \"r\"\napprovers = \"finance\"\ntimeout = \"{t}\"\n"
        )
    };
    for t in [
        "100000000d",
        "106751991167300d",
        "18446744073709551615s",
        "99999999999999999999999d",
        "366d",
        "0s",
        "500ms",
        "10M",
        "1.5h",
        "30m1h",
    ] {
        let e = parse(&with_timeout(t))
            .err()
            .unwrap_or_else(|| panic!("{t} accepted"));
        let s = e.to_string();
        assert!(
            s.starts_with("policy.toml:6:11: rule \"r\": timeout:"),
            "{t}: {s}"
        );
    }
    for (t, secs) in [
        ("1s", 1),
        ("90s", 90),
        ("1h30m", 5400),
        ("2d", 172_800),
        ("365d", 31_536_000),
    ] {
        let p = parse(&with_timeout(t)).unwrap();
        let RuleEffect::Review(spec) = &p.rules[0].effect else {
            panic!("a review")
        };
        assert_eq!(spec.timeout, Duration::from_secs(secs), "{t}");
    }
}

#[test]
fn example_policy_escapes_are_closed() {
    let p = example();
    let e = |tool: &str, args: Value| eval(&p, tool, args);
    // Reads: `*` stops at a dot.
    assert_ne!(e("stripe.refund.get", json!({})).0, Effect::Allow);
    assert_ne!(e("x.y.list", json!({})).0, Effect::Allow);
    // Refunds: negative, zero, non-numeric, other currencies, extra arguments.
    for args in [
        refund(json!(-5000.0)),
        refund(json!(0)),
        refund(json!("50")),
        refund(json!(true)),
        json!({"amount": 50.0, "order": "o", "currency": "kwd", "reason": "r"}),
        json!({"amount": 50.0, "order": "o", "currency": "USD ", "reason": "r"}),
        json!({"amount": 50.0, "order": "o", "currency": "usd", "reason": "r", "reverse_transfer": true}),
        json!({"amount": 50.0, "currency": "usd", "charge": "ch_other"}),
        json!({"amount": 50.0}),
    ] {
        let d = decide(&p, "stripe.refund", args.clone());
        let r = review_of(&d);
        assert!(r.spec.approvals >= 2 && r.spec.separate_owner, "{args}");
    }
    // Email: another domain hidden in a list, a display name, cc/bcc, odd spellings.
    for args in [
        json!({"to": "a@evil.com, b@example.com", "subject": "s", "body": "b"}),
        json!({"to": "\"b@example.com\" <a@evil.com>", "subject": "s", "body": "b"}),
        json!({"to": ["b@example.com", "a@evil.com"], "subject": "s", "body": "b"}),
        json!({"to": "b@example.com", "bcc": "a@evil.com", "subject": "s", "body": "b"}),
        json!({"to": "b@example.com", "cc": ["a@evil.com"], "subject": "s", "body": "b"}),
        json!({"to": "b@example.com.evil.com", "subject": "s", "body": "b"}),
        json!({"to": "b@evil-example.com", "subject": "s", "body": "b"}),
        json!({"to": "b@example.com\r\nBcc: a@evil.com", "subject": "s", "body": "b"}),
        json!({"to": "", "subject": "s", "body": "b"}),
        json!({"to": [], "subject": "s", "body": "b"}),
        json!({"to": null, "subject": "s", "body": "b"}),
    ] {
        assert_ne!(e("email.send", args.clone()).0, Effect::Allow, "{args}");
    }
    let many: Vec<String> = (0..101).map(|i| format!("u{i}@example.com")).collect();
    assert_eq!(
        e(
            "email.send",
            json!({"to": many.join(", "), "subject": "s", "body": "b"})
        ),
        (Effect::Deny, rule("email-many"))
    );
    // Databases: production names spelled otherwise, extra arguments, destructive SQL however
    // it is written, writes through the read tool.
    for db in [
        "Prod-main",
        "prod-main",
        "PRODUCTION",
        "staging-orders ",
        "staging-orders\u{0}",
    ] {
        let d = decide(
            &p,
            "postgres.execute",
            json!({"database": db, "sql": "UPDATE t SET x = 1"}),
        );
        assert_eq!(p.rules[d.rule().unwrap()].id, "db-prod-write", "{db}");
    }
    assert_eq!(
        e(
            "postgres.execute",
            json!({"database": "staging-orders", "sql": "UPDATE t SET x = 1", "host": "prod-db"})
        )
        .1,
        rule("db-prod-write")
    );
    for sql in [
        "DROP/**/TABLE users",
        "drop table users",
        "DROP\tTABLE users",
        "SELECT 1; DROP TABLE users",
        "TRUNCATE users",
        "DROP SCHEMA public CASCADE",
        "DROP FUNCTION f",
        "not sql at all",
    ] {
        for db in ["prod-main", "staging-orders"] {
            assert_eq!(
                e("postgres.execute", json!({"database": db, "sql": sql})),
                (Effect::Deny, rule("db-destructive")),
                "{sql} on {db}"
            );
        }
        assert_eq!(
            e(
                "postgres.query",
                json!({"database": "prod-main", "sql": sql})
            )
            .0,
            Effect::Deny,
            "{sql}"
        );
    }
    for sql in [
        "DELETE FROM users",
        "WITH d AS (DELETE FROM users RETURNING *) SELECT * FROM d",
        "EXPLAIN ANALYZE DELETE FROM users",
        "SELECT * INTO stolen FROM users",
        "UPDATE users SET admin = true",
    ] {
        assert_ne!(
            e(
                "postgres.query",
                json!({"database": "prod-main", "sql": sql})
            )
            .0,
            Effect::Allow,
            "{sql}"
        );
    }
    // Deploys: production spelled otherwise, a list, extra arguments.
    for env in [
        json!("Production"),
        json!("prod "),
        json!(["staging", "production"]),
        json!(null),
        json!(1),
    ] {
        let args = json!({"service": "checkout", "environment": env, "build": 1});
        assert_eq!(
            e("deploy.release", args).1,
            rule("deploy-production"),
            "{env}"
        );
        let args = json!({"service": "checkout", "environment": env, "to": "b"});
        assert_eq!(
            e("deploy.rollback", args).1,
            rule("deploy-production"),
            "{env}"
        );
    }
    let args = json!({"service": "checkout", "environment": "staging", "build": 1, "target": "production"});
    assert_eq!(e("deploy.release", args).1, rule("deploy-production"));
}

#[test]
fn every_example_condition_is_checked() {
    // The example policies in the docs parse too (each block on its own).
    let root = env!("CARGO_MANIFEST_DIR");
    for doc in ["README.md", "docs/ADAPTERS.md"] {
        let text = std::fs::read_to_string(format!("{root}/{doc}")).unwrap();
        let mut blocks = 0;
        for block in text.split("```toml").skip(1) {
            let block = block.split("```").next().unwrap_or("");
            if !block.contains("[[rule]]") {
                continue;
            }
            blocks += 1;
            let roster = Roster::parse(&SourceFile::new("roster.toml", docs_roster())).unwrap();
            if let Err(e) = Policy::parse(&SourceFile::new(doc, block), &roster) {
                panic!("{doc}: {e}");
            }
        }
        assert!(blocks > 0, "{doc} has policy examples");
    }
}

/// A roster with every group the docs' examples name.
fn docs_roster() -> String {
    let mut s = String::new();
    for id in ["p1", "p2"] {
        let key = crate::protocol::PersonKey::generate(id).public();
        s += &format!(
            "[[person]]\nid = \"{id}\"\nkey = \"{key}\"\nroles = [\"approver\"]\ngroups = [\"finance\", \"dev-leads\", \"ops\", \"comms\"]\n"
        );
    }
    s
}

#[test]
fn glob_patterns_in_policy_are_dotted() {
    let p = parse(
        "[[rule]]\nid = \"svc\"\ntools = [\"stripe.**\"]\neffect = \"deny\"\nreason = \"r\"\n\
         [[rule]]\nid = \"one\"\ntools = [\"*.get\"]\neffect = \"allow\"\nreason = \"r\"\n",
    )
    .unwrap();
    assert_eq!(eval(&p, "stripe.refund.get", json!({})).1, rule("svc"));
    assert_eq!(eval(&p, "orders.get", json!({})).1, rule("one"));
    assert_eq!(eval(&p, "a.b.get", json!({})).1, None);
    let e = parse("[[rule]]\nid = \"r\"\ntools = [\"a**\"]\neffect = \"deny\"\nreason = \"r\"\n")
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.starts_with("policy.toml:3:10: rule \"r\": bad tool pattern"),
        "{e}"
    );
}

#[test]
fn documented_claude_code_rules_are_not_escapable() {
    let root = env!("CARGO_MANIFEST_DIR");
    let text = std::fs::read_to_string(format!("{root}/docs/ADAPTERS.md")).unwrap();
    let rules: String = text
        .split("```toml")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .filter(|b| b.contains("[[rule]]"))
        .collect::<Vec<_>>()
        .join("\n");
    let roster = Roster::parse(&SourceFile::new("roster.toml", docs_roster())).unwrap();
    let p = Policy::parse(&SourceFile::new("ADAPTERS.md", rules), &roster).unwrap();
    let cwd = json!({"cwd": "/home/dev/shop"});
    let edit = |path: &str| {
        decide_in(
            &p,
            "Edit",
            json!({"file_path": path, "old_string": "a", "new_string": "b"}),
            cwd.clone(),
        )
        .effect()
    };
    assert_eq!(edit("/home/dev/shop/src/cart.ts"), Effect::Allow);
    // A relative path is taken from each directory it is checked against: inside `.git` too,
    // so this rule refuses it (Claude Code sends absolute paths).
    assert_ne!(edit("src/cart.ts"), Effect::Allow);
    for path in [
        "/home/dev/shop/../shop2/x",
        "/home/dev/shop2/x",
        "/home/dev/shop/src/../../.bashrc",
        "../../.ssh/authorized_keys",
        "/home/dev/shop/.claude/settings.json",
        "/home/dev/shop/./.git/hooks/pre-commit",
        "/home/dev/shop//.git//config",
        "/home/dev/shop/x\u{0}",
        "",
    ] {
        assert_ne!(edit(path), Effect::Allow, "{path:?}");
    }
    let read = |path: &str| decide_in(&p, "Read", json!({"file_path": path}), cwd.clone()).effect();
    assert_eq!(read("/home/dev/shop/README.md"), Effect::Allow);
    assert_ne!(read("/home/dev/.ssh/id_ed25519"), Effect::Allow);
    assert_ne!(read("/home/dev/shop/../.ssh/id_ed25519"), Effect::Allow);
    let bash = |cmd: &str| {
        let d = decide_in(&p, "Bash", json!({"command": cmd}), cwd.clone());
        (d.effect(), d.rule().map(|i| p.rules[i].id.clone()))
    };
    for cmd in [
        "rm -rf node_modules dist && npm ci",
        "rm -fr /",
        "rm -r -f build",
        "rm -f -r build",
        "/bin/rm -Rf build",
        "rm --recursive build",
        "cd x; rm -rf .",
    ] {
        assert_eq!(bash(cmd), (Effect::Deny, rule("cc-rm")), "{cmd}");
    }
    assert_eq!(bash("ls -la").1, rule("cc-bash"));
    assert_eq!(bash("rm -i notes.txt").1, rule("cc-bash"));
}

#[test]
fn the_demo_agents_calls_decide_as_the_demo_expects() {
    let p = example();
    let e = |tool: &str, args: Value| eval(&p, tool, args).1;
    assert_eq!(
        e(
            "postgres.query",
            json!({"database": "prod-orders", "sql": "SELECT id, status FROM orders WHERE updated_at > now() - interval '1 hour'"})
        ),
        rule("db-read")
    );
    assert_eq!(
        e(
            "postgres.execute",
            json!({"database": "prod-orders", "sql": "UPDATE orders SET status = 'refunded' WHERE id IN (4417, 4418) AND status = 'paid'"})
        ),
        rule("db-prod-write")
    );
    assert_eq!(
        e(
            "deploy.release",
            json!({"service": "checkout", "environment": "production", "build": 4802, "canary": "10%"})
        ),
        rule("deploy-production")
    );
    assert_eq!(
        e("email.read", json!({"folder": "inbox", "unread": true})),
        rule("reads")
    );
    assert_eq!(
        e(
            "stripe.refund",
            json!({"amount": 1890.0, "order": "o-1", "currency": "usd", "reason": "refund for your own account request"})
        ),
        rule("refund-large")
    );
}
