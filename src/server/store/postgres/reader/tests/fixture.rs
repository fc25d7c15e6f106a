//! A store with a bit of everything, written through SQLite's real writer, so its rows are
//! exactly what the ops write: calls of every effect (one denied by a kill switch, one whose
//! reason only SQLite's case-folding `LIKE` tells for a kill switch's), escalations approved,
//! denied, expired, cancelled, pending and unreadable (two resolved at the same instant, with
//! ids that sort apart in the "C" and ICU collations), flags, reviews, switches, grants, keys,
//! costs and breaker records.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use serde_json::json;
use tokio::sync::oneshot;

use crate::protocol::{
    ActionRecord, DecisionBody, Effect, Escalation, EscalationState, FlagReviewBody, FlagVerdict,
    FlaggedAction, Grant, GrantRevocation, KillSwitch, KillSwitchBody, RuleRef, SignedDecision,
    SignedFlagReview, SignedKillSwitch, Timestamp, Vote,
};
use crate::server::audit::{AuditEvent, BreakerClosed, BreakerReset, BreakerTripped};
use crate::server::killswitch::kill_reason;
use crate::server::store::backend::Backend;
use crate::server::store::sqlite::SqliteWriter;
use crate::server::store::{ActionWrite, Change, ExpiryPlan, Job, KeyWrite, Op, Reply};

/// The times the fixture is written at.
pub struct Clock {
    /// Two hours ago, to the second.
    pub base: Timestamp,
}

impl Clock {
    pub fn new() -> Clock {
        Clock {
            base: (Utc::now() - Duration::hours(2)).trunc_subsecs(0),
        }
    }

    /// `secs` after the base, with a fraction, as the server's times have.
    pub fn at(&self, secs: i64) -> Timestamp {
        self.base + Duration::seconds(secs) + Duration::microseconds(123_456)
    }
}

fn commit(w: &mut SqliteWriter, op: Op, audit: Vec<AuditEvent>) -> Reply {
    let (reply, _answer) = oneshot::channel();
    let mut results = w.commit(&[Job { op, audit, reply }]).unwrap();
    results.remove(0).unwrap()
}

fn record(id: &str, agent: &str, session: &str, tool: &str, at: Timestamp) -> ActionRecord {
    ActionRecord {
        id: id.into(),
        agent: agent.into(),
        tool: tool.into(),
        args: json!({"n": id}),
        session: session.into(),
        on_behalf_of: None,
        rationale: None,
        cost: None,
        parent: None,
        context: json!({}),
        submitted_at: at,
        policy_version: "v1".into(),
    }
}

fn rule(id: &str, effect: Effect) -> RuleRef {
    RuleRef {
        id: id.into(),
        effect,
        reason: format!("{id} says so"),
        condition: None,
        grantable: false,
    }
}

/// A call as the enforcement point writes it; its escalation (for a review) as stored.
fn call(
    w: &mut SqliteWriter,
    record: ActionRecord,
    effect: Effect,
    rule: Option<&str>,
    reason: &str,
    more: impl FnOnce(&mut ActionWrite),
) -> Option<Escalation> {
    let audit = vec![AuditEvent::action(
        &record,
        "sha256:d",
        effect,
        rule,
        reason,
        vec![],
        None,
    )];
    let mut write = ActionWrite {
        record,
        effect,
        rule: rule.map(str::to_string),
        reason: reason.into(),
        escalation: None,
        flagged: None,
        key: None,
        grant: None,
        governed: None,
    };
    more(&mut write);
    match commit(w, Op::Action(Box::new(write)), audit) {
        Reply::Escalation(e) => Some(*e),
        _ => None,
    }
}

