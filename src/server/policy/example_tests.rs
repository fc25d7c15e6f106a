//! The example policies (assets/, README, docs/) decide as documented and are not escapable.

use super::tests::*;
use super::*;
use serde_json::json;

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
fn every_example_policy_in_the_docs_loads_against_the_example_roster() {
    // What a new user does: copy a documented rule into their policy, beside the shipped roster.
    // Each block must load as it is (its conditions checked, its groups present).
    let root = env!("CARGO_MANIFEST_DIR");
    let roster = Roster::load(std::path::Path::new(&format!("{root}/assets/roster.toml"))).unwrap();
    for doc in ["README.md", "docs/ADAPTERS.md"] {
        let text = std::fs::read_to_string(format!("{root}/{doc}")).unwrap();
        let mut blocks = 0;
        for block in text.split("```toml").skip(1) {
            let block = block.split("```").next().unwrap_or("");
            if !["[[rule]]", "[[breaker]]", "[anomaly]"]
                .iter()
                .any(|t| block.contains(t))
            {
                continue;
            }
            blocks += 1;
            if let Err(e) = Policy::parse(&SourceFile::new(doc, block), &roster) {
                panic!("{doc}: {e}");
            }
        }
        assert!(blocks > 0, "{doc} has policy examples");
    }
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
    let root_roster = format!("{root}/assets/roster.toml");
    let roster = Roster::load(std::path::Path::new(&root_roster)).unwrap();
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

#[test]
fn the_example_limit_is_a_per_session_refund_envelope_that_asks_finance() {
    let p = example();
    let l = p
        .limits
        .iter()
        .find(|l| l.id == "refund-session-spend")
        .expect("the refund envelope");
    assert_eq!(l.per, crate::protocol::LimitScope::Session);
    assert_eq!((l.max_cost, l.max_calls), (Some(5000.0), None));
    assert!(l.covers("refund-bot", "stripe.refund"));
    assert!(!l.covers("mailer", "stripe.refund"));
    assert_eq!(l.review_spec().map(|s| s.group.as_str()), Some("finance"));
    assert_eq!(l.grace(), Some((0, 1000.0)));
}

#[test]
fn example_policy_guards_against_approval_fatigue() {
    let p = example();
    let b = p
        .breakers
        .iter()
        .find(|b| b.id == "fatigue")
        .expect("the fatigue breaker");
    assert_eq!(
        (b.id.as_str(), b.max_escalations, b.max_denied_share),
        ("fatigue", Some(30), None)
    );
    assert_eq!(b.window, std::time::Duration::from_secs(600));
    assert!(b.covers("refund-bot") && b.covers("deployer"));
    assert!(!p.anomaly.enabled());
}

#[test]
fn the_example_crawler_is_enveloped_per_hour_and_stopped_when_it_keeps_asking() {
    let p = example();
    let l = p
        .limits
        .iter()
        .find(|l| l.id == "crawler-hourly-spend")
        .expect("the crawler's envelope");
    assert_eq!(l.window, std::time::Duration::from_secs(3600));
    assert_eq!((l.max_cost, l.warn_at), (Some(5.0), Some(0.6)));
    assert!(l.covers("crawler", "web.fetch") && !l.covers("refund-bot", "web.fetch"));
    assert_eq!(l.review_spec().map(|s| s.group.as_str()), Some("sre"));
    assert_eq!(l.grace(), Some((0, 2.0)));
    let b = p
        .breakers
        .iter()
        .find(|b| b.id == "crawler-fatigue")
        .expect("the crawler's breaker");
    assert_eq!(b.max_escalations, Some(2));
    assert!(b.covers("crawler") && !b.covers("refund-bot"));
    // Only the public docs are fetched without asking.
    for (url, allowed) in [
        ("https://docs.example.com/guide/page-1", true),
        ("https://docs.example.com.evil.test/x", false),
        ("http://docs.example.com/guide", false),
    ] {
        let args = json!({ "url": url });
        let d = p.evaluate(&EvalInput {
            agent: "crawler",
            tool: "web.fetch",
            args: &args,
            session: "s",
            context: &json!({}),
            on_behalf_of: None,
            cost: Some(0.25),
            rationale: None,
            now: None,
            usage: None,
        });
        assert_eq!(d.effect() == Effect::Allow, allowed, "{url}: {d:?}");
    }
}
