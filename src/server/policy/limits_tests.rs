//! What a `[[limit]]` table is refused for at start, each with the file:line of the mistake.

use super::*;
use crate::server::policy::tests::parse;

const GOOD: &str = "[[limit]]\nid = \"l\"\nagents = [\"refund-bot\"]\ntools = [\"stripe.*\"]\nwindow = \"1h\"\nmax_calls = 10\n";

fn refused(text: &str, line: usize, needle: &str) {
    let e = parse(text)
        .err()
        .unwrap_or_else(|| panic!("accepted:\n{text}"));
    let s = e.to_string();
    assert!(
        s.starts_with(&format!("policy.toml:{line}:")) && s.contains(needle),
        "wanted line {line} and {needle:?}, got: {s}\n{text}"
    );
}

#[test]
fn a_good_limit_loads_with_its_defaults() {
    let p = parse(GOOD).unwrap();
    let l = &p.limits[0];
    assert_eq!(l.id, "l");
    assert_eq!(l.per, LimitScope::Agent);
    assert_eq!(l.window, Duration::from_secs(3600));
    assert_eq!(l.max_calls, Some(10));
    assert_eq!(l.on_exceed, OnExceed::Deny);
    assert!(l.rule.is_none());
    assert!(l.covers("refund-bot", "stripe.refund"));
    assert!(!l.covers("mailer", "stripe.refund"));
    assert!(!l.covers("refund-bot", "email.send"));
}

#[test]
fn a_review_limit_gets_a_rule_for_its_budget_escalation() {
    let p = parse(
        "[[limit]]\nid = \"s\"\nper = \"session\"\nwindow = \"1d\"\nmax_cost = 50.0\non_exceed = \"review\"\ngrace_cost = 20.0\napprovers = \"finance\"\n",
    )
    .unwrap();
    let l = &p.limits[0];
    assert_eq!(l.per, LimitScope::Session);
    let spec = l.review_spec().unwrap();
    assert_eq!(spec.group, "finance");
    assert_eq!(spec.approvals, 1);
    assert_eq!(spec.timeout, Duration::from_secs(900), "default 15m");
    assert_eq!(l.rule.as_ref().unwrap().id, "s");
    assert_eq!(
        l.on_exceed,
        OnExceed::Review {
            grace_calls: 0,
            grace_cost: 20.0
        }
    );
}

#[test]
fn bad_limits_are_refused_with_file_and_line() {
    let head = "[[limit]]\nid = \"l\"\n";
    let cases: &[(&str, usize, &str)] = &[
        ("agents = [\"ghost\"]\nwindow = \"1h\"\nmax_calls = 1\n", 3, "unknown agent"),
        ("window = \"0s\"\nmax_calls = 1\n", 3, "window"),
        ("window = \"-1h\"\nmax_calls = 1\n", 3, "window"),
        ("window = \"\"\nmax_calls = 1\n", 3, "window"),
        ("window = \"1500ms\"\nmax_calls = 1\n", 3, "whole number of seconds"),
        ("window = \"400d\"\nmax_calls = 1\n", 3, "window"),
        ("window = \"1h\"\n", 2, "max_calls"),
        ("window = \"1h\"\nmax_calls = 0\n", 4, "at least 1"),
        ("window = \"1h\"\nmax_calls = -5\n", 4, "at least 1"),
        ("window = \"1h\"\nmax_cost = -1.0\n", 4, "positive"),
        ("window = \"1h\"\nmax_cost = nan\n", 4, "positive"),
        ("window = \"1h\"\nmax_cost = inf\n", 4, "positive"),
        ("window = \"1h\"\nmax_cost = 0.0\n", 4, "positive"),
        ("window = \"1h\"\nmax_calls = 1\nwarn_at = 0.0\n", 5, "warn_at"),
        ("window = \"1h\"\nmax_calls = 1\nwarn_at = 1.5\n", 5, "warn_at"),
        ("window = \"1h\"\nmax_calls = 1\nwarn_at = -0.2\n", 5, "warn_at"),
        ("window = \"1h\"\nmax_calls = 1\nwarn_at = nan\n", 5, "warn_at"),
        ("window = \"1h\"\nmax_calls = 1\ngrace_calls = 5\n", 5, "only applies"),
        (
            "window = \"1h\"\nmax_calls = 1\non_exceed = \"deny\"\ngrace_cost = 5.0\n",
            6,
            "only applies",
        ),
        (
            "window = \"1h\"\nmax_calls = 1\non_exceed = \"review\"\ngrace_calls = 5\n",
            2,
            "approvers",
        ),
        (
            "window = \"1h\"\nmax_calls = 1\non_exceed = \"review\"\napprovers = \"finance\"\n",
            2,
            "grace_calls",
        ),
        (
            "window = \"1h\"\nmax_calls = 1\non_exceed = \"review\"\ngrace_calls = 1\napprovers = \"nobody\"\n",
            7,
            "unknown group",
        ),
        (
            "window = \"1h\"\nmax_calls = 1\non_exceed = \"review\"\ngrace_calls = 1\napprovers = \"finance\"\ntimeout = \"0s\"\n",
            8,
            "timeout",
        ),
        (
            "window = \"1h\"\nmax_calls = 1\non_exceed = \"review\"\ngrace_calls = -1\napprovers = \"finance\"\n",
            6,
            "negative",
        ),
        ("window = \"1h\"\nmax_calls = 1\nper = \"team\"\n", 5, "unknown variant"),
        ("window = \"1h\"\nmax_calls = 1\non_exceed = \"ask\"\n", 5, "unknown variant"),
        ("window = \"1h\"\nmax_calls = 1\nmax_call = 1\n", 5, "unknown field"),
        ("window = \"1h\"\nmax_calls = 1\ntools = [\"\"]\n", 5, "tool pattern"),
    ];
    for (tail, line, needle) in cases {
        refused(&format!("{head}{tail}"), *line, needle);
    }
    refused(&format!("{GOOD}{GOOD}"), 8, "duplicate limit id");
    refused(
        "[[limit]]\nid = \"\"\nwindow = \"1h\"\nmax_calls = 1\n",
        2,
        "empty",
    );
}

