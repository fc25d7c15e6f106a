//! `GET /metrics` scraped from a real server after real traffic, and read back with an
//! independent parser of both exposition formats (`openmetrics-parser`, which checks the
//! OpenMetrics grammar: `# EOF`, `_total` on counters, cumulative buckets ending at `+Inf`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use gavel::client::Client;
use gavel::protocol::{EscalationState, Verdict, Vote};
use openmetrics_parser::openmetrics::parse_openmetrics;
use openmetrics_parser::prometheus::parse_prometheus;
use openmetrics_parser::{
    HistogramValue, MetricsExposition, OpenMetricsType, OpenMetricsValue, PrometheusType,
};
use serde_json::json;

use crate::common::{Env, POLICY};

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
/// What Prometheus sends when it scrapes.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0;q=0.5,\
    application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

/// One OpenMetrics scrape, parsed.
struct Scrape(MetricsExposition<OpenMetricsType, OpenMetricsValue>);

impl Scrape {
    async fn of(env: &Env) -> Scrape {
        let text = scrape(env, Some(PROMETHEUS_ACCEPT), OPENMETRICS).await;
        every_family_has_help_and_type(&text);
        let parsed = parse_openmetrics(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        Scrape(parsed)
    }

    fn value(&self, family: &str, labels: &[&str]) -> OpenMetricsValue {
        let labels: Vec<String> = labels.iter().map(|l| l.to_string()).collect();
        let f = self
            .0
            .families
            .get(family)
            .unwrap_or_else(|| panic!("no family {family}: {:?}", self.0.families.keys()));
        f.get_sample_by_label_values(&labels)
            .unwrap_or_else(|| panic!("no {family}{labels:?}"))
            .value
            .clone()
    }

    fn counter(&self, family: &str, labels: &[&str]) -> f64 {
        match self.value(family, labels) {
            OpenMetricsValue::Counter(c) => c.value.as_f64(),
            other => panic!("{family} is not a counter: {other:?}"),
        }
    }

    fn gauge(&self, family: &str) -> f64 {
        match self.value(family, &[]) {
            OpenMetricsValue::Gauge(g) => g.as_f64(),
            other => panic!("{family} is not a gauge: {other:?}"),
        }
    }

    fn histogram(&self, family: &str) -> HistogramValue {
        match self.value(family, &[]) {
            OpenMetricsValue::Histogram(h) => h,
            other => panic!("{family} is not a histogram: {other:?}"),
        }
    }
}

/// The body of a scrape that sent `accept`, after checking its content type.
async fn scrape(env: &Env, accept: Option<&str>, content_type: &str) -> String {
    let mut req = reqwest::Client::new().get(format!("{}/metrics", env.url()));
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], content_type);
    resp.text().await.unwrap()
}

/// Every `# TYPE` has its `# HELP` (not blank) and every sample belongs to a family that has both.
fn every_family_has_help_and_type(text: &str) {
    let mut help = BTreeSet::new();
    let mut typed = BTreeMap::new();
    for line in text.lines() {
        let mut words = line.splitn(4, ' ');
        match (words.next(), words.next(), words.next(), words.next()) {
            (Some("#"), Some("HELP"), Some(name), Some(h)) if !h.trim().is_empty() => {
                help.insert(name.to_string());
            }
            (Some("#"), Some("TYPE"), Some(name), Some(t)) => {
                typed.insert(name.to_string(), t.to_string());
            }
            _ => {}
        }
    }
    assert_eq!(
        help,
        typed.keys().cloned().collect(),
        "HELP and TYPE\n{text}"
    );
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let series = line.split([' ', '{']).next().unwrap();
        let family = typed.keys().find(|f| {
            series == f.as_str()
                || ["_total", "_bucket", "_sum", "_count", "_created"]
                    .iter()
                    .any(|s| series.strip_prefix(f.as_str()) == Some(s))
        });
        assert!(family.is_some(), "{series} has no HELP and TYPE\n{text}");
    }
    for name in typed.keys() {
        assert!(name.starts_with("gavel_"), "{name}");
    }
}