fn escalation(
    id: &str,
    record: &ActionRecord,
    approvals_required: u32,
) -> (Escalation, ExpiryPlan) {
    let esc = Escalation {
        id: id.into(),
        action: record.clone(),
        digest: "sha256:d".into(),
        rule: rule("big-refunds", Effect::Review),
        history: vec![],
        agent_owner: None,
        group: "finance".into(),
        approvals_required,
        separate_owner: false,
        created_at: record.submitted_at,
        deadline: record.submitted_at + Duration::minutes(10),
        agent_deadline: None,
        handed_over: false,
        state: EscalationState::Pending,
        resolved_at: None,
        resolution_reason: None,
        decisions: vec![],
        budget: None,
        handling: Default::default(),
        elided: vec![],
    };
    let plan = ExpiryPlan {
        escalate_to: None,
        timeout_secs: 600,
    };
    (esc, plan)
}

fn review(
    w: &mut SqliteWriter,
    id: &str,
    esc: &str,
    agent: &str,
    at: Timestamp,
    approvals: u32,
) -> Escalation {
    let r = record(id, agent, "s1", "stripe.refund", at);
    let pending = escalation(esc, &r, approvals);
    call(w, r, Effect::Review, Some("big-refunds"), "large", |a| {
        a.escalation = Some(pending)
    })
    .unwrap()
}

fn vote(esc: &Escalation, approver: &str, verdict: Vote, at: Timestamp) -> SignedDecision {
    SignedDecision {
        body: DecisionBody {
            escalation: esc.id.clone(),
            digest: esc.digest.clone(),
            verdict,
            reason: "looked".into(),
            approver: approver.into(),
            issued_at: at.to_rfc3339(),
        },
        signature: format!("sig-{}-{approver}", esc.id),
    }
}

/// `was` resolved as `state` at `at` after `votes`, each audited.
fn resolve(
    w: &mut SqliteWriter,
    was: &Escalation,
    state: EscalationState,
    at: Timestamp,
    votes: Vec<SignedDecision>,
) {
    let mut done = was.clone();
    done.state = state;
    done.resolved_at = Some(at);
    done.resolution_reason = Some(format!("{state:?}"));
    done.decisions = votes;
    let mut audit: Vec<_> = done
        .decisions
        .iter()
        .map(|d| AuditEvent::decision(&done, d))
        .collect();
    audit.push(AuditEvent::escalation_resolved(&done));
    commit(w, Op::Escalation(Change::new(was, done)), audit);
}

fn flip(scope: &str, on: bool, at: Timestamp, cancelled: Vec<Change>) -> (Op, Vec<AuditEvent>) {
    let switch = KillSwitch {
        scope: scope.into(),
        on,
        reason: "stop".into(),
        by: "alice".into(),
        at,
    };
    let signature = format!("sig-flip-{scope}-{on}");
    let signed = SignedKillSwitch {
        body: KillSwitchBody {
            scope: scope.into(),
            on,
            reason: "stop".into(),
            operator: "alice".into(),
            issued_at: at.to_rfc3339(),
        },
        signature: signature.clone(),
    };
    let audit = vec![AuditEvent::killswitch(&switch, &signed)];
    let op = Op::KillSwitch {
        switch,
        signature,
        cancelled,
    };
    (op, audit)
}

fn grant(id: &str, clock: &Clock) -> Grant {
    Grant {
        id: id.into(),
        agent: "helper".into(),
        tool: "db.query".into(),
        when: None,
        reason: "routine".into(),
        by: "carol".into(),
        created_at: clock.at(-100),
        expires_at: clock.at(100_000),
        revoked: None,
        uses: 0,
        last_used_at: None,
    }
}

fn key(agent: &str, key: &str, created_at: Timestamp) -> KeyWrite {
    KeyWrite {
        agent: agent.into(),
        key: key.into(),
        fingerprint: format!("fp-{key}"),
        created_at,
    }
}

