//! Every event serialises to the body the server wrote before the type existed (the `json!`
//! each call site used, copied here), and reads back equal.

use chrono::{TimeZone, Utc};
use serde_json::{json, Value};

use super::*;
use crate::protocol::{
    ActionRecord, DecisionBody, Effect, Escalation, EscalationState, FlagReviewBody, FlagVerdict,
    FlaggedAction, KillSwitch, KillSwitchBody, PriorCall, RuleRef, SignedDecision,
    SignedFlagReview, SignedKillSwitch, Timestamp, Vote,
};

fn at(secs: i64) -> Timestamp {
    Utc.timestamp_opt(1_790_000_000 + secs, 123_456_000)
        .unwrap()
}

fn record() -> ActionRecord {
    ActionRecord {
        id: "act_1".into(),
        agent: "refund-bot".into(),
        tool: "stripe.refund".into(),
        args: json!({"amount": 4000.5, "to": ["x"]}),
        session: "s".into(),
        on_behalf_of: Some("dana".into()),
        rationale: None,
        cost: Some(1.25),
        parent: None,
        context: json!({"cwd": "/tmp"}),
        submitted_at: at(0),
        policy_version: "v7".into(),
    }
}

fn decision(verdict: Vote) -> SignedDecision {
    SignedDecision {
        body: DecisionBody {
            escalation: "esc_1".into(),
            digest: "sha256:d".into(),
            verdict,
            reason: "ok".into(),
            approver: "carol".into(),
            issued_at: "2026-01-01T00:00:00.000Z".into(),
        },
        signature: "sig-d".into(),
    }
}

fn escalation() -> Escalation {
    Escalation {
        id: "esc_1".into(),
        action: record(),
        digest: "sha256:d".into(),
        rule: RuleRef {
            id: "big-refunds".into(),
            effect: Effect::Review,
            reason: "large".into(),
            condition: None,
            grantable: false,
        },
        history: vec![PriorCall {
            action: "act_0".into(),
            tool: "orders.get".into(),
            args: json!({}),
            verdict: Effect::Allow,
            at: at(-5),
            escalation: None,
            resolution: None,
        }],
        agent_owner: None,
        group: "finance".into(),
        approvals_required: 2,
        separate_owner: false,
        created_at: at(0),
        deadline: at(600),
        agent_deadline: None,
        handed_over: false,
        state: EscalationState::Denied,
        resolved_at: Some(at(30)),
        resolution_reason: Some("denied by carol: no".into()),
        decisions: vec![decision(Vote::Approve), decision(Vote::Deny)],
        budget: None,
        handling: Default::default(),
        elided: vec![],
    }
}

fn flagged() -> FlaggedAction {
    FlaggedAction {
        action: record(),
        rule: RuleRef {
            id: "watch".into(),
            effect: Effect::Flag,
            reason: "watched".into(),
            condition: None,
            grantable: false,
        },
        flagged_at: at(0),
        review: None,
        elided: vec![],
    }
}

fn review() -> SignedFlagReview {
    SignedFlagReview {
        body: FlagReviewBody {
            action: "act_1".into(),
            review: FlagVerdict::Incident,
            note: "look".into(),
            reviewer: "bob".into(),
            issued_at: "2026-01-01T00:00:01.000Z".into(),
        },
        signature: "sig-r".into(),
    }
}

fn flip(scope: &str) -> (KillSwitch, SignedKillSwitch) {
    let switch = KillSwitch {
        scope: scope.into(),
        on: true,
        reason: "r".into(),
        by: "alice".into(),
        at: at(1),
    };
    let signed = SignedKillSwitch {
        body: KillSwitchBody {
            scope: scope.into(),
            on: true,
            reason: "r".into(),
            operator: "alice".into(),
            issued_at: "2026-01-01T00:00:02.000Z".into(),
        },
        signature: "sig-k".into(),
    };
    (switch, signed)
}

