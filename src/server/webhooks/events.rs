//! What a webhook is told: audit records of the kinds that matter, mapped to events, and the
//! near-deadline warning for a pending escalation.
//!
//! The audit log is the outbox: every event comes from a committed record (or, for the warning,
//! a stored pending escalation), so nothing is sent that the server might not have done.

use serde::Serialize;
use serde_json::Value;

use crate::config::webhook::EventType;
use crate::protocol::{AuditRecord, Escalation, Resolution, Timestamp};
use crate::server::audit::{AuditEvent, Decider};

/// The longest string an event carries; longer ones are cut (an agent's tool name or a
/// person's reason must not be able to make a page unreadable or huge).
const MAX_TEXT: usize = 1000;

/// One thing to tell a webhook.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Stable across retries and restarts, for the receiver to deduplicate.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub time: Timestamp,
    pub data: EventData,
}

/// The event's details; which fields are present depends on its type.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EventData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub escalation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<String>,
    /// The rule that asked for the review, and its reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The rule's reason; for a kill switch, the operator's; for a breaker, the breaker's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The approver group asked now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approvals_required: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Timestamp>,
    /// approved, denied, expired, cancelled or handed_over.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution_reason: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deciders: Vec<Decider>,
    /// Kill switches: `global`, `agent:ID` or `tool:NAME`, and whether it is on now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breaker: Option<String>,
}

fn text(s: &str) -> String {
    match s.char_indices().nth(MAX_TEXT) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_string(),
    }
}

fn opt(s: Option<&str>) -> Option<String> {
    s.map(text)
}

fn resolution_name(r: Option<Resolution>) -> &'static str {
    match r {
        Some(Resolution::Approved) => "approved",
        Some(Resolution::Denied) => "denied",
        Some(Resolution::Expired) => "expired",
        Some(Resolution::Cancelled) => "cancelled",
        None => "resolved",
    }
}

/// The audit kind a breaker trip is recorded as (`audit::BreakerTripped`); a record of this
/// kind maps to the event by the fields named here.
pub const BREAKER_TRIPPED_KIND: &str = "breaker_tripped";

/// The event a record stands for, if any. Kinds without one (actions, votes, refusals…) and
/// records that do not read as their kind give none (the latter are logged).
pub fn from_record(rec: &AuditRecord) -> Option<Event> {
    let event = |kind, data| {
        Some(Event {
            id: format!("evt_{}", rec.seq),
            kind,
            time: rec.time,
            data,
        })
    };
    if rec.kind == BREAKER_TRIPPED_KIND {
        let field = |k: &str| rec.body.get(k).and_then(Value::as_str).map(text);
        return event(
            EventType::BreakerTripped,
            EventData {
                agent: field("agent"),
                breaker: field("breaker").or_else(|| field("id")),
                reason: field("reason"),
                ..EventData::default()
            },
        );
    }
    if !matches!(
        rec.kind.as_str(),
        "escalation_created"
            | "escalation_resolved"
            | "escalation_handed_over"
            | "escalation_unreadable"
            | "killswitch"
    ) {
        return None;
    }
    let parsed = match AuditEvent::parse(&rec.kind, &rec.actor, &rec.body) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(seq = rec.seq, "webhooks: audit record not read: {e}");
            return None;
        }
    };
    match parsed {
        AuditEvent::EscalationCreated(c) => event(
            EventType::EscalationCreated,
            EventData {
                escalation: Some(c.escalation),
                action: Some(c.action),
                agent: Some(text(&c.agent)),
                tool: Some(text(&c.tool)),
                rule: Some(text(&c.rule)),
                group: Some(text(&c.group)),
                approvals_required: Some(c.approvals_required),
                deadline: Some(c.deadline),
                ..EventData::default()
            },
        ),
        AuditEvent::EscalationResolved(r) => event(
            EventType::EscalationResolved,
            EventData {
                escalation: Some(r.escalation),
                action: Some(r.action),
                agent: Some(text(&r.agent)),
                tool: Some(text(&r.tool)),
                resolution: Some(resolution_name(r.resolution).into()),
                resolution_reason: opt(r.reason.as_deref()),
                deciders: r.deciders,
                ..EventData::default()
            },
        ),
        AuditEvent::EscalationHandedOver(h) => event(
            EventType::EscalationResolved,
            EventData {
                escalation: Some(h.escalation),
                action: Some(h.action),
                agent: Some(text(&h.agent)),
                group: Some(text(&h.to)),
                deadline: Some(h.deadline),
                resolution: Some("handed_over".into()),
                resolution_reason: Some(text(&format!(
                    "no decision in time: handed over from {} to {}",
                    h.from, h.to
                ))),
                ..EventData::default()
            },
        ),
        AuditEvent::EscalationUnreadable(u) => event(
            EventType::EscalationResolved,
            EventData {
                escalation: Some(u.escalation),
                action: Some(u.action),
                agent: opt(u.agent.as_deref()),
                resolution: Some(resolution_name(Some(u.resolution)).into()),
                resolution_reason: Some(text(&format!("unreadable at start: {}", u.problem))),
                ..EventData::default()
            },
        ),
        AuditEvent::Killswitch(k) => event(
            EventType::KillswitchFlipped,
            EventData {
                agent: opt(k.agent.as_deref()),
                scope: Some(text(&k.scope)),
                on: Some(k.on),
                reason: Some(text(&k.reason)),
                operator: Some(text(&k.operator)),
                ..EventData::default()
            },
        ),
        _ => None,
    }
}

/// Adds what the audit record leaves out and the stored escalation knows (the rule and its
/// reason, who the call is on behalf of), without overwriting what the record says.
pub fn enrich(data: &mut EventData, esc: &Escalation) {
    data.rule.get_or_insert_with(|| text(&esc.rule.id));
    data.reason.get_or_insert_with(|| text(&esc.rule.reason));
    data.tool.get_or_insert_with(|| text(&esc.action.tool));
    data.group.get_or_insert_with(|| text(&esc.group));
    data.approvals_required
        .get_or_insert(esc.approvals_required);
    if data.on_behalf_of.is_none() {
        data.on_behalf_of = opt(esc.action.on_behalf_of.as_deref());
    }
}

/// The id of the warning for `esc`'s current deadline: one per deadline, so a hand-over (a new
/// deadline for a new group) warns again, and a restart does not.
pub fn near_deadline_id(esc: &Escalation) -> String {
    format!("near_{}_{}", esc.id, esc.deadline.timestamp())
}

/// The warning that `esc`'s deadline is near.
pub fn near_deadline(esc: &Escalation, now: Timestamp) -> Event {
    let mut data = EventData {
        escalation: Some(esc.id.clone()),
        action: Some(esc.action.id.clone()),
        agent: Some(text(&esc.action.agent)),
        deadline: Some(esc.deadline),
        ..EventData::default()
    };
    enrich(&mut data, esc);
    Event {
        id: near_deadline_id(esc),
        kind: EventType::EscalationNearDeadline,
        time: now,
        data,
    }
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
