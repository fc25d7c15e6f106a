use super::*;
use serde_json::json;

pub(super) fn roster() -> Roster {
    let root = env!("CARGO_MANIFEST_DIR");
    Roster::load(std::path::Path::new(&format!("{root}/assets/roster.toml"))).unwrap()
}

pub(super) fn example() -> Policy {
    let root = env!("CARGO_MANIFEST_DIR");
    let src =
        SourceFile::read(std::path::Path::new(&format!("{root}/assets/policy.toml"))).unwrap();
    Policy::parse(&src, &roster()).unwrap()
}

pub(super) fn parse(text: &str) -> Result<Policy, ConfigError> {
    Policy::parse(&SourceFile::new("policy.toml", text), &roster())
}

pub(super) fn decide(p: &Policy, tool: &str, args: Value) -> Decision {
    decide_in(p, tool, args, json!({}))
}

pub(super) fn decide_in(p: &Policy, tool: &str, args: Value, context: Value) -> Decision {
    p.evaluate(&EvalInput {
        agent: "refund-bot",
        tool,
        args: &args,
        session: "s",
        context: &context,
        on_behalf_of: None,
        cost: None,
        rationale: None,
        now: None,
        usage: None,
    })
}

pub(super) fn eval(p: &Policy, tool: &str, args: Value) -> (Effect, Option<String>) {
    let d = decide(p, tool, args);
    (d.effect(), d.rule().map(|i| p.rules[i].id.clone()))
}

pub(super) fn rule(s: &str) -> Option<String> {
    Some(s.to_string())
}

pub(super) fn refund(amount: Value) -> Value {
    json!({"amount": amount, "order": "o-1", "currency": "usd", "reason": "duplicate"})
}

/// The outcome for a call, with the review requirements when it is a review.
pub(super) fn review_of(d: &Decision) -> &Review {
    match d {
        Decision::Review(r) => r,
        other => panic!("not a review: {other:?}"),
    }
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
            extend: None,
            grantable: false,
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
            now: None,
            usage: None,
        };
        condition::with_root(|root| c.eval(&condition::context(root, &input, c.uses())))
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