/// Each event with the actor and body the server wrote for it before `AuditEvent` existed.
pub(crate) fn today() -> Vec<(AuditEvent, &'static str, Value)> {
    let record = record();
    let esc = escalation();
    let digest = "sha256:d";
    let raised_by = vec!["other-rule".to_string()];
    let mut handed = esc.clone();
    handed.group = "backup".into();
    handed.deadline = at(1200);
    let d = decision(Vote::Deny);
    let (switch, f) = flip("agent:refund-bot");
    let (global, g) = flip("global");
    let flagged = flagged();
    let r = review();
    vec![
        (
            AuditEvent::ServerStart(ServerStart {
                version: "0.1.0".into(),
                policy_digest: "p".into(),
                policy_version: "v7".into(),
                roster_digest: "r".into(),
                server_public_key: "ed25519:k".into(),
                policy_file: "/etc/gavel.toml".into(),
                roster_file: "/etc/roster.toml".into(),
            }),
            "server",
            json!({
                "version": "0.1.0", "policy_digest": "p", "policy_version": "v7",
                "roster_digest": "r", "server_public_key": "ed25519:k",
                "policy_file": "/etc/gavel.toml", "roster_file": "/etc/roster.toml",
            }),
        ),
        (
            AuditEvent::action(
                &record,
                digest,
                Effect::Review,
                Some("big-refunds"),
                "large",
                raised_by.clone(),
                None,
            ),
            "refund-bot",
            json!({
                "action": record.id, "agent": record.agent, "tool": record.tool, "args": record.args,
                "session": record.session, "on_behalf_of": record.on_behalf_of,
                "cost": record.cost, "context": record.context, "digest": digest,
                "policy_version": record.policy_version, "effect": Effect::Review, "rule": Some("big-refunds"), "reason": "large",
                "submitted_at": record.submitted_at, "raised_by": raised_by,
            }),
        ),
        (
            AuditEvent::escalation_created(&esc),
            "refund-bot",
            json!({
                "escalation": esc.id, "action": esc.action.id, "agent": esc.action.agent,
                "tool": esc.action.tool, "digest": esc.digest, "rule": esc.rule.id,
                "group": esc.group, "approvals_required": esc.approvals_required,
                "deadline": esc.deadline, "history": esc.history.iter().map(|h| &h.action).collect::<Vec<_>>(),
            }),
        ),
        (
            AuditEvent::escalation_handed_over(&esc, &handed),
            "server",
            json!({"escalation": handed.id, "action": handed.action.id, "agent": handed.action.agent,
                   "from": esc.group, "to": handed.group, "deadline": handed.deadline}),
        ),
        (
            AuditEvent::escalation_resolved(&esc),
            "server",
            json!({
                "escalation": esc.id, "action": esc.action.id, "agent": esc.action.agent, "tool": esc.action.tool,
                "resolution": esc.state.resolution(), "reason": esc.resolution_reason,
                "deciders": esc.decisions.iter().map(|d| json!({"approver": d.body.approver, "verdict": d.body.verdict})).collect::<Vec<_>>(),
            }),
        ),
        (
            AuditEvent::escalation_unreadable("esc_1", "act_1", None, "its body cannot be read"),
            "server",
            json!({"escalation": "esc_1", "action": "act_1", "agent": Option::<String>::None,
                   "problem": "its body cannot be read", "resolution": "denied"}),
        ),
        (
            AuditEvent::withdrawn(&esc),
            "refund-bot",
            json!({"escalation": esc.id, "action": "act_1", "agent": "refund-bot", "tool": esc.action.tool}),
        ),
        (
            AuditEvent::retried(
                &record,
                "act_0",
                Some("esc_1"),
                RetryMatch::PendingEscalation,
                None,
            ),
            "refund-bot",
            json!({"action": "act_0", "agent": record.agent, "tool": record.tool, "session": record.session,
                   "escalation": "esc_1", "match": "pending_escalation", "idempotency_key": Option::<&str>::None}),
        ),
        (
            AuditEvent::retried(
                &record,
                "act_0",
                None,
                RetryMatch::IdempotencyKey,
                Some("k-1"),
            ),
            "refund-bot",
            json!({"action": "act_0", "agent": record.agent, "tool": record.tool, "session": record.session,
                   "escalation": Option::<&str>::None, "match": "idempotency_key", "idempotency_key": "k-1"}),
        ),
        (
            AuditEvent::decision(&esc, &d),
            "carol",
            json!({
                "escalation": esc.id, "action": esc.action.id, "agent": esc.action.agent, "tool": esc.action.tool,
                "digest": d.body.digest, "verdict": d.body.verdict, "reason": d.body.reason,
                "approver": d.body.approver, "issued_at": d.body.issued_at, "signature": d.signature,
            }),
        ),
        (
            AuditEvent::killswitch(&switch, &f),
            "alice",
            json!({"scope": switch.scope, "on": switch.on, "reason": switch.reason, "operator": switch.by,
                   "issued_at": f.body.issued_at, "signature": f.signature, "agent": Some("refund-bot")}),
        ),
        (
            AuditEvent::killswitch(&global, &g),
            "alice",
            json!({"scope": global.scope, "on": global.on, "reason": global.reason, "operator": global.by,
                   "issued_at": g.body.issued_at, "signature": g.signature, "agent": Option::<&str>::None}),
        ),
        (
            AuditEvent::flag_review(&flagged, &r),
            "bob",
            json!({"action": "act_1", "agent": flagged.action.agent, "tool": flagged.action.tool, "review": r.body.review,
                   "note": r.body.note, "reviewer": r.body.reviewer, "issued_at": r.body.issued_at,
                   "signature": r.signature}),
        ),
        (
            AuditEvent::refused(
                "mallory",
                "POST",
                "/v1/decisions".into(),
                403,
                "not_approver",
                "no".into(),
            ),
            "mallory",
            json!({"method": "POST", "path": "/v1/decisions", "status": 403u16, "code": "not_approver",
                   "message": "no"}),
        ),
        (
            AuditEvent::Refusals(RefusalCounts {
                since: at(0),
                until: at(60),
                total: 3,
                counts: vec![RefusalCount {
                    status: 401,
                    code: "bad_token".into(),
                    method: "GET".into(),
                    path: "/v1/x".into(),
                    claimed_person: Some("eve".into()),
                    count: 2,
                }],
                other: 1,
            }),
            "server",
            json!({"since": at(0), "until": at(60), "total": 3,
                   "counts": [json!({"status": 401, "code": "bad_token", "method": "GET", "path": "/v1/x",
                                     "claimed_person": "eve", "count": 2})],
                   "other": 1}),
        ),
        (
            AuditEvent::ActionsPruned(ActionsPruned {
                before: at(0),
                count: 1024,
            }),
            "server",
            json!({"before": at(0), "count": 1024}),
        ),
        (
            AuditEvent::GrantCreated(GrantCreated {
                grant: "grt_1".into(),
                agent: "refund-bot".into(),
                tool: "stripe.*".into(),
                when: Some("args.amount == 1.0".into()),
                reason: "r".into(),
                approver: "carol".into(),
                created_at: at(0),
                expires_at: at(3600),
                issued_at: "2026-01-01T00:00:00.000Z".into(),
                signature: "sig-g".into(),
            }),
            "carol",
            json!({"grant": "grt_1", "agent": "refund-bot", "tool": "stripe.*",
                   "when": "args.amount == 1.0", "reason": "r", "approver": "carol",
                   "created_at": at(0), "expires_at": at(3600),
                   "issued_at": "2026-01-01T00:00:00.000Z", "signature": "sig-g"}),
        ),
        (
            AuditEvent::GrantRevoked(GrantRevoked {
                grant: "grt_1".into(),
                agent: "refund-bot".into(),
                reason: "done".into(),
                revoker: "alice".into(),
                at: at(60),
                issued_at: "2026-01-01T00:01:00.000Z".into(),
                signature: "sig-r".into(),
            }),
            "alice",
            json!({"grant": "grt_1", "agent": "refund-bot", "reason": "done", "revoker": "alice",
                   "at": at(60), "issued_at": "2026-01-01T00:01:00.000Z", "signature": "sig-r"}),
        ),
        (
            AuditEvent::GrantUsed(GrantUsed {
                grant: "grt_1".into(),
                by: "carol".into(),
                action: "act_1".into(),
                agent: "refund-bot".into(),
                tool: "stripe.refund".into(),
                rule: "refund-large".into(),
            }),
            "carol",
            json!({"grant": "grt_1", "by": "carol", "action": "act_1", "agent": "refund-bot",
                   "tool": "stripe.refund", "rule": "refund-large"}),
        ),
    ]
    .into_iter()
    .chain(super::handling::tests::events())
    .chain(super::limits::tests::events())
    .chain(super::breakers::tests::events())
    .collect()
}

