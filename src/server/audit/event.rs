//! The audit schema: one variant per kind of record the server writes, with typed fields.
//!
//! A record's body is its variant's fields as JSON, with exactly the keys the server has always
//! written, so databases written before this type existed still verify and replay. The writer
//! appends only events, and the verifier reads bodies back only through [`AuditEvent::parse`]:
//! a body that does not fit its kind is a named failure, never skipped.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::protocol::{
    ActionRecord, Effect, Escalation, FlagVerdict, FlaggedAction, KillSwitch, Resolution, Scope,
    SignedDecision, SignedFlagReview, SignedKillSwitch, Timestamp, Vote,
};

/// The actor of records the server writes on its own behalf.
pub const SERVER: &str = "server";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "body", rename_all = "snake_case")]
pub enum AuditEvent {
    ServerStart(ServerStart),
    Action(Box<ActionTaken>),
    EscalationCreated(EscalationCreated),
    EscalationHandedOver(EscalationHandedOver),
    EscalationResolved(EscalationResolved),
    EscalationUnreadable(EscalationUnreadable),
    Withdrawn(Withdrawn),
    Decision(Decision),
    Killswitch(KillswitchFlipped),
    FlagReview(FlagReviewed),
    Refused(Refused),
    Refusals(RefusalCounts),
}

/// The server started, with this configuration and key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerStart {
    pub version: String,
    pub policy_digest: String,
    pub policy_version: String,
    pub roster_digest: String,
    /// The key the server signs checkpoints with; `gavel audit verify` checks it is the log's.
    pub server_public_key: String,
    pub policy_file: String,
    pub roster_file: String,
}

