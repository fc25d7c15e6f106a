//! The records of the approver's workflow: an extended deadline, a claim or its release, a
//! snooze, a reassign. Each is signed by the person it names (its actor) and carries the
//! signature, so the log alone shows who did it and that it was used once.

use serde::{Deserialize, Serialize};

use super::AuditEvent;
use crate::protocol::{
    Escalation, SignedClaim, SignedExtend, SignedReassign, SignedSnooze, Timestamp,
};

/// A deadline moved within the rule's `extend` allowance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Extended {
    pub escalation: String,
    pub action: String,
    pub agent: String,
    pub tool: String,
    pub person: String,
    pub by_secs: u64,
    /// The total moved so far, this one included.
    pub extended_secs: u64,
    /// The new deadline.
    pub deadline: Timestamp,
    pub reason: String,
    pub issued_at: String,
    pub signature: String,
}

/// A claim taken (`until` set) or released (`until` absent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claimed {
    pub escalation: String,
    pub action: String,
    pub agent: String,
    pub person: String,
    pub until: Option<Timestamp>,
    pub issued_at: String,
    pub signature: String,
}

/// A person's snooze: until when (as the server brought it forward), or ended (absent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snoozed {
    pub escalation: String,
    pub action: String,
    pub agent: String,
    pub person: String,
    pub until: Option<Timestamp>,
    pub issued_at: String,
    pub signature: String,
}

/// Handed to the rule's secondary group now, by a person, with the new deadline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reassigned {
    pub escalation: String,
    pub action: String,
    pub agent: String,
    pub from: String,
    pub to: String,
    pub deadline: Timestamp,
    pub person: String,
    pub reason: String,
    pub issued_at: String,
    pub signature: String,
}

impl AuditEvent {
    /// `after` is the escalation with its moved deadline.
    pub fn extended(after: &Escalation, s: &SignedExtend) -> AuditEvent {
        AuditEvent::Extended(Extended {
            escalation: after.id.clone(),
            action: after.action.id.clone(),
            agent: after.action.agent.clone(),
            tool: after.action.tool.clone(),
            person: s.body.person.clone(),
            by_secs: s.body.by_secs,
            extended_secs: after.handling.extended_secs,
            deadline: after.deadline,
            reason: s.body.reason.clone(),
            issued_at: s.body.issued_at.clone(),
            signature: s.signature.clone(),
        })
    }

    /// `after` holds the signer's claim, or none once released.
    pub fn claimed(after: &Escalation, s: &SignedClaim) -> AuditEvent {
        let body = Claimed {
            escalation: after.id.clone(),
            action: after.action.id.clone(),
            agent: after.action.agent.clone(),
            person: s.body.person.clone(),
            until: after.handling.claim.as_ref().map(|c| c.until),
            issued_at: s.body.issued_at.clone(),
            signature: s.signature.clone(),
        };
        if s.body.claim {
            AuditEvent::Claimed(body)
        } else {
            AuditEvent::Unclaimed(body)
        }
    }

    pub fn snoozed(after: &Escalation, s: &SignedSnooze, until: Option<Timestamp>) -> AuditEvent {
        AuditEvent::Snoozed(Snoozed {
            escalation: after.id.clone(),
            action: after.action.id.clone(),
            agent: after.action.agent.clone(),
            person: s.body.person.clone(),
            until,
            issued_at: s.body.issued_at.clone(),
            signature: s.signature.clone(),
        })
    }

    /// `before` handed over as `after` (its new group and deadline) by the signer.
    pub fn reassigned(before: &Escalation, after: &Escalation, s: &SignedReassign) -> AuditEvent {
        AuditEvent::Reassigned(Reassigned {
            escalation: after.id.clone(),
            action: after.action.id.clone(),
            agent: after.action.agent.clone(),
            from: before.group.clone(),
            to: after.group.clone(),
            deadline: after.deadline,
            person: s.body.person.clone(),
            reason: s.body.reason.clone(),
            issued_at: s.body.issued_at.clone(),
            signature: s.signature.clone(),
        })
    }
}

#[cfg(test)]
pub(super) mod tests {
    use chrono::{TimeZone, Utc};
    use serde_json::{json, Value};

    use super::*;
    use crate::protocol::{ClaimBody, ExtendBody, ReassignBody, SnoozeBody};

