//! The approver's workflow on a pending escalation, beside the vote: extend its deadline within
//! the rule's allowance, claim it ("I'm on it"), snooze it out of one's own queue, reassign it to
//! the rule's secondary group. What the escalation carries about them ([`Handling`]), the signed
//! bodies, and the rules the server enforces and the console shows (who may, how long).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::duties::NotYours;
use super::wire::{Escalation, EscalationState, PersonInfo, Role, Timestamp};

/// How long a claim lasts unless released earlier (a vote by its holder, an unclaim).
pub const CLAIM_SECS: i64 = 15 * 60;
/// A snooze ends at least this long before the deadline…
pub const SNOOZE_MARGIN_MIN_SECS: i64 = 60;
/// …and at least this share (in percent) of the time left before it.
pub const SNOOZE_MARGIN_PERCENT: i64 = 10;

/// What an escalation carries about its handling. Flattened into [`Escalation`]: each field is
/// left out of the JSON while it is empty, so escalations from before these existed read back.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Handling {
    /// The rule's `extend` allowance: the most the deadline may be moved in total (0: none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub extend_allowed_secs: u64,
    /// How much the deadline has been moved so far.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub extended_secs: u64,
    /// The rule's secondary group (`escalate_to`), the one a hand-over or reassign goes to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalate_to: Option<String>,
    /// Who is on it, until when. Advisory: others may still decide. A claim whose `until` has
    /// passed means nothing (consoles ignore it; the server drops it on the next change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<Claim>,
    /// Person id → until when they snoozed it out of their own queue. Other people's entries
    /// are theirs alone; an entry in the past means nothing.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(value_type = BTreeMap<String, String>)]
    pub snoozed: BTreeMap<String, Timestamp>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct Claim {
    pub person: String,
    #[schema(value_type = String, format = DateTime)]
    pub until: Timestamp,
}

impl Handling {
    /// What is left of the extend allowance.
    pub fn extend_left_secs(&self) -> u64 {
        self.extend_allowed_secs.saturating_sub(self.extended_secs)
    }

    /// The claim, if it still holds at `now`.
    pub fn live_claim(&self, now: Timestamp) -> Option<&Claim> {
        self.claim.as_ref().filter(|c| c.until > now)
    }

    /// Until when `person` snoozed it, if that is still ahead of `now`.
    pub fn snoozed_until(&self, person: &str, now: Timestamp) -> Option<Timestamp> {
        self.snoozed.get(person).copied().filter(|t| *t > now)
    }

    /// Drops what no longer holds at `now`: a past claim, past snoozes.
    pub fn tidy(&mut self, now: Timestamp) {
        if self.claim.as_ref().is_some_and(|c| c.until <= now) {
            self.claim = None;
        }
        self.snoozed.retain(|_, until| *until > now);
    }
}

/// The latest a snooze may end: before the deadline by a minute or a tenth of the time left,
/// whichever is more, so a snoozed escalation is back while there is time to decide it.
pub fn latest_snooze(deadline: Timestamp, now: Timestamp) -> Timestamp {
    let left = (deadline - now).num_seconds().max(0);
    let margin = (left * SNOOZE_MARGIN_PERCENT / 100).max(SNOOZE_MARGIN_MIN_SECS);
    deadline - chrono::Duration::seconds(margin)
}

/// May `person` extend or claim `esc`? An approver in its current group whom separation of
/// duties does not forbid from approving it (having voted already does not stop them).
pub fn may_handle(esc: &Escalation, person: &PersonInfo) -> Result<(), NotYours> {
    if esc.state != EscalationState::Pending {
        return Err(NotYours::NotPending);
    }
    in_group(esc, person)?;
    if esc.action.on_behalf_of.as_deref() == Some(person.id.as_str()) {
        return Err(NotYours::Requester);
    }
    if esc.separate_owner && esc.agent_owner.as_deref() == Some(person.id.as_str()) {
        return Err(NotYours::Owner);
    }
    Ok(())
}

