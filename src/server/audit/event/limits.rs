//! The records of cost and rate governance: a limit a call would have gone past (written with
//! the call), the grace an approved budget escalation added (written with the approval), and
//! an agent's report of a call's actual cost (written with the changed cost).

use serde::{Deserialize, Serialize};

use super::AuditEvent;
use crate::protocol::{ActionRecord, Escalation, LimitUse, Timestamp};

/// A call that would have taken a limit's use past its maximum (grace included).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LimitExceeded {
    pub limit: String,
    pub action: String,
    pub agent: String,
    pub tool: String,
    pub session: String,
    /// "deny" or "review", as the limit says.
    pub on_exceed: String,
    /// The use before the call.
    pub calls: u64,
    pub cost: f64,
    pub max_calls: Option<u64>,
    pub max_cost: Option<f64>,
    pub grace_calls: u64,
    pub grace_cost: f64,
    pub window_start: Timestamp,
    pub resets_at: Timestamp,
}

/// Grace added to a limit's window by an approved budget escalation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraceGranted {
    pub limit: String,
    pub escalation: String,
    pub action: String,
    pub agent: String,
    pub session: Option<String>,
    pub grace_calls: u64,
    pub grace_cost: f64,
    pub window_start: Timestamp,
    pub resets_at: Timestamp,
}

/// An agent's report of a finished call's actual cost, replacing its estimate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostReported {
    pub action: String,
    pub agent: String,
    pub tool: String,
    pub estimate: Option<f64>,
    pub cost: f64,
}

impl AuditEvent {
    pub fn limit_exceeded(record: &ActionRecord, on_exceed: &str, used: &LimitUse) -> AuditEvent {
        AuditEvent::LimitExceeded(LimitExceeded {
            limit: used.limit.clone(),
            action: record.id.clone(),
            agent: record.agent.clone(),
            tool: record.tool.clone(),
            session: record.session.clone(),
            on_exceed: on_exceed.to_string(),
            calls: used.calls,
            cost: used.cost,
            max_calls: used.max_calls,
            max_cost: used.max_cost,
            grace_calls: used.grace_calls,
            grace_cost: used.grace_cost,
            window_start: used.window_start,
            resets_at: used.resets_at,
        })
    }

    /// The grace an approved budget escalation adds; `None` for any other escalation.
    pub fn grace_granted(esc: &Escalation) -> Option<AuditEvent> {
        let ask = esc.budget.as_ref()?;
        Some(AuditEvent::GraceGranted(GraceGranted {
            limit: ask.usage.limit.clone(),
            escalation: esc.id.clone(),
            action: esc.action.id.clone(),
            agent: esc.action.agent.clone(),
            session: ask.usage.session.clone(),
            grace_calls: ask.grace_calls,
            grace_cost: ask.grace_cost,
            window_start: ask.usage.window_start,
            resets_at: ask.usage.resets_at,
        }))
    }

    /// `estimate`: the cost the call had until now (its estimate, or an earlier report).
    pub fn cost_reported(
        action: &str,
        agent: &str,
        tool: &str,
        estimate: Option<f64>,
        cost: f64,
    ) -> AuditEvent {
        AuditEvent::CostReported(CostReported {
            action: action.to_string(),
            agent: agent.to_string(),
            tool: tool.to_string(),
            estimate,
            cost,
        })
    }
}

#[cfg(test)]
pub(super) mod tests {
    use chrono::{TimeZone, Utc};
    use serde_json::{json, Value};

    use super::*;

    /// Each governance event with its actor and the body it is written with.
    pub fn events() -> Vec<(AuditEvent, &'static str, Value)> {
        let t = Utc.timestamp_opt(1_790_000_000, 0).unwrap();
        let end = Utc.timestamp_opt(1_790_003_600, 0).unwrap();
        vec![
            (
                AuditEvent::LimitExceeded(LimitExceeded {
                    limit: "hourly".into(),
                    action: "act_1".into(),
                    agent: "bot".into(),
                    tool: "stripe.refund".into(),
                    session: "s".into(),
                    on_exceed: "deny".into(),
                    calls: 3,
                    cost: 1.5,
                    max_calls: Some(3),
                    max_cost: None,
                    grace_calls: 0,
                    grace_cost: 0.0,
                    window_start: t,
                    resets_at: end,
                }),
                "server",
                json!({"limit": "hourly", "action": "act_1", "agent": "bot",
                       "tool": "stripe.refund", "session": "s", "on_exceed": "deny",
                       "calls": 3, "cost": 1.5, "max_calls": 3, "max_cost": null,
                       "grace_calls": 0, "grace_cost": 0.0, "window_start": t,
                       "resets_at": end}),
            ),
            (
                AuditEvent::GraceGranted(GraceGranted {
                    limit: "hourly".into(),
                    escalation: "esc_1".into(),
                    action: "act_1".into(),
                    agent: "bot".into(),
                    session: None,
                    grace_calls: 2,
                    grace_cost: 0.0,
                    window_start: t,
                    resets_at: end,
                }),
                "server",
                json!({"limit": "hourly", "escalation": "esc_1", "action": "act_1",
                       "agent": "bot", "session": null, "grace_calls": 2, "grace_cost": 0.0,
                       "window_start": t, "resets_at": end}),
            ),
            (
                AuditEvent::CostReported(CostReported {
                    action: "act_1".into(),
                    agent: "bot".into(),
                    tool: "stripe.refund".into(),
                    estimate: Some(8.0),
                    cost: 2.0,
                }),
                "bot",
                json!({"action": "act_1", "agent": "bot", "tool": "stripe.refund",
                       "estimate": 8.0, "cost": 2.0}),
            ),
        ]
    }
}
