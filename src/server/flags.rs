//! Flagged actions (allowed at once, reviewed later): a lead's signed review, recorded once.

use chrono::Utc;
use tokio::sync::{broadcast, Mutex};

use super::error::ApiError;
use super::signed::{check_fresh_signature, check_signed_time, Verified};
use super::store::{self, Op, Store};
use crate::protocol::{FlaggedAction, Role, ServerMessage, SignedFlagReview, MAX_TEXT_LEN};
use crate::server::audit::AuditEvent;

pub(crate) struct Flags {
    store: Store,
    bus: broadcast::Sender<ServerMessage>,
    /// Reviews one at a time: the "already reviewed" and replay checks hold until the write.
    reviews: Mutex<()>,
}

impl Flags {
    pub fn new(store: Store, bus: broadcast::Sender<ServerMessage>) -> Self {
        Flags {
            store,
            bus,
            reviews: Mutex::new(()),
        }
    }

    /// Records a lead's review of flagged `action`. The same signed review sent again is
    /// answered as it was.
    pub async fn review(
        &self,
        action: &str,
        review: Verified<SignedFlagReview>,
    ) -> Result<FlaggedAction, ApiError> {
        let Verified {
            body: r,
            signer: person,
        } = review;
        if r.body.action != action {
            return Err(ApiError::bad_request(
                "action_mismatch",
                format!("the review is signed for {}", r.body.action),
            ));
        }
        let _one_at_a_time = self.reviews.lock().await;
        let key = action.to_string();
        let flagged = self
            .store
            .read(move |c| store::load_flagged(c, &key))
            .await
            .map_err(ApiError::storage)?
            .ok_or_else(|| ApiError::not_found("flagged action"))?;
        if let Some(existing) = &flagged.review {
            if *existing == r {
                return Ok(flagged);
            }
            return Err(ApiError::conflict(
                "already_reviewed",
                format!("already reviewed by {}", existing.body.reviewer),
            ));
        }
        check_signed_time("issued_at", &r.body.issued_at, Utc::now())?;
        if !person.info.has_role(Role::Lead) {
            return Err(ApiError::forbidden(
                "not_lead",
                "only people with the lead role review flagged actions",
            ));
        }
        if r.body.note.len() > MAX_TEXT_LEN {
            return Err(ApiError::bad_request("invalid_request", "note is too long"));
        }
        check_fresh_signature(&self.store, &r.signature).await?;
        let mut next = flagged;
        next.review = Some(r.clone());
        let op = Op::FlagReview {
            flagged: Box::new(next.clone()),
            signature: r.signature.clone(),
        };
        self.store
            .write(op, vec![AuditEvent::flag_review(&next, &r)])
            .await
            .map_err(ApiError::storage)?;
        let _ = self.bus.send(ServerMessage::FlagReviewed {
            flagged: Box::new(next.clone()),
        });
        Ok(next)
    }
}