/// May `person` snooze `esc` out of their queue? Any approver of its current group (hiding it
/// from oneself decides nothing).
pub fn may_snooze(esc: &Escalation, person: &PersonInfo) -> Result<(), NotYours> {
    if esc.state != EscalationState::Pending {
        return Err(NotYours::NotPending);
    }
    in_group(esc, person)
}

/// May `person` reassign `esc` to the secondary group? An approver of its current group, or an
/// operator.
pub fn may_reassign(esc: &Escalation, person: &PersonInfo) -> Result<(), NotYours> {
    if esc.state != EscalationState::Pending {
        return Err(NotYours::NotPending);
    }
    if person.has_role(Role::Operator) {
        return Ok(());
    }
    in_group(esc, person)
}

fn in_group(esc: &Escalation, person: &PersonInfo) -> Result<(), NotYours> {
    if !person.has_role(Role::Approver) {
        return Err(NotYours::NotApprover);
    }
    if !person.groups.iter().any(|g| g == &esc.group) {
        return Err(NotYours::OutsideGroup(esc.group.clone()));
    }
    Ok(())
}

/// What an approver signs to move a deadline (purpose `extend`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtendBody {
    pub escalation: String,
    /// Seconds to add to the current deadline: at least 1, at most what is left of the allowance.
    pub by_secs: u64,
    pub reason: String,
    pub person: String,
    #[schema(format = DateTime)]
    pub issued_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct SignedExtend {
    #[serde(flatten)]
    pub body: ExtendBody,
    /// Base64 Ed25519 signature, by the signer's roster key, of every other field.
    pub signature: String,
}

/// What an approver signs to claim an escalation, or release their claim (purpose `claim`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimBody {
    pub escalation: String,
    /// True to claim (for 15 minutes), false to release one's own claim.
    pub claim: bool,
    pub person: String,
    #[schema(format = DateTime)]
    pub issued_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct SignedClaim {
    #[serde(flatten)]
    pub body: ClaimBody,
    /// Base64 Ed25519 signature, by the signer's roster key, of every other field.
    pub signature: String,
}

/// What a person signs to snooze an escalation out of their own queue (purpose `snooze`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SnoozeBody {
    pub escalation: String,
    /// RFC 3339: until when. The server brings it forward to [`latest_snooze`]; a time not
    /// after now ends the person's snooze.
    #[schema(format = DateTime)]
    pub until: String,
    pub person: String,
    #[schema(format = DateTime)]
    pub issued_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct SignedSnooze {
    #[serde(flatten)]
    pub body: SnoozeBody,
    /// Base64 Ed25519 signature, by the signer's roster key, of every other field.
    pub signature: String,
}

/// What an approver or operator signs to hand an escalation to the secondary group now
/// (purpose `reassign`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReassignBody {
    pub escalation: String,
    pub reason: String,
    pub person: String,
    #[schema(format = DateTime)]
    pub issued_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct SignedReassign {
    #[serde(flatten)]
    pub body: ReassignBody,
    /// Base64 Ed25519 signature, by the signer's roster key, of every other field.
    pub signature: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, Utc};

    #[test]
    fn a_snooze_ends_a_minute_or_a_tenth_of_the_time_left_before_the_deadline() {
        let now = Utc::now();
        let s = Duration::seconds;
        assert_eq!(latest_snooze(now + s(3600), now), now + s(3600 - 360));
        assert_eq!(latest_snooze(now + s(300), now), now + s(240));
        assert_eq!(latest_snooze(now + s(30), now), now - s(30));
    }

    #[test]
    fn past_claims_and_snoozes_are_tidied_away() {
        let now = Utc::now();
        let mut h = Handling {
            claim: Some(Claim {
                person: "alice".into(),
                until: now,
            }),
            ..Handling::default()
        };
        h.snoozed.insert("bob".into(), now - Duration::seconds(1));
        h.snoozed.insert("carol".into(), now + Duration::seconds(1));
        assert!(h.live_claim(now).is_none());
        assert_eq!(h.snoozed_until("bob", now), None);
        h.tidy(now);
        assert_eq!(h.claim, None);
        assert_eq!(h.snoozed.keys().collect::<Vec<_>>(), vec!["carol"]);
    }
}
