//! Separation of duties: who may vote on an escalation, and how. The server enforces this; the
//! console calls the same function to explain why an escalation is not yours.

use super::wire::{Escalation, EscalationState, PersonInfo, Role, Vote};

/// Why a person may not cast a vote on an escalation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotYours {
    #[error("you are not an approver")]
    NotApprover,
    #[error("you are not in the approver group `{0}`")]
    OutsideGroup(String),
    #[error("the action is on your behalf; someone else must approve it")]
    Requester,
    #[error("you own this agent and the rule requires a separate approver")]
    Owner,
    #[error("you have already voted")]
    AlreadyVoted,
    #[error("it is no longer pending")]
    NotPending,
}

impl NotYours {
    /// The API error code the server answers with for this refusal.
    pub fn code(&self) -> &'static str {
        match self {
            NotYours::NotApprover => "not_approver",
            NotYours::OutsideGroup(_) => "outside_group",
            NotYours::Requester => "self_approval",
            NotYours::Owner => "owner_approval",
            NotYours::AlreadyVoted => "already_voted",
            NotYours::NotPending => "not_pending",
        }
    }
}

/// May `person` cast `vote` on `esc`? (Signature, digest and deadline are checked separately by
/// the server.)
///
/// Approvals keep every rule. Stopping something done in your name is always allowed: the person
/// the action is on behalf of may deny it whatever their role or group, and the agent's owner
/// may deny under `separate_owner` when they are otherwise eligible.
pub fn may_decide(esc: &Escalation, person: &PersonInfo, vote: Vote) -> Result<(), NotYours> {
    if esc.state != EscalationState::Pending {
        return Err(NotYours::NotPending);
    }
    if esc.decisions.iter().any(|d| d.body.approver == person.id) {
        return Err(NotYours::AlreadyVoted);
    }
    let terms = ApprovalTerms::of(esc);
    if vote == Vote::Approve {
        return may_approve(&terms, person);
    }
    if terms.on_behalf_of == Some(person.id.as_str()) {
        return Ok(());
    }
    terms.eligible(person)
}

/// What an approval of one call needs, whether it is cast on an escalation or stands as a grant
/// over calls like it: the group asked, and the people kept apart from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApprovalTerms<'a> {
    pub group: &'a str,
    pub on_behalf_of: Option<&'a str>,
    pub agent_owner: Option<&'a str>,
    pub separate_owner: bool,
}