#[test]
fn every_kind_is_covered() {
    let kinds: std::collections::BTreeSet<_> = today().iter().map(|(e, _, _)| e.kind()).collect();
    let known: std::collections::BTreeSet<_> = AuditEvent::KINDS.into_iter().collect();
    assert_eq!(kinds, known);
}

#[test]
fn bodies_are_the_ones_written_before_the_type_and_read_back_equal() {
    for (event, actor, body) in today() {
        let kind = event.kind();
        assert_eq!(event.actor(), actor, "{kind}");
        let written = event.body().unwrap();
        assert_eq!(written, body, "{kind}");
        // Stored as text and read back, as the verifier does.
        let stored: Value = serde_json::from_str(&written.to_string()).unwrap();
        assert_eq!(
            AuditEvent::parse(kind, actor, &stored).unwrap(),
            event,
            "{kind}"
        );
    }
}

/// The verifier reads canonical bodies straight from their text: it reads what `parse` reads,
/// and leaves to `parse` (by answering `None`) whatever `parse` refuses.
#[test]
fn canonical_texts_read_as_their_parsed_bodies_do() {
    for (event, actor, body) in today() {
        let kind = event.kind();
        let text =
            String::from_utf8(crate::protocol::canonical::canonical_bytes(&body).unwrap()).unwrap();
        assert_eq!(
            AuditEvent::parse_canonical(kind, actor, &text),
            Some(event.clone()),
            "{kind}"
        );
        assert_eq!(
            AuditEvent::parse_canonical(kind, "mallory", &text).is_none(),
            AuditEvent::parse(kind, "mallory", &body).is_err(),
            "{kind}: another actor"
        );
        assert_eq!(AuditEvent::parse_canonical("mystery", actor, &text), None);
        assert_eq!(
            AuditEvent::parse_canonical(kind, actor, "{}").is_none(),
            AuditEvent::parse(kind, actor, &json!({})).is_err(),
            "{kind}: an empty body"
        );
    }
}

