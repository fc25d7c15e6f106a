//! The approver's workflow on the queue: each signed change (extend, claim, snooze, reassign)
//! takes the escalation's turn, is decided by `handling`, written with its audit record and its
//! signature (so it can never be replayed) and only then applied, announced and acknowledged.

use chrono::Utc;

use super::handling::{self, not_pending, Changed};
use super::machine::Step;
use super::{write_failed, Queue, CONFLICT_TRIES};
use crate::protocol::{
    DecisionAck, Escalation, PersonInfo, SignedClaim, SignedExtend, SignedReassign, SignedSnooze,
    Timestamp,
};
use crate::server::error::ApiError;
use crate::server::signed::{check_fresh_signature, Verified};
use crate::server::store::{ExpiryPlan, StoreError};

impl Queue {
    pub async fn extend(
        &self,
        path_id: &str,
        v: Verified<SignedExtend>,
    ) -> Result<DecisionAck, ApiError> {
        let sig = v.body.signature.clone();
        self.handle(path_id, &sig, |esc, _, now| {
            handling::extend(esc, path_id, &v.body, &v.signer.info, now)
        })
        .await
    }

    pub async fn claim(
        &self,
        path_id: &str,
        v: Verified<SignedClaim>,
    ) -> Result<DecisionAck, ApiError> {
        let sig = v.body.signature.clone();
        self.handle(path_id, &sig, |esc, _, now| {
            handling::claim(esc, path_id, &v.body, &v.signer.info, now)
        })
        .await
    }

    pub async fn snooze(
        &self,
        path_id: &str,
        v: Verified<SignedSnooze>,
    ) -> Result<DecisionAck, ApiError> {
        let sig = v.body.signature.clone();
        self.handle(path_id, &sig, |esc, _, now| {
            handling::snooze(esc, path_id, &v.body, &v.signer.info, now)
        })
        .await
    }

    pub async fn reassign(
        &self,
        path_id: &str,
        v: Verified<SignedReassign>,
    ) -> Result<DecisionAck, ApiError> {
        let sig = v.body.signature.clone();
        let person: &PersonInfo = &v.signer.info;
        self.handle(path_id, &sig, |esc, plan, now| {
            handling::reassign(esc, plan, path_id, &v.body, person, now)
        })
        .await
    }

    /// One change of pending escalation `path_id` under its turn: the signature is checked
    /// unused while the turn is held (a signature names its escalation, so the turn serialises
    /// every use of it), then `change` decides, then it is written.
    async fn handle<F>(
        &self,
        path_id: &str,
        signature: &str,
        change: F,
    ) -> Result<DecisionAck, ApiError>
    where
        F: Fn(&Escalation, &ExpiryPlan, Timestamp) -> Result<Changed, ApiError>,
    {
        let mut tries = 0;
        loop {
            tries += 1;
            let Some(turn) = self.turn_anywhere(path_id).await else {
                let esc = self
                    .stored(path_id)
                    .await?
                    .ok_or_else(|| ApiError::not_found("escalation"))?;
                return Err(not_pending(esc.state));
            };
            check_fresh_signature(&self.store, signature).await?;
            let (next, entry) = change(&turn.esc, &turn.plan, Utc::now())?;
            match self
                .commit_signed(turn, Step::Update(next), vec![entry], Some(signature))
                .await
            {
                Ok(esc) => {
                    return Ok(DecisionAck {
                        escalation: Box::new(esc),
                        recorded: true,
                    })
                }
                // Changed on another replica meanwhile: decide again on its state.
                Err(StoreError::Conflict(_)) if tries < CONFLICT_TRIES => continue,
                Err(e) => return Err(write_failed(e)),
            }
        }
    }
}