fn breakers(clock: &Clock) -> Vec<AuditEvent> {
    let tripped = |agent: &str, breaker: &str, action: &str| {
        AuditEvent::BreakerTripped(BreakerTripped {
            breaker: breaker.into(),
            agent: agent.into(),
            reason: "too many".into(),
            trigger: "escalations".into(),
            action: action.into(),
            since: clock.at(0),
            until: clock.at(600),
        })
    };
    vec![
        tripped("bot", "fatigue", "act_1"),
        AuditEvent::BreakerClosed(BreakerClosed {
            breaker: "fatigue".into(),
            agent: "bot".into(),
            action: "act_2".into(),
            reason: "trial".into(),
            at: clock.at(5),
        }),
        tripped("helper", "denied", "act_7"),
        tripped("bot", "fatigue", "act_3"),
        AuditEvent::BreakerReset(BreakerReset {
            agent: "helper".into(),
            breakers: vec!["denied".into()],
            operator: "alice".into(),
            reason: "looked".into(),
            at: clock.at(8),
            issued_at: clock.at(8).to_rfc3339(),
            signature: "sig-reset".into(),
        }),
    ]
}

/// Writes the fixture; the time the kill switch on `global` was flipped is about now.
pub fn write(w: &mut SqliteWriter, clock: &Clock) {
    let now = Utc::now();
    let at = |s| clock.at(s);
    let bot = |id: &str, tool: &str, s: i64| record(id, "bot", "s1", tool, at(s));
    let helper = |id: &str, tool: &str, s: i64| record(id, "helper", "s2", tool, at(s));

    call(
        w,
        bot("act_1", "orders.get", 0),
        Effect::Allow,
        Some("reads"),
        "reads are fine",
        |a| {
            a.record.cost = Some(0.5);
            a.key = Some(key("bot", "k1", at(0)));
        },
    );
    let e2 = review(w, "act_2", "esc_2", "bot", at(10), 1);
    call(
        w,
        bot("act_3", "fs.delete", 20),
        Effect::Deny,
        Some("no-delete"),
        "deletes are denied",
        |_| {},
    );
    call(
        w,
        bot("act_4", "email.send", 30),
        Effect::Flag,
        Some("watch"),
        "watched",
        |a| {
            a.flagged = Some(FlaggedAction {
                action: a.record.clone(),
                rule: rule("watch", Effect::Flag),
                flagged_at: at(30),
                review: None,
                elided: vec![],
            })
        },
    );
    resolve(
        w,
        &e2,
        EscalationState::Approved,
        at(15),
        vec![vote(&e2, "carol", Vote::Approve, at(14))],
    );
    let e5 = review(w, "act_5", "esc_B5", "bot", at(40), 2);
    let e6 = review(w, "act_6", "esc_a6", "bot", at(50), 1);
    resolve(
        w,
        &e5,
        EscalationState::Denied,
        at(55),
        vec![
            vote(&e5, "carol", Vote::Approve, at(45)),
            vote(&e5, "dave", Vote::Deny, at(52)),
        ],
    );
    resolve(w, &e6, EscalationState::Expired, at(55), vec![]);
    review(w, "act_7", "esc_7", "helper", at(60), 1);

    let (a, b) = (grant("grt_a", clock), grant("grt_B", clock));
    commit(
        w,
        Op::GrantCreated {
            grant: a,
            signature: "sig-grt-a".into(),
        },
        vec![],
    );
    let mut revoked = b.clone();
    commit(
        w,
        Op::GrantCreated {
            grant: b,
            signature: "sig-grt-b".into(),
        },
        vec![],
    );
    revoked.revoked = Some(GrantRevocation {
        by: "carol".into(),
        reason: "done".into(),
        at: at(65),
    });
    commit(
        w,
        Op::GrantRevoked {
            grant: revoked,
            signature: "sig-grt-b-revoke".into(),
        },
        vec![],
    );
    call(
        w,
        helper("act_8", "db.query", 70),
        Effect::Allow,
        None,
        "granted",
        |a| {
            a.record.cost = Some(2.5);
            a.grant = Some("grt_a".into());
        },
    );
    commit(
        w,
        Op::CostReported {
            action: "act_8".into(),
            cost: 3.0,
        },
        vec![],
    );
    call(
        w,
        helper("act_9", "email.send", 80),
        Effect::Flag,
        Some("watch"),
        "watched",
        |a| {
            a.flagged = Some(FlaggedAction {
                action: a.record.clone(),
                rule: rule("watch", Effect::Flag),
                flagged_at: at(80),
                review: None,
                elided: vec![],
            })
        },
    );
    // Not written by this server's kill switch (its case differs), but SQLite's `LIKE` folds
    // ASCII case, so it counts as one's deny.
    call(
        w,
        bot("act_10", "tool.x", 90),
        Effect::Deny,
        None,
        "KILL SWITCH tool:x is on: legacy",
        |_| {},
    );
    call(
        w,
        helper("act_12", "db.query", 100),
        Effect::Deny,
        None,
        "over the daily limit",
        |a| a.governed = Some("limit:daily".into()),
    );
    // Before the old key: writing a key purges those expired by its own time.
    commit(
        w,
        Op::Retried {
            action: "act_1".into(),
            key: Some(key("bot", "k3", at(111))),
        },
        vec![],
    );
    call(
        w,
        bot("act_13", "orders.get", 110),
        Effect::Allow,
        Some("reads"),
        "reads are fine",
        |a| a.key = Some(key("bot", "k-old", now - Duration::days(2))),
    );

    // The flagged call reviewed.
    let mut reviewed = FlaggedAction {
        action: bot("act_4", "email.send", 30),
        rule: rule("watch", Effect::Flag),
        flagged_at: at(30),
        review: None,
        elided: vec![],
    };
    let signed = SignedFlagReview {
        body: FlagReviewBody {
            action: "act_4".into(),
            review: FlagVerdict::Incident,
            note: "look".into(),
            reviewer: "bob".into(),
            issued_at: at(120).to_rfc3339(),
        },
        signature: "sig-review".into(),
    };
    reviewed.review = Some(signed.clone());
    let audit = vec![AuditEvent::flag_review(&reviewed, &signed)];
    commit(
        w,
        Op::FlagReview {
            flagged: Box::new(reviewed),
            signature: "sig-review".into(),
        },
        audit,
    );

    // Switches: one cancels a pending escalation, one is turned on and off, `global` is on and
    // denies a call after it.
    let e14 = review(w, "act_14", "esc_14", "bot", at(130), 1);
    let mut cancelled = e14.clone();
    cancelled.state = EscalationState::Cancelled;
    cancelled.resolved_at = Some(at(131));
    let (op, audit) = flip("tool:Z", true, at(131), vec![*Change::new(&e14, cancelled)]);
    commit(w, op, audit);
    for on in [true, false] {
        let (op, audit) = flip("tool:a", on, at(132), vec![]);
        commit(w, op, audit);
    }
    let (op, audit) = flip("global", true, now, vec![]);
    commit(w, op, audit);
    let late = record(
        "act_11",
        "bot",
        "s1",
        "orders.get",
        Utc::now() + Duration::seconds(60),
    );
    call(
        w,
        late,
        Effect::Deny,
        None,
        &kill_reason("global", "stop"),
        |a| a.governed = Some("killswitch:global".into()),
    );

    commit(w, Op::Audit, breakers(clock));
    commit(
        w,
        Op::BreakerReset {
            signature: "sig-reset".into(),
        },
        vec![],
    );
    commit(
        w,
        Op::Audit,
        vec![AuditEvent::refused(
            "mallory",
            "GET",
            "/v1/x".into(),
            403,
            "c",
            "no".into(),
        )],
    );
}

/// A pending escalation whose row cannot be loaded (its plan is not JSON; its body is, so the
/// figures still read it), denied at start as the server does.
pub fn unreadable(w: &mut SqliteWriter, conn: &rusqlite::Connection, clock: &Clock) {
    review(w, "act_15", "esc_bad", "helper", clock.at(140), 1);
    conn.execute(
        "UPDATE escalations SET plan = '{broken' WHERE id = 'esc_bad'",
        [],
    )
    .unwrap();
    commit(w, Op::DenyUnreadable, vec![]);
}

/// The first time after every row's.
pub fn after_all() -> DateTime<Utc> {
    Utc::now() + Duration::hours(1)
}
