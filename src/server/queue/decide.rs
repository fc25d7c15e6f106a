//! A signed decision on an escalation: checked, voted through the state machine, written, and
//! only then acknowledged.

use chrono::Utc;

use super::machine::{self, Ballot, Refusal};
use super::{write_failed, Queue, CONFLICT_TRIES};
use crate::protocol::{DecisionAck, Escalation, SignedDecision};
use crate::server::audit::AuditEvent;
use crate::server::error::ApiError;
use crate::server::signed::Verified;
use crate::server::store::{state_name, StoreError};

impl Queue {
    /// Records `d` on escalation `path_id`, or says why not. The same signed decision sent again
    /// is acknowledged with `recorded: false`.
    pub async fn decide(
        &self,
        path_id: &str,
        decision: Verified<SignedDecision>,
    ) -> Result<DecisionAck, ApiError> {
        let Verified {
            body: d,
            signer: person,
        } = decision;
        machine::check_decision(path_id, &d).map_err(refused)?;
        let mut tries = 0;
        loop {
            tries += 1;
            let Some(turn) = self.turn_anywhere(path_id).await else {
                let esc = self
                    .stored(path_id)
                    .await?
                    .ok_or_else(|| ApiError::not_found("escalation"))?;
                machine::vote_on_closed(&esc, &d).map_err(refused)?;
                return Ok(ack(esc, false));
            };
            match machine::vote(&turn.esc, &d, &person.info, Utc::now()).map_err(refused)? {
                Ballot::Duplicate => return Ok(ack(turn.esc.clone(), false)),
                Ballot::Counted(step) => {
                    let entry = AuditEvent::decision(step.escalation(), &d);
                    match self.commit(turn, *step, vec![entry]).await {
                        Ok(esc) => {
                            self.metrics.decision();
                            return Ok(ack(esc, true));
                        }
                        // Changed on another replica meanwhile: vote again on its state.
                        Err(StoreError::Conflict(_)) if tries < CONFLICT_TRIES => continue,
                        Err(e) => return Err(write_failed(e)),
                    }
                }
            }
        }
    }
}

fn ack(esc: Escalation, recorded: bool) -> DecisionAck {
    DecisionAck {
        escalation: Box::new(esc),
        recorded,
    }
}

/// The API's answer to a refused vote, with the refusal's code.
pub(super) fn refused(r: Refusal) -> ApiError {
    let code = r.code();
    match r {
        Refusal::EscalationMismatch {
            signed_for,
            addressed,
        } => ApiError::bad_request(
            code,
            format!("the decision is signed for {signed_for}, not {addressed}"),
        ),
        Refusal::ReasonTooLong => ApiError::bad_request(code, "reason is too long"),
        Refusal::DigestMismatch => ApiError::conflict(
            code,
            "the signed digest is not this escalation's: the action differs from what was approved",
        ),
        Refusal::NotPending(state) => ApiError::conflict(
            code,
            format!("the escalation is already {}", state_name(state)),
        ),
        Refusal::SignedTime(e) => e.into(),
        Refusal::Expired => {
            ApiError::conflict(code, "the deadline has passed; the escalation is expiring")
        }
        Refusal::NotYours(n) => n.into(),
        Refusal::ReasonRequired => {
            ApiError::bad_request(code, "a deny needs a reason the agent can read")
        }
    }
}
