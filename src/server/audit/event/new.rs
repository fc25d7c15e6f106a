//! Building events from the values at hand where each record is written.

use super::{
    ActionTaken, AuditEvent, Decider, Decision, EscalationCreated, EscalationHandedOver,
    EscalationResolved, EscalationUnreadable, FlagReviewed, KillswitchFlipped, Refused, Retried,
    RetryMatch, Withdrawn,
};
use crate::protocol::{
    ActionRecord, Effect, Escalation, FlaggedAction, KillSwitch, Resolution, Scope, SignedDecision,
    SignedFlagReview, SignedKillSwitch,
};

impl AuditEvent {
    /// A submitted call and the policy's answer; `rule` is the deciding rule's id, `raised_by`
    /// the ids of the other rules that asked for a review, `idempotency_key` the call's key.
    pub fn action(
        record: &ActionRecord,
        digest: &str,
        effect: Effect,
        rule: Option<&str>,
        reason: &str,
        raised_by: Vec<String>,
        idempotency_key: Option<&str>,
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
            digest: matches!(effect, Effect::Review | Effect::Flag).then(|| digest.to_string()),
            policy_version: record.policy_version.clone(),
            effect,
            rule: rule.map(str::to_string),
            reason: reason.to_string(),
            submitted_at: Some(record.submitted_at),
            raised_by,
            idempotency_key: idempotency_key.map(str::to_string),
            grant: None,
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

    /// The call `retry` answered with action `original`'s outcome, found by `matched`.
    pub fn retried(
        retry: &ActionRecord,
        original: &str,
        escalation: Option<&str>,
        matched: RetryMatch,
        idempotency_key: Option<&str>,
    ) -> AuditEvent {
        AuditEvent::Retried(Retried {
            action: original.to_string(),
            agent: retry.agent.clone(),
            tool: retry.tool.clone(),
            session: retry.session.clone(),
            escalation: escalation.map(str::to_string),
            matched,
            idempotency_key: idempotency_key.map(str::to_string),
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
