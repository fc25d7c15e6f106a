//! `[[breaker]]` and `[anomaly]` as read at start: what is accepted, and every mistake refused
//! with its file:line.

use crate::server::policy::tests::parse;
use std::time::Duration;

const RULE: &str = "[[rule]]\nid = \"r\"\neffect = \"allow\"\nreason = \"r\"\n";

fn breaker(body: &str) -> String {
    format!("{RULE}[[breaker]]\nid = \"b\"\n{body}\n")
}

#[test]
fn a_breaker_as_designed_is_read() {
    let p = parse(&breaker(
        "agents = [\"refund-*\"]\nwindow = \"10m\"\nmax_escalations = 5\n\
         max_denied_share = 0.5\nmin_calls = 20\ncooldown = \"15m\"",
    ))
    .unwrap();
    let b = &p.breakers[0];
    assert_eq!(b.id, "b");
    assert_eq!(b.window, Duration::from_secs(600));
    assert_eq!(b.cooldown, Duration::from_secs(900));
    assert_eq!(b.max_escalations, Some(5));
    assert_eq!(b.max_denied_share, Some(0.5));
    assert_eq!(b.min_calls, 20);
    assert!(b.covers("refund-bot"));
    assert!(!b.covers("mailer"));
    // Agents default to every agent, min_calls to 10.
    let p = parse(&breaker(
        "window = \"1m\"\nmax_denied_share = 1.0\ncooldown = \"1s\"",
    ))
    .unwrap();
    assert!(p.breakers[0].covers("mailer"));
    assert_eq!(p.breakers[0].min_calls, super::DEFAULT_MIN_CALLS);
    assert!(parse(RULE).unwrap().breakers.is_empty());
}

#[test]
fn bad_breakers_are_refused_with_their_line() {
    let base = "window = \"10m\"\ncooldown = \"15m\"\n";
    for (body, line, says) in [
        (
            format!("{base}max_escalations = 5\nagents = [\"nobody-*\"]"),
            10,
            "unknown agent",
        ),
        (
            format!("{base}max_escalations = 5\nagents = []"),
            10,
            "names no agent",
        ),
        (base.to_string(), 6, "needs a trigger"),
        (format!("{base}max_escalations = 0"), 9, "max_escalations"),
        (format!("{base}max_escalations = -3"), 9, "max_escalations"),
        (
            format!("{base}max_escalations = 5000000000"),
            9,
            "max_escalations",
        ),
        (
            format!("{base}max_denied_share = 0.0"),
            9,
            "max_denied_share",
        ),
        (
            format!("{base}max_denied_share = 1.5"),
            9,
            "max_denied_share",
        ),
        (
            format!("{base}max_denied_share = -0.5"),
            9,
            "max_denied_share",
        ),
        (
            format!("{base}max_denied_share = nan"),
            9,
            "max_denied_share",
        ),
        (
            format!("{base}max_denied_share = inf"),
            9,
            "max_denied_share",
        ),
        (
            format!("{base}max_escalations = 5\nmin_calls = 3"),
            10,
            "only applies with max_denied_share",
        ),
        (
            format!("{base}max_denied_share = 0.5\nmin_calls = 0"),
            10,
            "min_calls",
        ),
        (
            "window = \"0s\"\ncooldown = \"1m\"\nmax_escalations = 1".to_string(),
            7,
            "window",
        ),
        (
            "window = \"-5m\"\ncooldown = \"1m\"\nmax_escalations = 1".to_string(),
            7,
            "window",
        ),
        (
            "window = \"5m\"\ncooldown = \"500ms\"\nmax_escalations = 1".to_string(),
            8,
            "cooldown",
        ),
        (
            "window = \"31d\"\ncooldown = \"1m\"\nmax_escalations = 1".to_string(),
            7,
            "window",
        ),
        (
            format!("{base}max_escalations = 1\nthreshold = 3"),
            10,
            "threshold",
        ),
    ] {
        let e = parse(&breaker(&body))
            .err()
            .unwrap_or_else(|| panic!("accepted: {body}"))
            .to_string();
        assert!(
            e.starts_with(&format!("policy.toml:{line}:")) && e.contains(says),
            "{body}: {e}"
        );
    }
    // A window missing altogether is a deserialisation error naming the table.
    assert!(parse(&breaker("cooldown = \"1m\"\nmax_escalations = 1")).is_err());
    let dup = format!(
        "{}[[breaker]]\nid = \"b\"\nwindow = \"1m\"\ncooldown = \"1m\"\nmax_escalations = 1\n",
        breaker("window = \"1m\"\ncooldown = \"1m\"\nmax_escalations = 1")
    );
    let e = parse(&dup).err().unwrap().to_string();
    assert!(
        e.starts_with("policy.toml:11:") && e.contains("duplicate"),
        "{e}"
    );
}

#[test]
fn anomaly_is_off_by_default_and_read_when_written() {
    let p = parse(RULE).unwrap();
    assert!(!p.anomaly.enabled());
    let p = parse(&format!("{RULE}[anomaly]\nnew_tool = true\n")).unwrap();
    assert!(p.anomaly.new_tool && p.anomaly.rate.is_none());
    assert!(p.anomaly.covers("mailer"));
    let p = parse(&format!(
        "{RULE}[anomaly]\nagents = [\"mailer\"]\nrate_factor = 5.0\nrate_window = \"1m\"\n\
         baseline = \"2h\"\nmin_calls = 4\n"
    ))
    .unwrap();
    let rate = p.anomaly.rate.as_ref().unwrap();
    assert_eq!(
        (rate.factor, rate.window, rate.baseline, rate.min_calls),
        (5.0, Duration::from_secs(60), Duration::from_secs(7200), 4)
    );
    assert!(!p.anomaly.covers("refund-bot") && p.anomaly.covers("mailer"));
    let p = parse(&format!("{RULE}[anomaly]\nrate_factor = 3.0\n")).unwrap();
    let rate = p.anomaly.rate.as_ref().unwrap();
    assert_eq!(
        (rate.window, rate.baseline),
        (Duration::from_secs(300), Duration::from_secs(3600))
    );
}

#[test]
fn bad_anomaly_tables_are_refused_with_their_line() {
    for (body, line, says) in [
        ("rate_factor = 1.0", 6, "rate_factor"),
        ("rate_factor = 0.5", 6, "rate_factor"),
        ("rate_factor = nan", 6, "rate_factor"),
        ("rate_factor = inf", 6, "rate_factor"),
        ("rate_window = \"5m\"", 6, "only applies with rate_factor"),
        ("baseline = \"1h\"", 6, "only applies with rate_factor"),
        ("rate_factor = 2.0\nrate_window = \"0s\"", 7, "rate_window"),
        (
            "rate_factor = 2.0\nrate_window = \"1h\"\nbaseline = \"5m\"",
            8,
            "at least as long",
        ),
        ("rate_factor = 2.0\nmin_calls = 0", 7, "min_calls"),
        ("new_tool = true\nagents = [\"ghost\"]", 7, "unknown agent"),
        ("new_tool = \"yes\"", 6, "new_tool"),
        ("factor = 2.0", 6, "factor"),
    ] {
        let e = parse(&format!("{RULE}[anomaly]\n{body}\n"))
            .err()
            .unwrap_or_else(|| panic!("accepted: {body}"))
            .to_string();
        assert!(
            e.starts_with(&format!("policy.toml:{line}:")) && e.contains(says),
            "{body}: {e}"
        );
    }
}
