//! The audit schema: one variant per kind of record the server writes, with typed fields.
//!
//! A record's body is its variant's fields as JSON, with exactly the keys the server has always
//! written, so databases written before this type existed still verify and replay. The writer
//! appends only events, and the verifier reads bodies back only through [`AuditEvent::parse`]:
//! a body that does not fit its kind is a named failure, never skipped.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::protocol::{Resolution, Vote};

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
    Retried(Retried),
    Decision(Decision),
    Killswitch(KillswitchFlipped),
    FlagReview(FlagReviewed),
    Refused(Refused),
    Refusals(RefusalCounts),
    Extended(Extended),
    Claimed(Claimed),
    Unclaimed(Claimed),
    Snoozed(Snoozed),
    Reassigned(Reassigned),
    GrantCreated(GrantCreated),
    GrantRevoked(GrantRevoked),
    GrantUsed(GrantUsed),
    LimitExceeded(LimitExceeded),
    GraceGranted(GraceGranted),
    CostReported(CostReported),
    BreakerTripped(BreakerTripped),
    BreakerClosed(BreakerClosed),
    BreakerReset(BreakerReset),
    ActionsPruned(ActionsPruned),
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
    pub const KINDS: [&'static str; 28] = [
        "server_start",
        "action",
        "escalation_created",
        "escalation_handed_over",
        "escalation_resolved",
        "escalation_unreadable",
        "withdrawn",
        "retried",
        "decision",
        "killswitch",
        "flag_review",
        "refused",
        "refusals",
        "extended",
        "claimed",
        "unclaimed",
        "snoozed",
        "reassigned",
        "grant_created",
        "grant_revoked",
        "grant_used",
        "limit_exceeded",
        "grace_granted",
        "cost_reported",
        "breaker_tripped",
        "breaker_closed",
        "breaker_reset",
        "actions_pruned",
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
            AuditEvent::Retried(_) => "retried",
            AuditEvent::Decision(_) => "decision",
            AuditEvent::Killswitch(_) => "killswitch",
            AuditEvent::FlagReview(_) => "flag_review",
            AuditEvent::Refused(_) => "refused",
            AuditEvent::Refusals(_) => "refusals",
            AuditEvent::Extended(_) => "extended",
            AuditEvent::Claimed(_) => "claimed",
            AuditEvent::Unclaimed(_) => "unclaimed",
            AuditEvent::Snoozed(_) => "snoozed",
            AuditEvent::Reassigned(_) => "reassigned",
            AuditEvent::GrantCreated(_) => "grant_created",
            AuditEvent::GrantRevoked(_) => "grant_revoked",
            AuditEvent::GrantUsed(_) => "grant_used",
            AuditEvent::LimitExceeded(_) => "limit_exceeded",
            AuditEvent::GraceGranted(_) => "grace_granted",
            AuditEvent::CostReported(_) => "cost_reported",
            AuditEvent::BreakerTripped(_) => "breaker_tripped",
            AuditEvent::BreakerClosed(_) => "breaker_closed",
            AuditEvent::BreakerReset(_) => "breaker_reset",
            AuditEvent::ActionsPruned(_) => "actions_pruned",
        }
    }

    /// Who the record is by: the agent, the person who signed, or the server.
    pub fn actor(&self) -> &str {
        match self {
            AuditEvent::Action(a) => &a.agent,
            AuditEvent::EscalationCreated(e) => &e.agent,
            AuditEvent::Withdrawn(w) => &w.agent,
            AuditEvent::Retried(r) => &r.agent,
            AuditEvent::Decision(d) => &d.approver,
            AuditEvent::Killswitch(k) => &k.operator,
            AuditEvent::FlagReview(f) => &f.reviewer,
            AuditEvent::Refused(r) => &r.actor,
            AuditEvent::Extended(e) => &e.person,
            AuditEvent::Claimed(c) | AuditEvent::Unclaimed(c) => &c.person,
            AuditEvent::Snoozed(s) => &s.person,
            AuditEvent::Reassigned(r) => &r.person,
            AuditEvent::GrantCreated(g) => &g.approver,
            AuditEvent::GrantRevoked(g) => &g.revoker,
            // The approver whose grant stood in for their approval of this call.
            AuditEvent::GrantUsed(g) => &g.by,
            AuditEvent::CostReported(c) => &c.agent,
            AuditEvent::BreakerReset(b) => &b.operator,
            AuditEvent::ServerStart(_)
            | AuditEvent::EscalationHandedOver(_)
            | AuditEvent::EscalationResolved(_)
            | AuditEvent::EscalationUnreadable(_)
            | AuditEvent::Refusals(_)
            | AuditEvent::LimitExceeded(_)
            | AuditEvent::GraceGranted(_)
            | AuditEvent::ActionsPruned(_) => SERVER,
            AuditEvent::BreakerTripped(_) | AuditEvent::BreakerClosed(_) => SERVER,
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

    /// [`AuditEvent::parse`] straight from a body text in canonical JSON (no duplicate keys, as
    /// the verifier checks first), without building the JSON tree; `None` where `parse` of the
    /// parsed text would fail, which then names the problem.
    pub fn parse_canonical(kind: &str, actor: &str, body_text: &str) -> Option<AuditEvent> {
        let known = Self::KINDS.iter().find(|k| **k == kind)?;
        // The tag first, so serde reads the body straight into its variant.
        let mut tagged = String::with_capacity(body_text.len() + known.len() + 20);
        tagged.push_str("{\"kind\":\"");
        tagged.push_str(known);
        tagged.push_str("\",\"body\":");
        tagged.push_str(body_text);
        tagged.push('}');
        let mut event: AuditEvent = serde_json::from_str(&tagged).ok()?;
        if let AuditEvent::Refused(r) = &mut event {
            r.actor = actor.to_string();
        }
        (event.actor() == actor).then_some(event)
    }

    /// The typed columns the record is found by.
    pub fn index(&self) -> AuditIndex<'_> {
        let none = AuditIndex::default();
        match self {
            AuditEvent::ServerStart(_)
            | AuditEvent::Refused(_)
            | AuditEvent::Refusals(_)
            | AuditEvent::ActionsPruned(_) => none,
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
            AuditEvent::Retried(r) => AuditIndex {
                agent: Some(&r.agent),
                tool: Some(&r.tool),
                action: Some(&r.action),
                escalation: r.escalation.as_deref(),
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
            AuditEvent::Extended(e) => AuditIndex {
                agent: Some(&e.agent),
                tool: Some(&e.tool),
                action: Some(&e.action),
                escalation: Some(&e.escalation),
                verdict: None,
            },
            AuditEvent::Claimed(c) | AuditEvent::Unclaimed(c) => AuditIndex {
                agent: Some(&c.agent),
                action: Some(&c.action),
                escalation: Some(&c.escalation),
                ..none
            },
            AuditEvent::Snoozed(s) => AuditIndex {
                agent: Some(&s.agent),
                action: Some(&s.action),
                escalation: Some(&s.escalation),
                ..none
            },
            AuditEvent::Reassigned(r) => AuditIndex {
                agent: Some(&r.agent),
                action: Some(&r.action),
                escalation: Some(&r.escalation),
                ..none
            },
            AuditEvent::GrantCreated(g) => AuditIndex {
                agent: Some(&g.agent),
                tool: Some(&g.tool),
                ..none
            },
            AuditEvent::GrantRevoked(g) => AuditIndex {
                agent: Some(&g.agent),
                ..none
            },
            AuditEvent::GrantUsed(g) => AuditIndex {
                agent: Some(&g.agent),
                tool: Some(&g.tool),
                action: Some(&g.action),
                escalation: None,
                verdict: None,
            },
            AuditEvent::LimitExceeded(l) => AuditIndex {
                agent: Some(&l.agent),
                tool: Some(&l.tool),
                action: Some(&l.action),
                ..none
            },
            AuditEvent::GraceGranted(g) => AuditIndex {
                agent: Some(&g.agent),
                action: Some(&g.action),
                escalation: Some(&g.escalation),
                ..none
            },
            AuditEvent::CostReported(c) => AuditIndex {
                agent: Some(&c.agent),
                tool: Some(&c.tool),
                action: Some(&c.action),
                ..none
            },
            AuditEvent::BreakerTripped(b) => AuditIndex {
                agent: Some(&b.agent),
                action: Some(&b.action),
                ..none
            },
            AuditEvent::BreakerClosed(b) => AuditIndex {
                agent: Some(&b.agent),
                action: Some(&b.action),
                ..none
            },
            AuditEvent::BreakerReset(b) => AuditIndex {
                agent: Some(&b.agent),
                ..none
            },
        }
    }
}

mod breakers;
mod grants;
mod handling;
mod limits;
mod new;
mod records;

pub use breakers::{BreakerClosed, BreakerReset, BreakerTripped};
pub use grants::*;
pub use handling::{Claimed, Extended, Reassigned, Snoozed};
pub use limits::{CostReported, GraceGranted, LimitExceeded};
pub use records::*;

#[cfg(test)]
pub(crate) mod tests;