impl<'a> ApprovalTerms<'a> {
    pub fn of(esc: &'a Escalation) -> ApprovalTerms<'a> {
        ApprovalTerms {
            group: &esc.group,
            on_behalf_of: esc.action.on_behalf_of.as_deref(),
            agent_owner: esc.agent_owner.as_deref(),
            separate_owner: esc.separate_owner,
        }
    }

    /// Role and group: what binds every vote but the requester's deny.
    fn eligible(&self, person: &PersonInfo) -> Result<(), NotYours> {
        if !person.has_role(Role::Approver) {
            return Err(NotYours::NotApprover);
        }
        if !person.groups.iter().any(|g| g == self.group) {
            return Err(NotYours::OutsideGroup(self.group.to_string()));
        }
        Ok(())
    }
}

/// May `person` approve a call on these terms? The one rule for approvals: escalations
/// ([`may_decide`]) and standing grants (the server, at each use) both ask it.
pub fn may_approve(terms: &ApprovalTerms<'_>, person: &PersonInfo) -> Result<(), NotYours> {
    terms.eligible(person)?;
    if terms.on_behalf_of == Some(person.id.as_str()) {
        return Err(NotYours::Requester);
    }
    if terms.separate_owner && terms.agent_owner == Some(person.id.as_str()) {
        return Err(NotYours::Owner);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::wire::{ActionRecord, DecisionBody, Effect, RuleRef, SignedDecision};
    use serde_json::json;

    fn person(id: &str, roles: &[Role], groups: &[&str]) -> PersonInfo {
        PersonInfo {
            id: id.into(),
            name: id.into(),
            roles: roles.to_vec(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    /// A pending escalation for group `finance`, by an agent owned by `owner`, on behalf of
    /// `requester`, with owner separation.
    fn escalation(requester: Option<&str>, owner: &str) -> Escalation {
        let now = chrono::Utc::now();
        Escalation {
            id: "esc_1".into(),
            action: ActionRecord {
                id: "act_1".into(),
                agent: "bot".into(),
                tool: "stripe.refund".into(),
                args: json!({}),
                session: "s".into(),
                on_behalf_of: requester.map(str::to_string),
                rationale: None,
                cost: None,
                parent: None,
                context: json!({}),
                submitted_at: now,
                policy_version: "v".into(),
            },
            digest: "sha256:00".into(),
            rule: RuleRef {
                id: "r".into(),
                effect: Effect::Review,
                reason: "r".into(),
                condition: None,
                grantable: false,
            },
            history: Vec::new(),
            agent_owner: Some(owner.into()),
            group: "finance".into(),
            approvals_required: 2,
            separate_owner: true,
            created_at: now,
            deadline: now + chrono::Duration::minutes(5),
            agent_deadline: None,
            handed_over: false,
            state: EscalationState::Pending,
            resolved_at: None,
            resolution_reason: None,
            decisions: Vec::new(),
            budget: None,
            handling: Default::default(),
            elided: Vec::new(),
        }
    }

    fn voted(esc: &mut Escalation, who: &str, vote: Vote) {
        esc.decisions.push(SignedDecision {
            body: DecisionBody {
                escalation: esc.id.clone(),
                digest: esc.digest.clone(),
                verdict: vote,
                reason: "r".into(),
                approver: who.into(),
                issued_at: "2026-01-01T00:00:00Z".into(),
            },
            signature: "s".into(),
        });
    }

    const BOTH: [Vote; 2] = [Vote::Approve, Vote::Deny];

    #[test]
    fn an_eligible_approver_may_cast_either_vote() {
        let esc = escalation(Some("rita"), "olga");
        let carol = person("carol", &[Role::Approver], &["finance"]);
        for vote in BOTH {
            assert_eq!(may_decide(&esc, &carol, vote), Ok(()), "{vote:?}");
        }
    }

    #[test]
    fn nobody_votes_on_a_closed_escalation_or_twice() {
        let carol = person("carol", &[Role::Approver], &["finance"]);
        let rita = person("rita", &[], &[]);
        for state in [
            EscalationState::Approved,
            EscalationState::Denied,
            EscalationState::Expired,
            EscalationState::Cancelled,
        ] {
            let mut esc = escalation(Some("rita"), "olga");
            esc.state = state;
            for vote in BOTH {
                assert_eq!(may_decide(&esc, &carol, vote), Err(NotYours::NotPending));
                assert_eq!(may_decide(&esc, &rita, vote), Err(NotYours::NotPending));
            }
        }
        let mut esc = escalation(Some("rita"), "olga");
        voted(&mut esc, "carol", Vote::Approve);
        for vote in BOTH {
            assert_eq!(
                may_decide(&esc, &carol, vote),
                Err(NotYours::AlreadyVoted),
                "{vote:?}"
            );
        }
    }

    #[test]
    fn role_and_group_bind_everyone_but_the_requester_denying() {
        let esc = escalation(Some("rita"), "olga");
        let lead = person(
            "erin",
            &[Role::Lead, Role::Operator, Role::Auditor],
            &["finance"],
        );
        let outsider = person("dave", &[Role::Approver], &["ops"]);
        for vote in BOTH {
            assert_eq!(may_decide(&esc, &lead, vote), Err(NotYours::NotApprover));
            assert_eq!(
                may_decide(&esc, &outsider, vote),
                Err(NotYours::OutsideGroup("finance".into()))
            );
        }
    }

    #[test]
    fn the_requester_may_deny_but_never_approve() {
        let esc = escalation(Some("rita"), "olga");
        // With no role and no group at all.
        let rita = person("rita", &[], &[]);
        assert_eq!(may_decide(&esc, &rita, Vote::Deny), Ok(()));
        assert_eq!(
            may_decide(&esc, &rita, Vote::Approve),
            Err(NotYours::NotApprover)
        );
        // As an approver of the group.
        let rita = person("rita", &[Role::Approver], &["finance"]);
        assert_eq!(may_decide(&esc, &rita, Vote::Deny), Ok(()));
        assert_eq!(
            may_decide(&esc, &rita, Vote::Approve),
            Err(NotYours::Requester)
        );
        // Only the exact roster id is the requester.
        let other = person("Rita", &[], &[]);
        assert_eq!(
            may_decide(&esc, &other, Vote::Deny),
            Err(NotYours::NotApprover)
        );
        // Even the requester votes once.
        let mut esc = esc;
        voted(&mut esc, "rita", Vote::Deny);
        assert_eq!(
            may_decide(&esc, &rita, Vote::Deny),
            Err(NotYours::AlreadyVoted)
        );
    }

    #[test]
    fn the_owner_may_deny_under_separate_owner_when_otherwise_eligible() {
        let mut esc = escalation(None, "olga");
        let olga = person("olga", &[Role::Approver], &["finance"]);
        assert_eq!(may_decide(&esc, &olga, Vote::Approve), Err(NotYours::Owner));
        assert_eq!(may_decide(&esc, &olga, Vote::Deny), Ok(()));
        // Not otherwise eligible: the owner's role and group still bind a deny.
        let outside = person("olga", &[Role::Approver], &["ops"]);
        assert_eq!(
            may_decide(&esc, &outside, Vote::Deny),
            Err(NotYours::OutsideGroup("finance".into()))
        );
        let no_role = person("olga", &[], &["finance"]);
        assert_eq!(
            may_decide(&esc, &no_role, Vote::Deny),
            Err(NotYours::NotApprover)
        );
        // Without separate_owner the owner may approve too.
        esc.separate_owner = false;
        assert_eq!(may_decide(&esc, &olga, Vote::Approve), Ok(()));
    }

    #[test]
    fn a_closed_escalation_says_so_before_saying_you_voted() {
        let mut esc = escalation(Some("rita"), "olga");
        voted(&mut esc, "carol", Vote::Approve);
        esc.state = EscalationState::Approved;
        let carol = person("carol", &[Role::Approver], &["finance"]);
        assert_eq!(
            may_decide(&esc, &carol, Vote::Deny),
            Err(NotYours::NotPending)
        );
    }

    #[test]
    fn one_vote_per_person_whatever_the_first_was() {
        for first in BOTH {
            let mut esc = escalation(None, "olga");
            voted(&mut esc, "carol", first);
            let carol = person("carol", &[Role::Approver], &["finance"]);
            for second in BOTH {
                assert_eq!(
                    may_decide(&esc, &carol, second),
                    Err(NotYours::AlreadyVoted)
                );
            }
            // Others still vote.
            let dave = person("dave", &[Role::Approver], &["finance"]);
            assert_eq!(may_decide(&esc, &dave, Vote::Approve), Ok(()));
        }
    }

    #[test]
    fn membership_is_of_the_group_asked_now_among_any_others() {
        let mut esc = escalation(None, "olga");
        let both = person("lena", &[Role::Approver], &["ops", "finance"]);
        assert_eq!(may_decide(&esc, &both, Vote::Approve), Ok(()));
        // Handed over: the second group is asked, the first no longer is.
        esc.group = "finance-leads".into();
        esc.handed_over = true;
        assert_eq!(
            may_decide(&esc, &both, Vote::Approve),
            Err(NotYours::OutsideGroup("finance-leads".into()))
        );
        let lead = person("lara", &[Role::Approver], &["finance-leads"]);
        assert_eq!(may_decide(&esc, &lead, Vote::Approve), Ok(()));
    }

    #[test]
    fn without_on_behalf_of_or_owner_nobody_is_kept_apart() {
        let mut esc = escalation(None, "olga");
        esc.agent_owner = None;
        for id in ["rita", "olga"] {
            let p = person(id, &[Role::Approver], &["finance"]);
            assert_eq!(may_decide(&esc, &p, Vote::Approve), Ok(()), "{id}");
        }
    }

    #[test]
    fn an_owner_who_is_also_the_requester_may_only_deny() {
        let esc = escalation(Some("olga"), "olga");
        let olga = person("olga", &[Role::Approver], &["finance"]);
        assert_eq!(
            may_decide(&esc, &olga, Vote::Approve),
            Err(NotYours::Requester)
        );
        assert_eq!(may_decide(&esc, &olga, Vote::Deny), Ok(()));
        // Even without separate_owner: never your own request.
        let mut esc = esc;
        esc.separate_owner = false;
        assert_eq!(
            may_decide(&esc, &olga, Vote::Approve),
            Err(NotYours::Requester)
        );
    }

    #[test]
    fn the_requester_may_deny_even_when_the_owner_is_kept_apart_and_outside_the_group() {
        let esc = escalation(Some("rita"), "olga");
        let rita = person("rita", &[Role::Auditor], &["ops"]);
        assert_eq!(may_decide(&esc, &rita, Vote::Deny), Ok(()));
        assert_eq!(
            may_decide(&esc, &rita, Vote::Approve),
            Err(NotYours::NotApprover)
        );
    }

    #[test]
    fn every_refusal_has_its_api_code() {
        let codes = [
            (NotYours::NotApprover, "not_approver"),
            (NotYours::OutsideGroup("g".into()), "outside_group"),
            (NotYours::Requester, "self_approval"),
            (NotYours::Owner, "owner_approval"),
            (NotYours::AlreadyVoted, "already_voted"),
            (NotYours::NotPending, "not_pending"),
        ];
        for (n, code) in codes {
            assert_eq!(n.code(), code);
        }
    }
}