/// A call an agent submitted and what the policy said about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionTaken {
    pub action: String,
    pub agent: String,
    pub tool: String,
    pub args: Value,
    pub session: String,
    pub on_behalf_of: Option<String>,
    pub rationale: Option<String>,
    pub cost: Option<f64>,
    pub parent: Option<String>,
    pub context: Value,
    pub digest: String,
    pub policy_version: String,
    pub effect: Effect,
    pub rule: Option<String>,
    pub reason: String,
    /// Absent from records written before it was recorded.
    #[serde(default)]
    pub submitted_at: Option<Timestamp>,
    /// Other rules that asked for the review (absent from records written before).
    #[serde(default)]
    pub raised_by: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EscalationCreated {
    pub escalation: String,
    pub action: String,
    pub agent: String,
    pub tool: String,
    pub digest: String,
    pub rule: String,
    pub group: String,
    pub approvals_required: u32,
    pub deadline: Timestamp,
    /// The ids of the session's earlier calls shown beside it.
    pub history: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EscalationHandedOver {
    pub escalation: String,
    pub action: String,
    pub agent: String,
    pub from: String,
    pub to: String,
    pub deadline: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EscalationResolved {
    pub escalation: String,
    pub action: String,
    pub agent: String,
    pub tool: String,
    pub resolution: Option<Resolution>,
    pub reason: Option<String>,
    pub deciders: Vec<Decider>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decider {
    pub approver: String,
    pub verdict: Vote,
}

/// A pending escalation whose row could not be loaded at start, denied then.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EscalationUnreadable {
    pub escalation: String,
    pub action: String,
    pub agent: Option<String>,
    pub problem: String,
    pub resolution: Resolution,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Withdrawn {
    pub escalation: String,
    pub action: String,
    pub agent: String,
    pub tool: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub escalation: String,
    pub action: String,
    pub agent: String,
    pub tool: String,
    pub digest: String,
    pub verdict: Vote,
    pub reason: String,
    pub approver: String,
    pub issued_at: String,
    pub signature: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KillswitchFlipped {
    pub scope: String,
    pub on: bool,
    pub reason: String,
    pub operator: String,
    pub issued_at: String,
    pub signature: String,
    /// The agent an `agent:` scope names.
    pub agent: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlagReviewed {
    pub action: String,
    pub agent: String,
    pub tool: String,
    pub review: FlagVerdict,
    pub note: String,
    pub reviewer: String,
    pub issued_at: String,
    pub signature: String,
}

/// One refused request of an authenticated caller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refused {
    /// Who was refused: the record's actor, not part of its body.
    #[serde(skip)]
    pub actor: String,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub code: String,
    pub message: String,
}

/// One window of counted refusals of unauthenticated requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefusalCounts {
    pub since: Timestamp,
    pub until: Timestamp,
    pub total: u64,
    pub counts: Vec<RefusalCount>,
    pub other: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusalCount {
    pub status: u16,
    pub code: String,
    pub method: String,
    pub path: String,
    pub claimed_person: Option<String>,
    pub count: u64,
}

/// Why a stored or offered record is not an [`AuditEvent`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("kind `{0}` is not one this server knows")]
    UnknownKind(String),
    #[error("its body is not a `{kind}` record: {problem}")]
    Body { kind: &'static str, problem: String },
    #[error("its actor is {actual}, but a `{kind}` record's actor is {expected}")]
    Actor {
        kind: &'static str,
        actual: String,
        expected: String,
    },
    #[error("a `{kind}` record cannot be written as JSON: {problem}")]
    Unencodable { kind: &'static str, problem: String },
}

/// The typed columns a record is found by, written beside its body at append time.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditIndex<'a> {
    pub agent: Option<&'a str>,
    pub tool: Option<&'a str>,
    pub action: Option<&'a str>,
    pub escalation: Option<&'a str>,
    /// The outcome the record states: an effect, a resolution or a vote.
    pub verdict: Option<&'static str>,
}

fn resolution_name(r: Resolution) -> &'static str {
    match r {
        Resolution::Approved => "approved",
        Resolution::Denied => "denied",
        Resolution::Expired => "expired",
        Resolution::Cancelled => "cancelled",
    }
}

fn vote_name(v: Vote) -> &'static str {
    match v {
        Vote::Approve => "approve",
        Vote::Deny => "deny",
    }
}

impl AuditEvent {
    pub const KINDS: [&'static str; 12] = [
        "server_start",
        "action",
        "escalation_created",
        "escalation_handed_over",
        "escalation_resolved",
        "escalation_unreadable",
        "withdrawn",
        "decision",
        "killswitch",
        "flag_review",
        "refused",
        "refusals",
    ];

    pub fn kind(&self) -> &'static str {
        match self {
            AuditEvent::ServerStart(_) => "server_start",
            AuditEvent::Action(_) => "action",
            AuditEvent::EscalationCreated(_) => "escalation_created",
            AuditEvent::EscalationHandedOver(_) => "escalation_handed_over",
            AuditEvent::EscalationResolved(_) => "escalation_resolved",
            AuditEvent::EscalationUnreadable(_) => "escalation_unreadable",
            AuditEvent::Withdrawn(_) => "withdrawn",
            AuditEvent::Decision(_) => "decision",
            AuditEvent::Killswitch(_) => "killswitch",
            AuditEvent::FlagReview(_) => "flag_review",
            AuditEvent::Refused(_) => "refused",
            AuditEvent::Refusals(_) => "refusals",
        }
    }

    /// Who the record is by: the agent, the person who signed, or the server.
    pub fn actor(&self) -> &str {
        match self {
            AuditEvent::Action(a) => &a.agent,
            AuditEvent::EscalationCreated(e) => &e.agent,
            AuditEvent::Withdrawn(w) => &w.agent,
            AuditEvent::Decision(d) => &d.approver,
            AuditEvent::Killswitch(k) => &k.operator,
            AuditEvent::FlagReview(f) => &f.reviewer,
            AuditEvent::Refused(r) => &r.actor,
            AuditEvent::ServerStart(_)
            | AuditEvent::EscalationHandedOver(_)
            | AuditEvent::EscalationResolved(_)
            | AuditEvent::EscalationUnreadable(_)
            | AuditEvent::Refusals(_) => SERVER,
        }
    }

    /// The record's body: the variant's fields as JSON.
    pub fn body(&self) -> Result<Value, EventError> {
        let unencodable = |problem: String| EventError::Unencodable {
            kind: self.kind(),
            problem,
        };
        match serde_json::to_value(self).map_err(|e| unencodable(e.to_string()))? {
            Value::Object(mut tagged) => tagged
                .remove("body")
                .ok_or_else(|| unencodable("no body".into())),
            _ => Err(unencodable("not an object".into())),
        }
    }

    /// Reads a stored record back: its kind, actor and body must fit one variant.
    pub fn parse(kind: &str, actor: &str, body: &Value) -> Result<AuditEvent, EventError> {
        let Some(&known) = Self::KINDS.iter().find(|k| **k == kind) else {
            return Err(EventError::UnknownKind(kind.to_string()));
        };
        let tagged = serde_json::json!({ "kind": known, "body": body });
        let mut event: AuditEvent =
            serde_json::from_value(tagged).map_err(|e| EventError::Body {
                kind: known,
                problem: e.to_string(),
            })?;
        if let AuditEvent::Refused(r) = &mut event {
            r.actor = actor.to_string();
        }
        if event.actor() != actor {
            return Err(EventError::Actor {
                kind: known,
                actual: actor.to_string(),
                expected: event.actor().to_string(),
            });
        }
        Ok(event)
    }

    /// The typed columns the record is found by.
    pub fn index(&self) -> AuditIndex<'_> {
        let none = AuditIndex::default();
        match self {
            AuditEvent::ServerStart(_) | AuditEvent::Refused(_) | AuditEvent::Refusals(_) => none,
            AuditEvent::Action(a) => AuditIndex {
                agent: Some(&a.agent),
                tool: Some(&a.tool),
                action: Some(&a.action),
                escalation: None,
                verdict: Some(a.effect.as_str()),
            },
            AuditEvent::EscalationCreated(e) => AuditIndex {
                agent: Some(&e.agent),
                tool: Some(&e.tool),
                action: Some(&e.action),
                escalation: Some(&e.escalation),
                verdict: None,
            },
            AuditEvent::EscalationHandedOver(e) => AuditIndex {
                agent: Some(&e.agent),
                action: Some(&e.action),
                escalation: Some(&e.escalation),
                ..none
            },
            AuditEvent::EscalationResolved(e) => AuditIndex {
                agent: Some(&e.agent),
                tool: Some(&e.tool),
                action: Some(&e.action),
                escalation: Some(&e.escalation),
                verdict: e.resolution.map(resolution_name),
            },
            AuditEvent::EscalationUnreadable(e) => AuditIndex {
                agent: e.agent.as_deref(),
                tool: None,
                action: Some(&e.action),
                escalation: Some(&e.escalation),
                verdict: Some(resolution_name(e.resolution)),
            },
            AuditEvent::Withdrawn(w) => AuditIndex {
                agent: Some(&w.agent),
                tool: Some(&w.tool),
                action: Some(&w.action),
                escalation: Some(&w.escalation),
                verdict: None,
            },
            AuditEvent::Decision(d) => AuditIndex {
                agent: Some(&d.agent),
                tool: Some(&d.tool),
                action: Some(&d.action),
                escalation: Some(&d.escalation),
                verdict: Some(vote_name(d.verdict)),
            },
            AuditEvent::Killswitch(k) => AuditIndex {
                agent: k.agent.as_deref(),
                ..none
            },
            AuditEvent::FlagReview(f) => AuditIndex {
                agent: Some(&f.agent),
                tool: Some(&f.tool),
                action: Some(&f.action),
                ..none
            },
        }
    }
}