    /// Each workflow event with its actor and the body it is written with.
    pub fn events() -> Vec<(AuditEvent, &'static str, Value)> {
        let t = Utc.timestamp_opt(1_790_000_000, 0).unwrap();
        let issued = "2026-01-01T00:00:00.000Z".to_string();
        let base = |kind: &str, extra: Value| {
            let mut body = json!({"escalation": "esc_1", "action": "act_1", "agent": "bot",
                "person": "carol", "issued_at": issued, "signature": format!("sig-{kind}")});
            if let (Some(b), Some(x)) = (body.as_object_mut(), extra.as_object()) {
                b.extend(x.clone());
            }
            body
        };
        let common = |kind: &str| {
            (
                "esc_1".to_string(),
                "act_1".to_string(),
                "bot".to_string(),
                "carol".to_string(),
                issued.clone(),
                format!("sig-{kind}"),
            )
        };
        let (e, a, g, p, i, s) = common("extended");
        let extended = AuditEvent::Extended(Extended {
            escalation: e,
            action: a,
            agent: g,
            tool: "bank.wire".into(),
            person: p,
            by_secs: 300,
            extended_secs: 600,
            deadline: t,
            reason: "why".into(),
            issued_at: i,
            signature: s,
        });
        let (e, a, g, p, i, s) = common("claimed");
        let claimed = AuditEvent::Claimed(Claimed {
            escalation: e,
            action: a,
            agent: g,
            person: p,
            until: Some(t),
            issued_at: i,
            signature: s,
        });
        let (e, a, g, p, i, s) = common("unclaimed");
        let unclaimed = AuditEvent::Unclaimed(Claimed {
            escalation: e,
            action: a,
            agent: g,
            person: p,
            until: None,
            issued_at: i,
            signature: s,
        });
        let (e, a, g, p, i, s) = common("snoozed");
        let snoozed = AuditEvent::Snoozed(Snoozed {
            escalation: e,
            action: a,
            agent: g,
            person: p,
            until: Some(t),
            issued_at: i,
            signature: s,
        });
        let (e, a, g, p, i, s) = common("reassigned");
        let reassigned = AuditEvent::Reassigned(Reassigned {
            escalation: e,
            action: a,
            agent: g,
            from: "ops".into(),
            to: "backup".into(),
            deadline: t,
            person: p,
            reason: "off shift".into(),
            issued_at: i,
            signature: s,
        });
        let when = json!(t);
        vec![
            (
                extended,
                "carol",
                base(
                    "extended",
                    json!({"tool": "bank.wire", "by_secs": 300, "extended_secs": 600,
                           "deadline": when, "reason": "why"}),
                ),
            ),
            (claimed, "carol", base("claimed", json!({"until": when}))),
            (
                unclaimed,
                "carol",
                base("unclaimed", json!({"until": null})),
            ),
            (snoozed, "carol", base("snoozed", json!({"until": when}))),
            (
                reassigned,
                "carol",
                base(
                    "reassigned",
                    json!({"from": "ops", "to": "backup", "deadline": when,
                           "reason": "off shift"}),
                ),
            ),
        ]
    }

    #[test]
    fn the_builders_take_the_person_and_signature_from_the_signed_body() {
        let now = Utc::now();
        let mut esc: Escalation = serde_json::from_value(json!({
            "id": "esc_1", "digest": "d", "history": [], "group": "ops",
            "approvals_required": 1, "separate_owner": false, "created_at": now,
            "deadline": now, "state": "pending",
            "rule": {"id": "r", "effect": "review", "reason": "r"},
            "action": {"id": "act_1", "agent": "bot", "tool": "t", "args": {}, "session": "s",
                       "submitted_at": now, "policy_version": "v"}
        }))
        .unwrap();
        esc.handling.extended_secs = 90;
        let signed = SignedExtend {
            body: ExtendBody {
                escalation: "esc_1".into(),
                by_secs: 90,
                reason: "r".into(),
                person: "dave".into(),
                issued_at: "t".into(),
            },
            signature: "sig".into(),
        };
        let e = AuditEvent::extended(&esc, &signed);
        assert_eq!((e.kind(), e.actor()), ("extended", "dave"));
        let claim = SignedClaim {
            body: ClaimBody {
                escalation: "esc_1".into(),
                claim: false,
                person: "dave".into(),
                issued_at: "t".into(),
            },
            signature: "sig".into(),
        };
        assert_eq!(AuditEvent::claimed(&esc, &claim).kind(), "unclaimed");
        let snooze = SignedSnooze {
            body: SnoozeBody {
                escalation: "esc_1".into(),
                until: "t".into(),
                person: "dave".into(),
                issued_at: "t".into(),
            },
            signature: "sig".into(),
        };
        assert_eq!(AuditEvent::snoozed(&esc, &snooze, None).actor(), "dave");
        let reassign = SignedReassign {
            body: ReassignBody {
                escalation: "esc_1".into(),
                reason: "r".into(),
                person: "dave".into(),
                issued_at: "t".into(),
            },
            signature: "sig".into(),
        };
        let mut after = esc.clone();
        after.group = "backup".into();
        let r = AuditEvent::reassigned(&esc, &after, &reassign);
        assert_eq!(r.index().escalation, Some("esc_1"));
    }
}