#[tokio::test]
async fn metrics_count_the_calls_decisions_and_queue_a_scrape_parses() {
    let env = Env::start(POLICY).await;
    let empty = Scrape::of(&env).await;
    assert_eq!(empty.gauge("gavel_escalations_pending"), 0.0);
    assert_eq!(
        empty.gauge("gavel_escalation_oldest_pending_age_seconds"),
        0.0
    );
    assert_eq!(empty.counter("gavel_actions", &["allow"]), 0.0);

    // Two allowed, one flagged, one denied, two escalated; the first escalation approved.
    for id in ["o-1", "o-2"] {
        let out = env
            .act("refund-bot", "orders.get", json!({"id": id}), "s")
            .await;
        assert_eq!(out.verdict, Verdict::Allow);
    }
    env.act("refund-bot", "stripe.refund", json!({"amount": 500.0}), "s")
        .await;
    env.act("refund-bot", "shell.exec", json!({"cmd": "ls"}), "s")
        .await;
    let approved = env.refund_review(2000.0).await;
    let waiting_since = Instant::now();
    let pending = env.refund_review(3000.0).await;
    let ack = env
        .client
        .decide(&Client::sign_decision(
            env.key("carol"),
            &approved,
            Vote::Approve,
            "",
        ))
        .await
        .unwrap();
    assert_eq!(ack.escalation.state, EscalationState::Approved);
    // A refusal, and a kill switch that covers neither escalation.
    let refused = reqwest::get(format!("{}/v1/killswitches", env.url()))
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    env.client
        .flip(env.key("alice"), "tool:deploy.release", true, "freeze")
        .await
        .unwrap();

    let m = Scrape::of(&env).await;
    let effects = ["allow", "flag", "review", "deny"].map(|e| m.counter("gavel_actions", &[e]));
    assert_eq!(effects, [2.0, 1.0, 2.0, 1.0]);
    let enforcement = m.histogram("gavel_enforcement_duration_seconds");
    assert_eq!(enforcement.count, Some(6));
    let last = enforcement.buckets.last().unwrap();
    assert_eq!(
        (last.upper_bound, last.count.as_f64()),
        (f64::INFINITY, 6.0)
    );
    assert!(
        enforcement.buckets.len() > 10,
        "sub-ms to s: {enforcement:?}"
    );

    assert_eq!(m.counter("gavel_decisions", &[]), 1.0);
    assert_eq!(m.counter("gavel_escalations_resolved", &["approved"]), 1.0);
    for other in ["denied", "expired", "cancelled"] {
        assert_eq!(m.counter("gavel_escalations_resolved", &[other]), 0.0);
    }
    let decide = m.histogram("gavel_escalation_time_to_decide_seconds");
    assert_eq!(decide.count, Some(1));
    assert!(decide.sum.unwrap().as_f64() > 0.0, "{decide:?}");

    // The other escalation waits: counted, and its age is how long it has waited.
    assert_eq!(m.gauge("gavel_escalations_pending"), 1.0);
    let age = m.gauge("gavel_escalation_oldest_pending_age_seconds");
    assert!(
        age > 0.0 && age <= waiting_since.elapsed().as_secs_f64() + 0.01,
        "{age}"
    );
    assert_eq!(pending.state, EscalationState::Pending);

    assert_eq!(m.counter("gavel_refused", &["unauthorized"]), 1.0);
    assert_eq!(m.gauge("gavel_killswitches_on"), 1.0);
    assert_eq!(m.gauge("gavel_http_requests_in_flight"), 1.0, "this scrape");
    let (commits, ops) = (
        m.counter("gavel_store_commits", &[]),
        m.counter("gavel_store_ops", &[]),
    );
    assert!(commits >= 1.0 && ops >= commits, "{commits} {ops}");
}

