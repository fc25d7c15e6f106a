//! `/v1/escalations/{id}/extend|claim|snooze|reassign`: the approver's workflow beside the vote.
//! Each body is signed by the person (its own purpose), used once, and recorded with its audit
//! record before the answer.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;

use super::extract::SignedBy;
use super::refusal::Refusal;
use crate::protocol::signing::Purpose;
use crate::protocol::{
    DecisionAck, ErrorBody, PublicKey, SignedClaim, SignedExtend, SignedReassign, SignedSnooze,
};
use crate::server::app::App;
use crate::server::signed::SignedBody;

macro_rules! signed_by_person {
    ($t:ty, $purpose:expr) => {
        impl SignedBody for $t {
            fn signature(&self) -> &str {
                &self.signature
            }
            fn signer(&self) -> &str {
                &self.body.person
            }
            fn verifies(&self, key: &PublicKey) -> bool {
                key.verify($purpose, &self.body, &self.signature).is_ok()
            }
        }
    };
}

signed_by_person!(SignedExtend, Purpose::Extend);
signed_by_person!(SignedClaim, Purpose::Claim);
signed_by_person!(SignedSnooze, Purpose::Snooze);
signed_by_person!(SignedReassign, Purpose::Reassign);

/// `POST /v1/escalations/{id}/extend`.
#[utoipa::path(post, path = "/v1/escalations/{id}/extend", tag = "people",
    summary = "An approver moves the deadline within the rule's `extend` allowance (signed, \
        purpose `extend`)",
    security(()),
    params(("id" = String, Path, description = "The escalation's id: the one the body signs")),
    request_body = SignedExtend,
    responses(
        (status = 200, body = DecisionAck, description = "The escalation with its new deadline"),
        (status = 400, body = ErrorBody,
            description = "`invalid_json`, `invalid_request`, `escalation_mismatch`, \
                `reason_required`, `stale_signature`"),
        (status = 401, body = ErrorBody, description = "`bad_signature`"),
        (status = 403, body = ErrorBody,
            description = "`agent_forbidden`, `unknown_signer`, `not_approver`, `outside_group`, \
                `self_approval`, `owner_approval`"),
        (status = 404, body = ErrorBody, description = "`not_found`"),
        (status = 409, body = ErrorBody,
            description = "`not_pending`, `expired`, `extend_not_allowed`, `extend_exceeded`, \
                `replayed`"),
        (status = 503, body = ErrorBody,
            description = "`storage_unavailable`: nothing was recorded"),
    ))]
pub async fn extend(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    signed: SignedBy<SignedExtend>,
) -> Result<Json<DecisionAck>, Refusal> {
    let caller = signed.caller();
    caller.answer(app.queue.extend(&id, signed.0).await)
}

/// `POST /v1/escalations/{id}/claim`.
#[utoipa::path(post, path = "/v1/escalations/{id}/claim", tag = "people",
    summary = "An approver says \"I'm on it\" for 15 minutes, or releases it (signed, purpose \
        `claim`)",
    security(()),
    params(("id" = String, Path, description = "The escalation's id: the one the body signs")),
    request_body = SignedClaim,
    responses(
        (status = 200, body = DecisionAck, description = "The escalation with its claim"),
        (status = 400, body = ErrorBody,
            description = "`invalid_json`, `invalid_request`, `escalation_mismatch`, \
                `stale_signature`"),
        (status = 401, body = ErrorBody, description = "`bad_signature`"),
        (status = 403, body = ErrorBody,
            description = "`agent_forbidden`, `unknown_signer`, `not_approver`, `outside_group`, \
                `self_approval`, `owner_approval`"),
        (status = 404, body = ErrorBody, description = "`not_found`"),
        (status = 409, body = ErrorBody,
            description = "`not_pending`, `expired`, `claimed_by_other`, `not_claimed`, \
                `replayed`"),
        (status = 503, body = ErrorBody,
            description = "`storage_unavailable`: nothing was recorded"),
    ))]
pub async fn claim(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    signed: SignedBy<SignedClaim>,
) -> Result<Json<DecisionAck>, Refusal> {
    let caller = signed.caller();
    caller.answer(app.queue.claim(&id, signed.0).await)
}

/// `POST /v1/escalations/{id}/snooze`.
#[utoipa::path(post, path = "/v1/escalations/{id}/snooze", tag = "people",
    summary = "A person hides it from their own queue until a time before the deadline (signed, \
        purpose `snooze`)",
    security(()),
    params(("id" = String, Path, description = "The escalation's id: the one the body signs")),
    request_body = SignedSnooze,
    responses(
        (status = 200, body = DecisionAck,
            description = "The escalation; `snoozed` holds the time the server chose"),
        (status = 400, body = ErrorBody,
            description = "`invalid_json`, `invalid_request`, `escalation_mismatch`, \
                `stale_signature`"),
        (status = 401, body = ErrorBody, description = "`bad_signature`"),
        (status = 403, body = ErrorBody,
            description = "`agent_forbidden`, `unknown_signer`, `not_approver`, `outside_group`"),
        (status = 404, body = ErrorBody, description = "`not_found`"),
        (status = 409, body = ErrorBody,
            description = "`not_pending`, `expired`, `too_late_to_snooze`, `replayed`"),
        (status = 503, body = ErrorBody,
            description = "`storage_unavailable`: nothing was recorded"),
    ))]
pub async fn snooze(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    signed: SignedBy<SignedSnooze>,
) -> Result<Json<DecisionAck>, Refusal> {
    let caller = signed.caller();
    caller.answer(app.queue.snooze(&id, signed.0).await)
}

/// `POST /v1/escalations/{id}/reassign`.
#[utoipa::path(post, path = "/v1/escalations/{id}/reassign", tag = "people",
    summary = "An approver of the current group, or an operator, hands it to the rule's \
        `escalate_to` group now (signed, purpose `reassign`)",
    security(()),
    params(("id" = String, Path, description = "The escalation's id: the one the body signs")),
    request_body = SignedReassign,
    responses(
        (status = 200, body = DecisionAck,
            description = "The escalation, handed over, with its fresh deadline"),
        (status = 400, body = ErrorBody,
            description = "`invalid_json`, `invalid_request`, `escalation_mismatch`, \
                `reason_required`, `stale_signature`"),
        (status = 401, body = ErrorBody, description = "`bad_signature`"),
        (status = 403, body = ErrorBody,
            description = "`agent_forbidden`, `unknown_signer`, `not_approver`, `outside_group`"),
        (status = 404, body = ErrorBody, description = "`not_found`"),
        (status = 409, body = ErrorBody,
            description = "`not_pending`, `expired`, `no_secondary_group`, \
                `already_handed_over`, `replayed`"),
        (status = 503, body = ErrorBody,
            description = "`storage_unavailable`: nothing was recorded"),
    ))]
pub async fn reassign(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    signed: SignedBy<SignedReassign>,
) -> Result<Json<DecisionAck>, Refusal> {
    let caller = signed.caller();
    caller.answer(app.queue.reassign(&id, signed.0).await)
}
