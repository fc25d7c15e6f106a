//! Fixtures for the console's view tests: a live console as alice with a realistic mix, at a
//! fixed time, and helpers to drive it with keys and render it to text.
#![allow(dead_code)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::Terminal;
use serde_json::json;

use gavel::console::event::Event;
use gavel::console::state::State;
use gavel::console::update::update;
use gavel::console::views;
use gavel::protocol::*;

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 14, 9, 30, 0).unwrap()
}

pub fn at(secs: i64) -> DateTime<Utc> {
    t0() + Duration::seconds(secs)
}

pub fn me() -> PersonInfo {
    PersonInfo {
        id: "alice".into(),
        name: "Alice Ng".into(),
        roles: vec![Role::Approver, Role::Lead, Role::Operator],
        groups: vec!["finance".into(), "comms".into(), "dba".into()],
    }
}

pub fn action(id: &str, agent: &str, tool: &str, args: serde_json::Value) -> ActionRecord {
    ActionRecord {
        id: id.into(),
        agent: agent.into(),
        tool: tool.into(),
        args,
        session: "s-42".into(),
        on_behalf_of: Some("bob".into()),
        rationale: Some(
            "Customer reported a double charge on order o-17; refunding the duplicate.".into(),
        ),
        cost: None,
        parent: Some("support-triage".into()),
        context: json!({}),
        submitted_at: at(-120),
        policy_version: "p1".into(),
    }
}

pub fn escalation(id: &str, agent: &str, tool: &str, deadline_in: i64) -> Escalation {
    Escalation {
        id: id.into(),
        action: action(
            &format!("act-{id}"),
            agent,
            tool,
            json!({"amount": 1500.0, "order": "o-17", "currency": "usd"}),
        ),
        digest: "sha256:3fa2b1c9d0e14455667788990011223344556677889900aabbccddeeff001122".into(),
        rule: RuleRef {
            id: "refund-large".into(),
            effect: gavel::protocol::Effect::Review,
            reason: "Refunds above $1,000 need a finance approver".into(),
            condition: Some("args.amount > 1000.0 && args.amount <= 10000.0".into()),
            grantable: false,
        },
        history: vec![
            PriorCall {
                action: "a1".into(),
                tool: "stripe.get".into(),
                args: json!({"id": "o-17"}),
                verdict: gavel::protocol::Effect::Allow,
                at: at(-300),
                escalation: None,
                resolution: None,
            },
            PriorCall {
                action: "a2".into(),
                tool: "stripe.list".into(),
                args: json!({"customer": "cus_9", "limit": 10}),
                verdict: gavel::protocol::Effect::Allow,
                at: at(-240),
                escalation: None,
                resolution: None,
            },
            PriorCall {
                action: "a3".into(),
                tool: "stripe.refund".into(),
                args: json!({"amount": 450.0, "order": "o-16"}),
                verdict: gavel::protocol::Effect::Flag,
                at: at(-180),
                escalation: None,
                resolution: None,
            },
        ],
        agent_owner: Some("carol".into()),
        group: "finance".into(),
        approvals_required: 1,
        separate_owner: false,
        created_at: at(-120),
        deadline: at(deadline_in),
        agent_deadline: None,
        handed_over: false,
        state: EscalationState::Pending,
        resolved_at: None,
        resolution_reason: None,
        decisions: vec![],
        budget: None,
        handling: Default::default(),
        elided: vec![],
    }
}

pub fn decision(esc: &str, who: &str, vote: Vote, reason: &str, secs: i64) -> SignedDecision {
    SignedDecision {
        body: DecisionBody {
            escalation: esc.into(),
            digest: "sha256:00".into(),
            verdict: vote,
            reason: reason.into(),
            approver: who.into(),
            issued_at: at(secs).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        },
        signature: "sig".into(),
    }
}