/// Constructors from the values at hand where each record is written.
impl AuditEvent {
    /// A submitted call and the policy's answer; `rule` is the deciding rule's id, `raised_by`
    /// the ids of the other rules that asked for a review.
    pub fn action(
        record: &ActionRecord,
        digest: &str,
        effect: Effect,
        rule: Option<&str>,
        reason: &str,
        raised_by: Vec<String>,
    ) -> AuditEvent {
        AuditEvent::Action(Box::new(ActionTaken {
            action: record.id.clone(),
            agent: record.agent.clone(),
            tool: record.tool.clone(),
            args: record.args.clone(),
            session: record.session.clone(),
            on_behalf_of: record.on_behalf_of.clone(),
            rationale: record.rationale.clone(),
            cost: record.cost,
            parent: record.parent.clone(),
            context: record.context.clone(),
            digest: digest.to_string(),
            policy_version: record.policy_version.clone(),
            effect,
            rule: rule.map(str::to_string),
            reason: reason.to_string(),
            submitted_at: Some(record.submitted_at),
            raised_by,
        }))
    }

    /// An escalation as created, with the history it was created with.
    pub fn escalation_created(esc: &Escalation) -> AuditEvent {
        AuditEvent::EscalationCreated(EscalationCreated {
            escalation: esc.id.clone(),
            action: esc.action.id.clone(),
            agent: esc.action.agent.clone(),
            tool: esc.action.tool.clone(),
            digest: esc.digest.clone(),
            rule: esc.rule.id.clone(),
            group: esc.group.clone(),
            approvals_required: esc.approvals_required,
            deadline: esc.deadline,
            history: esc.history.iter().map(|h| h.action.clone()).collect(),
        })
    }