#[test]
fn records_written_before_later_fields_still_read() {
    let (event, actor, mut body) = today().swap_remove(1);
    let obj = body.as_object_mut().unwrap();
    obj.remove("submitted_at");
    obj.remove("raised_by");
    let AuditEvent::Action(old) = AuditEvent::parse("action", actor, &body).unwrap() else {
        panic!("not an action");
    };
    let AuditEvent::Action(new) = event else {
        panic!("not an action");
    };
    assert_eq!(old.submitted_at, None);
    assert!(old.raised_by.is_empty());
    assert_eq!(old.args, new.args);
}

#[test]
fn bodies_that_do_not_fit_their_kind_are_named_errors() {
    assert_eq!(
        AuditEvent::parse("mystery", "x", &json!({})),
        Err(EventError::UnknownKind("mystery".into()))
    );
    let e = AuditEvent::parse("action", "refund-bot", &json!({"action": "a"})).unwrap_err();
    assert!(
        matches!(&e, EventError::Body { kind: "action", problem } if problem.contains("missing field")),
        "{e}"
    );
    let e = AuditEvent::parse("decision", "x", &json!("text")).unwrap_err();
    assert!(
        matches!(
            e,
            EventError::Body {
                kind: "decision",
                ..
            }
        ),
        "{e}"
    );
    let (_, _, body) = today()
        .into_iter()
        .find(|(e, _, _)| e.kind() == "decision")
        .unwrap();
    assert_eq!(
        AuditEvent::parse("decision", "mallory", &body),
        Err(EventError::Actor {
            kind: "decision",
            actual: "mallory".into(),
            expected: "carol".into()
        })
    );
}

