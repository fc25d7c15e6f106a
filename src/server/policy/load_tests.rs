//! What a policy file is refused for at start: conditions that are not boolean, unknown
//! functions, bad timeouts, and how globs are read.

use super::tests::*;
use super::*;
use serde_json::json;

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
fn extend_is_a_positive_duration_on_review_rules_only() {
    let review = |extend: &str| {
        format!(
            "[[rule]]\nid = \"r\"\neffect = \"review\"\nreason = \"r\"\napprovers = \"finance\"\n\
             timeout = \"10m\"\nextend = \"{extend}\"\n"
        )
    };
    let p = parse(&review("30m")).unwrap();
    match &p.rules[0].effect {
        RuleEffect::Review(spec) => assert_eq!(spec.extend, Some(Duration::from_secs(1800))),
        other => panic!("{other:?}"),
    }
    let p = parse(&review("30m").replace("extend = \"30m\"\n", "")).unwrap();
    assert!(matches!(&p.rules[0].effect, RuleEffect::Review(s) if s.extend.is_none()));
    for (bad, what) in [
        ("0s", "at least"),
        ("soon", "not a duration"),
        ("-5m", "not a duration"),
    ] {
        let e = parse(&review(bad)).err().expect("refused").to_string();
        assert!(
            e.starts_with("policy.toml:7:") && e.contains("extend") && e.contains(what),
            "{bad}: {e}"
        );
    }
    let e = parse("[[rule]]\nid = \"r\"\neffect = \"allow\"\nreason = \"r\"\nextend = \"5m\"\n")
        .err()
        .expect("refused")
        .to_string();
    assert!(
        e.starts_with("policy.toml:5:") && e.contains("`extend` only applies"),
        "{e}"
    );
}
