//! The records of circuit breakers: a trip (written in the same commit as the call that caused
//! it), a close after a good trial call (likewise), and an operator's signed reset.

use serde::{Deserialize, Serialize};

use super::AuditEvent;
use crate::protocol::{SignedBreakerReset, Timestamp};

/// A breaker opened for an agent: by the call `action`, for `reason`, until `until`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreakerTripped {
    pub breaker: String,
    pub agent: String,
    /// What tripped it, e.g. "6 escalations within 10m (max 5)".
    pub reason: String,
    /// `escalations` or `denied_share`: what the trial call after the cooldown is judged by.
    pub trigger: String,
    pub action: String,
    pub since: Timestamp,
    pub until: Timestamp,
}

/// A half-open breaker closed: its trial call `action` went through as it should.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreakerClosed {
    pub breaker: String,
    pub agent: String,
    pub action: String,
    pub reason: String,
    pub at: Timestamp,
}

/// An operator reset the agent's `breakers` (the ones that were open), signed once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreakerReset {
    pub agent: String,
    pub breakers: Vec<String>,
    pub operator: String,
    pub reason: String,
    pub at: Timestamp,
    pub issued_at: String,
    pub signature: String,
}

impl AuditEvent {
    pub fn breaker_reset(
        agent: &str,
        breakers: Vec<String>,
        signed: &SignedBreakerReset,
        at: Timestamp,
    ) -> AuditEvent {
        AuditEvent::BreakerReset(BreakerReset {
            agent: agent.to_string(),
            breakers,
            operator: signed.body.operator.clone(),
            reason: signed.body.reason.clone(),
            at,
            issued_at: signed.body.issued_at.clone(),
            signature: signed.signature.clone(),
        })
    }
}

#[cfg(test)]
pub(super) mod tests {
    use chrono::{TimeZone, Utc};
    use serde_json::{json, Value};

    use super::*;

    /// Each breaker event with its actor and the body it is written with.
    pub fn events() -> Vec<(AuditEvent, &'static str, Value)> {
        let t = Utc.timestamp_opt(1_790_000_000, 0).unwrap();
        let at = json!(t);
        vec![
            (
                AuditEvent::BreakerTripped(BreakerTripped {
                    breaker: "fatigue".into(),
                    agent: "bot".into(),
                    reason: "6 escalations within 10m (max 5)".into(),
                    trigger: "escalations".into(),
                    action: "act_1".into(),
                    since: t,
                    until: t,
                }),
                "server",
                json!({"breaker": "fatigue", "agent": "bot",
                    "reason": "6 escalations within 10m (max 5)", "trigger": "escalations",
                    "action": "act_1", "since": at, "until": at}),
            ),
            (
                AuditEvent::BreakerClosed(BreakerClosed {
                    breaker: "fatigue".into(),
                    agent: "bot".into(),
                    action: "act_2".into(),
                    reason: "trial".into(),
                    at: t,
                }),
                "server",
                json!({"breaker": "fatigue", "agent": "bot", "action": "act_2",
                    "reason": "trial", "at": at}),
            ),
            (
                AuditEvent::BreakerReset(BreakerReset {
                    agent: "bot".into(),
                    breakers: vec!["fatigue".into()],
                    operator: "alice".into(),
                    reason: "looked".into(),
                    at: t,
                    issued_at: "2026-01-01T00:00:00.000Z".into(),
                    signature: "sig-b".into(),
                }),
                "alice",
                json!({"agent": "bot", "breakers": ["fatigue"], "operator": "alice",
                    "reason": "looked", "at": at, "issued_at": "2026-01-01T00:00:00.000Z",
                    "signature": "sig-b"}),
            ),
        ]
    }
}