pub fn flagged(id: &str, reviewed: Option<(&str, FlagVerdict, &str)>) -> FlaggedAction {
    FlaggedAction {
        action: ActionRecord {
            id: id.into(),
            rationale: Some("Staging deploy of build 4812 after green CI".into()),
            ..action(
                id,
                "deployer",
                "deploy.release",
                json!({"environment": "staging", "build": 4812}),
            )
        },
        rule: RuleRef {
            id: "deploy-staging".into(),
            effect: gavel::protocol::Effect::Flag,
            reason: "Staging deploys are reviewed after the fact".into(),
            condition: Some("args.environment != 'production'".into()),
            grantable: false,
        },
        flagged_at: at(-600),
        review: reviewed.map(|(who, v, note)| SignedFlagReview {
            body: FlagReviewBody {
                action: id.into(),
                review: v,
                note: note.into(),
                reviewer: who.into(),
                issued_at: at(-60).to_rfc3339(),
            },
            signature: "sig".into(),
        }),
        elided: vec![],
    }
}

pub fn summary(
    agent: &str,
    tool: &str,
    effect: gavel::protocol::Effect,
    secs: i64,
) -> ActionSummary {
    ActionSummary {
        id: format!("act-{agent}-{secs}"),
        agent: agent.into(),
        tool: tool.into(),
        session: "s-1".into(),
        effect,
        rule: None,
        reason: String::new(),
        at: at(secs),
        grant: None,
    }
}

/// A live console as alice, with a realistic mix.
pub fn live_state() -> State {
    let mut s = State::new("http://127.0.0.1:7878", "alice", t0());
    let mut yours = escalation("esc-001", "refund-bot", "stripe.refund", 45);
    yours.action.on_behalf_of = Some("bob".into());
    let mut two = escalation("esc-002", "db-agent", "postgres.execute", 240);
    two.action.args = json!({"database": "prod-orders", "sql": "UPDATE orders SET status = 'void' WHERE id = 17"});
    two.rule.id = "db-prod-write".into();
    two.group = "dba".into();
    two.approvals_required = 2;
    two.decisions = vec![decision(
        "esc-002",
        "carol",
        Vote::Approve,
        "checked the row",
        -30,
    )];
    let mut requester = escalation("esc-003", "refund-bot", "stripe.refund", 500);
    requester.action.on_behalf_of = Some("alice".into());
    let mut other_group = escalation("esc-004", "deployer", "deploy.release", 900);
    other_group.group = "release".into();
    other_group.rule.id = "deploy-production".into();
    let mut resolved = escalation("esc-000", "mailer", "email.send", -60);
    resolved.state = EscalationState::Approved;
    resolved.resolved_at = Some(at(-90));
    resolved.decisions = vec![decision("esc-000", "bob", Vote::Approve, "looks fine", -90)];
    let mut expired = escalation("esc-00x", "deployer", "deploy.release", -30);
    expired.state = EscalationState::Expired;
    expired.resolved_at = Some(at(-30));
    expired.resolution_reason = Some("deadline passed".into());
    let snapshot = Snapshot {
        escalations: vec![other_group, requester, two, yours],
        flagged: vec![
            flagged("act-f1", None),
            flagged(
                "act-f2",
                Some(("erin", FlagVerdict::Incident, "deployed during freeze")),
            ),
        ],
        killswitches: vec![KillSwitch {
            scope: "agent:mailer".into(),
            on: true,
            reason: "sending duplicates".into(),
            by: "dave".into(),
            at: at(-200),
        }],
        history: vec![resolved, expired],
        agents: vec![
            AgentInfo {
                id: "refund-bot".into(),
                owner: Some("carol".into()),
            },
            AgentInfo {
                id: "mailer".into(),
                owner: Some("bob".into()),
            },
            AgentInfo {
                id: "db-agent".into(),
                owner: Some("dave".into()),
            },
        ],
        activity: vec![
            summary(
                "refund-bot",
                "stripe.refund",
                gavel::protocol::Effect::Review,
                -10,
            ),
            summary("mailer", "email.send", gavel::protocol::Effect::Deny, -20),
            summary(
                "db-agent",
                "postgres.query",
                gavel::protocol::Effect::Allow,
                -40,
            ),
        ],
        grants: vec![],
        part: 1,
        parts: 1,
    };
    apply(
        &mut s,
        Event::Server(ServerMessage::Welcome {
            person: me(),
            server: ServerInfo {
                version: "0.1.0".into(),
                policy_version: "p1".into(),
            },
        }),
    );
    apply(
        &mut s,
        Event::Server(ServerMessage::Snapshot(Box::new(snapshot))),
    );
    s
}