    /// `before` handed over as `after` (its new group and deadline).
    pub fn escalation_handed_over(before: &Escalation, after: &Escalation) -> AuditEvent {
        AuditEvent::EscalationHandedOver(EscalationHandedOver {
            escalation: after.id.clone(),
            action: after.action.id.clone(),
            agent: after.action.agent.clone(),
            from: before.group.clone(),
            to: after.group.clone(),
            deadline: after.deadline,
        })
    }

    /// An escalation as closed (approved, denied, expired or cancelled).
    pub fn escalation_resolved(esc: &Escalation) -> AuditEvent {
        AuditEvent::EscalationResolved(EscalationResolved {
            escalation: esc.id.clone(),
            action: esc.action.id.clone(),
            agent: esc.action.agent.clone(),
            tool: esc.action.tool.clone(),
            resolution: esc.state.resolution(),
            reason: esc.resolution_reason.clone(),
            deciders: esc
                .decisions
                .iter()
                .map(|d| Decider {
                    approver: d.body.approver.clone(),
                    verdict: d.body.verdict,
                })
                .collect(),
        })
    }

    /// A pending escalation whose stored row could not be loaded, denied at start.
    pub fn escalation_unreadable(
        escalation: &str,
        action: &str,
        agent: Option<String>,
        problem: &str,
    ) -> AuditEvent {
        AuditEvent::EscalationUnreadable(EscalationUnreadable {
            escalation: escalation.to_string(),
            action: action.to_string(),
            agent,
            problem: problem.to_string(),
            resolution: Resolution::Denied,
        })
    }

    /// The agent withdrew the call `esc` is for.
    pub fn withdrawn(esc: &Escalation) -> AuditEvent {
        AuditEvent::Withdrawn(Withdrawn {
            escalation: esc.id.clone(),
            action: esc.action.id.clone(),
            agent: esc.action.agent.clone(),
            tool: esc.action.tool.clone(),
        })
    }

    /// A person's signed vote on `esc`.
    pub fn decision(esc: &Escalation, d: &SignedDecision) -> AuditEvent {
        AuditEvent::Decision(Decision {
            escalation: esc.id.clone(),
            action: esc.action.id.clone(),
            agent: esc.action.agent.clone(),
            tool: esc.action.tool.clone(),
            digest: d.body.digest.clone(),
            verdict: d.body.verdict,
            reason: d.body.reason.clone(),
            approver: d.body.approver.clone(),
            issued_at: d.body.issued_at.clone(),
            signature: d.signature.clone(),
        })
    }

    /// A kill switch set to `switch` by the signed `flip`.
    pub fn killswitch(switch: &KillSwitch, flip: &SignedKillSwitch) -> AuditEvent {
        let agent = match Scope::parse(&switch.scope) {
            Some(Scope::Agent(a)) => Some(a),
            _ => None,
        };
        AuditEvent::Killswitch(KillswitchFlipped {
            scope: switch.scope.clone(),
            on: switch.on,
            reason: switch.reason.clone(),
            operator: switch.by.clone(),
            issued_at: flip.body.issued_at.clone(),
            signature: flip.signature.clone(),
            agent,
        })
    }

    /// A lead's signed review of `flagged`.
    pub fn flag_review(flagged: &FlaggedAction, r: &SignedFlagReview) -> AuditEvent {
        AuditEvent::FlagReview(FlagReviewed {
            action: flagged.action.id.clone(),
            agent: flagged.action.agent.clone(),
            tool: flagged.action.tool.clone(),
            review: r.body.review,
            note: r.body.note.clone(),
            reviewer: r.body.reviewer.clone(),
            issued_at: r.body.issued_at.clone(),
            signature: r.signature.clone(),
        })
    }

    /// A refused request of `actor`; the caller bounds `path` and `message`.
    pub fn refused(
        actor: &str,
        method: &str,
        path: String,
        status: u16,
        code: &str,
        message: String,
    ) -> AuditEvent {
        AuditEvent::Refused(Refused {
            actor: actor.to_string(),
            method: method.to_string(),
            path,
            status,
            code: code.to_string(),
            message,
        })
    }
}

#[cfg(test)]
#[path = "event_tests.rs"]
mod tests;
