//! The audit records the queue writes, one function per kind, so the record's shape lives in
//! one place (and can become a typed audit event without touching the queue's logic).

use serde_json::json;

use crate::protocol::{Escalation, SignedDecision};
use crate::server::audit::AuditEntry;

pub(crate) fn resolved_entry(esc: &Escalation) -> AuditEntry {
    AuditEntry::new(
        "escalation_resolved",
        "server",
        json!({
            "escalation": esc.id, "action": esc.action.id, "agent": esc.action.agent, "tool": esc.action.tool,
            "resolution": esc.state.resolution(), "reason": esc.resolution_reason,
            "deciders": esc.decisions.iter().map(|d| json!({"approver": d.body.approver, "verdict": d.body.verdict})).collect::<Vec<_>>(),
        }),
    )
}

pub(super) fn decision_entry(esc: &Escalation, d: &SignedDecision) -> AuditEntry {
    AuditEntry::new(
        "decision",
        d.body.approver.clone(),
        json!({
            "escalation": esc.id, "action": esc.action.id, "agent": esc.action.agent, "tool": esc.action.tool,
            "digest": d.body.digest, "verdict": d.body.verdict, "reason": d.body.reason,
            "approver": d.body.approver, "issued_at": d.body.issued_at, "signature": d.signature,
        }),
    )
}

pub(super) fn handed_over_entry(next: &Escalation, from: &str) -> AuditEntry {
    AuditEntry::new(
        "escalation_handed_over",
        "server",
        json!({"escalation": next.id, "action": next.action.id, "agent": next.action.agent,
               "from": from, "to": next.group, "deadline": next.deadline}),
    )
}

pub(super) fn withdrawn_entry(esc: &Escalation, agent: &str, action_id: &str) -> AuditEntry {
    AuditEntry::new(
        "withdrawn",
        agent.to_string(),
        json!({"escalation": esc.id, "action": action_id, "agent": agent, "tool": esc.action.tool}),
    )
}