#[test]
fn conditions_see_now_as_a_timestamp_and_usage_by_limit_id() {
    use crate::server::policy::{condition, condition::Condition, EvalInput};
    use chrono::TimeZone;
    let usage = serde_json::json!({"spend": {"calls": 3, "cost": 20.5, "share": 0.41}});
    let at = chrono::Utc
        .with_ymd_and_hms(2026, 12, 7, 10, 30, 0)
        .unwrap(); // a Monday
    let eval = |text: &str, usage: Option<&serde_json::Value>| {
        let c = Condition::compile(text).unwrap_or_else(|e| panic!("{text}: {e:?}"));
        let args = serde_json::json!({});
        let input = EvalInput {
            agent: "a",
            tool: "t",
            args: &args,
            session: "s",
            context: &args,
            on_behalf_of: None,
            cost: None,
            rationale: None,
            now: Some(at),
            usage,
        };
        condition::with_root(|root| c.eval(&condition::context(root, &input, c.uses())))
    };
    assert_eq!(
        eval("now.getHours() >= 9 && now.getHours() < 17", None),
        Ok(true)
    );
    assert_eq!(eval("now.getDayOfWeek() == 1", None), Ok(true));
    assert_eq!(eval("now.getHours('Europe/Berlin') == 11", None), Ok(true));
    assert_eq!(
        eval("now > timestamp('2026-01-01T00:00:00Z')", None),
        Ok(true)
    );
    assert_eq!(
        eval(
            "usage.spend.cost >= 20.0 && usage['spend'].calls == 3",
            Some(&usage)
        ),
        Ok(true)
    );
    assert_eq!(eval("'other' in usage", Some(&usage)), Ok(false));
    assert!(
        eval("usage.other.cost > 1.0", Some(&usage)).is_err(),
        "a limit not in the map fails"
    );
    assert!(
        eval("usage.spend.cost > 1.0", None).is_err(),
        "no usage: fails, never guesses"
    );
    // At start, `now` or `usage` alone is not a condition.
    assert!(
        parse("[[rule]]\nid = \"r\"\nwhen = \"now\"\neffect = \"deny\"\nreason = \"r\"\n").is_err()
    );
    assert!(
        parse("[[rule]]\nid = \"r\"\nwhen = \"usage\"\neffect = \"deny\"\nreason = \"r\"\n")
            .is_err()
    );
}