#[test]
fn the_index_is_what_queries_filtered_the_body_on() {
    for (event, _, body) in today() {
        let index = event.index();
        let text = |k: &str| body.get(k).and_then(Value::as_str);
        let kind = event.kind();
        assert_eq!(index.agent, text("agent"), "{kind}");
        assert_eq!(index.tool, text("tool"), "{kind}");
        assert_eq!(index.escalation, text("escalation"), "{kind}");
        assert_eq!(index.action, text("action"), "{kind}");
        let verdict = text("effect").or(text("resolution")).or(text("verdict"));
        assert_eq!(index.verdict, verdict, "{kind}");
    }
}

#[test]
fn an_action_names_its_idempotency_key_only_when_it_has_one() {
    let record = record();
    let keyed = AuditEvent::action(&record, "d", Effect::Allow, None, "r", vec![], Some("k-1"));
    let body = keyed.body().unwrap();
    assert_eq!(body["idempotency_key"], "k-1");
    assert_eq!(
        AuditEvent::parse("action", "refund-bot", &body).unwrap(),
        keyed
    );
    let plain = AuditEvent::action(&record, "d", Effect::Allow, None, "r", vec![], None);
    assert!(plain.body().unwrap().get("idempotency_key").is_none());
}

/// A call that uses nothing optional is written without it, and without the digest nobody
/// signs; a record written before, with every field (null where unused), reads the same.
#[test]
fn an_action_leaves_out_what_it_did_not_use_and_reads_records_that_wrote_it() {
    let record = ActionRecord {
        on_behalf_of: None,
        cost: None,
        context: json!({}),
        ..record()
    };
    let allowed = AuditEvent::action(
        &record,
        "sha256:d",
        Effect::Allow,
        Some("r"),
        "ok",
        vec![],
        None,
    );
    let body = allowed.body().unwrap();
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "action",
            "agent",
            "args",
            "effect",
            "policy_version",
            "reason",
            "rule",
            "session",
            "submitted_at",
            "tool"
        ]
    );
    let old = json!({
        "action": record.id, "agent": record.agent, "tool": record.tool, "args": record.args,
        "session": record.session, "on_behalf_of": null, "rationale": null, "cost": null,
        "parent": null, "context": {}, "digest": "sha256:d", "policy_version": record.policy_version,
        "effect": "allow", "rule": "r", "reason": "ok", "submitted_at": record.submitted_at,
        "raised_by": [],
    });
    let AuditEvent::Action(read) = AuditEvent::parse("action", "refund-bot", &old).unwrap() else {
        panic!("not an action");
    };
    let AuditEvent::Action(written) = allowed else {
        unreachable!()
    };
    assert_eq!(read.digest.as_deref(), Some("sha256:d"));
    assert_eq!(
        ActionTaken {
            digest: None,
            ..*read
        },
        *written
    );
    // A reviewed or flagged call keeps its digest: a person signs it.
    for effect in [Effect::Review, Effect::Flag] {
        let body = AuditEvent::action(&record, "sha256:d", effect, Some("r"), "ok", vec![], None)
            .body()
            .unwrap();
        assert_eq!(body["digest"], "sha256:d", "{effect:?}");
    }
}