pub fn apply(s: &mut State, ev: Event) {
    let _ = update(s, ev);
}

pub fn key(s: &mut State, code: KeyCode) {
    apply(s, Event::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

pub fn typed(s: &mut State, text: &str) {
    for c in text.chars() {
        key(s, KeyCode::Char(c));
    }
}

pub fn render(s: &State, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| views::render(f, s)).unwrap();
    term
}

pub fn screen(s: &State, w: u16, h: u16) -> String {
    let term = render(s, w, h);
    let text = buffer_text(term.backend().buffer());
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "control characters reached the screen"
    );
    text
}

pub fn buffer_text(b: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..b.area.height {
        let mut line = String::new();
        for x in 0..b.area.width {
            line.push_str(b[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// One limit's use in the window that started 30 minutes before `t0`.
pub fn limit_use(
    limit: &str,
    agent: &str,
    session: Option<&str>,
    calls: (u64, Option<u64>),
    cost: (f64, Option<f64>),
    state: LimitState,
) -> LimitUse {
    let share = [
        calls.1.map(|m| calls.0 as f64 / m as f64),
        cost.1.map(|m| cost.0 / m),
    ]
    .into_iter()
    .flatten()
    .fold(0.0, f64::max);
    LimitUse {
        limit: limit.into(),
        per: if session.is_some() {
            LimitScope::Session
        } else {
            LimitScope::Agent
        },
        agent: agent.into(),
        session: session.map(str::to_string),
        window_secs: 3600,
        window_start: at(-1800),
        resets_at: at(1800),
        calls: calls.0,
        max_calls: calls.1,
        cost: cost.0,
        max_cost: cost.1,
        grace_calls: 0,
        grace_cost: 0.0,
        warn_at: Some(0.8),
        share,
        state,
    }
}

/// A report with a limit in each state (one with grace, one per session) and an open and a
/// half-open breaker.
pub fn usage_report() -> UsageReport {
    let mut graced = limit_use(
        "task-calls",
        "db-agent",
        Some("s-42"),
        (100, Some(100)),
        (0.0, None),
        LimitState::Exceeded,
    );
    graced.grace_calls = 20;
    graced.share = 100.0 / 120.0;
    graced.state = LimitState::Warning;
    UsageReport {
        omitted: 0,
        limits: vec![
            limit_use(
                "hourly-spend",
                "refund-bot",
                None,
                (83, Some(100)),
                (48.2, Some(50.0)),
                LimitState::Warning,
            ),
            limit_use(
                "hourly-spend",
                "mailer",
                None,
                (12, Some(100)),
                (3.5, Some(50.0)),
                LimitState::Ok,
            ),
            limit_use(
                "mail-rate",
                "mailer",
                None,
                (61, Some(60)),
                (0.0, None),
                LimitState::Exceeded,
            ),
            graced,
        ],
        breakers: vec![
            BreakerStatus {
                breaker: "escalation-storm".into(),
                agent: "refund-bot".into(),
                state: BreakerState::Open,
                reason: "6 escalations within 10m (max 5)".into(),
                since: at(-120),
                until: at(480),
            },
            BreakerStatus {
                breaker: "deny-streak".into(),
                agent: "mailer".into(),
                state: BreakerState::HalfOpen,
                reason: "4 denials in a row".into(),
                since: at(-900),
                until: at(-300),
            },
        ],
    }
}

/// What a budget escalation of refund-bot's hourly spend asks.
pub fn budget_ask() -> BudgetAsk {
    BudgetAsk {
        usage: limit_use(
            "hourly-spend",
            "refund-bot",
            None,
            (100, Some(100)),
            (48.2, Some(50.0)),
            LimitState::Exceeded,
        ),
        grace_calls: 20,
        grace_cost: 10.0,
    }
}
