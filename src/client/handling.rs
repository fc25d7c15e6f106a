//! The approver's workflow beside the vote: extend, claim, snooze, reassign. Each body is built
//! and signed here (one purpose each) and posted; the answer is the escalation as changed.

use serde::Serialize;

use super::failover::Repeat;
use super::{Client, ClientError};
use crate::protocol::signing::Purpose;
use crate::protocol::{
    now_rfc3339, ClaimBody, DecisionAck, ExtendBody, PersonKey, ReassignBody, SignedClaim,
    SignedExtend, SignedReassign, SignedSnooze, SnoozeBody, Timestamp,
};

impl Client {
    pub fn sign_extend(
        key: &PersonKey,
        escalation: &str,
        by_secs: u64,
        reason: &str,
    ) -> SignedExtend {
        let body = ExtendBody {
            escalation: escalation.to_string(),
            by_secs,
            reason: reason.to_string(),
            person: key.id.clone(),
            issued_at: now_rfc3339(),
        };
        let signature = key.sign(Purpose::Extend, &body);
        SignedExtend { body, signature }
    }

    pub fn sign_claim(key: &PersonKey, escalation: &str, claim: bool) -> SignedClaim {
        let body = ClaimBody {
            escalation: escalation.to_string(),
            claim,
            person: key.id.clone(),
            issued_at: now_rfc3339(),
        };
        let signature = key.sign(Purpose::Claim, &body);
        SignedClaim { body, signature }
    }

    /// `until` at or before now ends the signer's snooze.
    pub fn sign_snooze(key: &PersonKey, escalation: &str, until: Timestamp) -> SignedSnooze {
        let body = SnoozeBody {
            escalation: escalation.to_string(),
            until: until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            person: key.id.clone(),
            issued_at: now_rfc3339(),
        };
        let signature = key.sign(Purpose::Snooze, &body);
        SignedSnooze { body, signature }
    }

    pub fn sign_reassign(key: &PersonKey, escalation: &str, reason: &str) -> SignedReassign {
        let body = ReassignBody {
            escalation: escalation.to_string(),
            reason: reason.to_string(),
            person: key.id.clone(),
            issued_at: now_rfc3339(),
        };
        let signature = key.sign(Purpose::Reassign, &body);
        SignedReassign { body, signature }
    }

    pub async fn extend(&self, signed: &SignedExtend) -> Result<DecisionAck, ClientError> {
        self.post_handling(&signed.body.escalation, "extend", signed)
            .await
    }

    pub async fn claim(&self, signed: &SignedClaim) -> Result<DecisionAck, ClientError> {
        self.post_handling(&signed.body.escalation, "claim", signed)
            .await
    }

    pub async fn snooze(&self, signed: &SignedSnooze) -> Result<DecisionAck, ClientError> {
        self.post_handling(&signed.body.escalation, "snooze", signed)
            .await
    }

    pub async fn reassign(&self, signed: &SignedReassign) -> Result<DecisionAck, ClientError> {
        self.post_handling(&signed.body.escalation, "reassign", signed)
            .await
    }

    /// One-shot (each carries its own signature): sent to another replica only when the one
    /// before surely did not take it.
    async fn post_handling<B: Serialize>(
        &self,
        escalation: &str,
        what: &str,
        body: &B,
    ) -> Result<DecisionAck, ClientError> {
        self.call(Repeat::Once, |base| {
            self.http
                .post(format!("{base}/v1/escalations/{escalation}/{what}"))
                .json(body)
        })
        .await
    }
}