#[tokio::test]
async fn without_openmetrics_in_accept_the_prometheus_text_format_has_the_same_families() {
    let env = Env::start(POLICY).await;
    env.act("refund-bot", "orders.get", json!({"id": "o-1"}), "s")
        .await;
    let om = Scrape::of(&env).await;
    for accept in [None, Some("text/plain"), Some("*/*")] {
        let text = scrape(&env, accept, PROMETHEUS_TEXT).await;
        assert!(!text.contains("# EOF"), "{text}");
        every_family_has_help_and_type(&text);
        let parsed = parse_prometheus(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        for (name, family) in &om.0.families {
            // Prometheus text names a counter's family with its `_total`.
            let want = match family.family_type {
                OpenMetricsType::Counter => (format!("{name}_total"), PrometheusType::Counter),
                OpenMetricsType::Gauge => (name.clone(), PrometheusType::Gauge),
                OpenMetricsType::Histogram => (name.clone(), PrometheusType::Histogram),
                other => panic!("{name}: unexpected {other:?}"),
            };
            let got = parsed
                .families
                .get(&want.0)
                .unwrap_or_else(|| panic!("{} missing\n{text}", want.0));
            assert_eq!(got.family_type, want.1, "{name}");
            assert_eq!(got.help, family.help, "{name}");
        }
        assert_eq!(parsed.families.len(), om.0.families.len(), "{text}");
    }
}

#[tokio::test]
async fn deadlines_count_hand_overs_and_expiries_and_a_kill_switch_cancellations() {
    let env = Env::start(POLICY).await;
    // deploy.hotfix: handed over after 1 s, then expires 1 s later.
    env.act("deployer", "deploy.hotfix", json!({}), "s").await;
    let cancelled = env
        .act(
            "refund-bot",
            "stripe.refund",
            json!({"amount": 2000.0}),
            "s",
        )
        .await;
    env.client
        .flip(env.key("alice"), "agent:refund-bot", true, "runaway")
        .await
        .unwrap();
    assert_eq!(
        env.poll("refund-bot", &cancelled.id).await.unwrap().verdict,
        Verdict::Deny
    );

    let until = Instant::now() + Duration::from_secs(10);
    let m = loop {
        let m = Scrape::of(&env).await;
        if m.counter("gavel_escalations_resolved", &["expired"]) == 1.0 {
            break m;
        }
        assert!(Instant::now() < until, "no expiry within 10 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(m.counter("gavel_escalations_handed_over", &[]), 1.0);
    assert_eq!(m.counter("gavel_escalations_resolved", &["cancelled"]), 1.0);
    assert_eq!(m.gauge("gavel_escalations_pending"), 0.0);
    // Nobody decided: no time to decide was observed.
    let decide = m.histogram("gavel_escalation_time_to_decide_seconds");
    assert_eq!(decide.count, Some(0));
}

#[tokio::test]
async fn open_breakers_are_a_gauge_per_breaker_a_scrape_parses() {
    let policy = format!(
        "{POLICY}\n[[breaker]]\nid = \"shells\"\nagents = [\"deployer\"]\nwindow = \"10m\"\n\
         max_denied_share = 0.5\nmin_calls = 2\ncooldown = \"1h\"\n\
         [[breaker]]\nid = \"fatigue\"\nwindow = \"10m\"\nmax_escalations = 5\ncooldown = \"1h\"\n"
    );
    let env = Env::start(&policy).await;
    let open = |s: &Scrape, breaker: &str| match s.value("gavel_breakers_open", &[breaker]) {
        OpenMetricsValue::Gauge(g) => g.as_f64(),
        other => panic!("not a gauge: {other:?}"),
    };
    let before = Scrape::of(&env).await;
    assert_eq!(
        (open(&before, "shells"), open(&before, "fatigue")),
        (0.0, 0.0)
    );
    for _ in 0..2 {
        let out = env.act("deployer", "shell.exec", json!({}), "s").await;
        assert_eq!(out.verdict, Verdict::Deny);
    }
    let after = Scrape::of(&env).await;
    assert_eq!(
        (open(&after, "shells"), open(&after, "fatigue")),
        (1.0, 0.0)
    );
    let text = scrape(&env, None, PROMETHEUS_TEXT).await;
    parse_prometheus(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
}
