//! Retries that are answered with an earlier action instead of becoming one: a call with an
//! agent's `Idempotency-Key` seen before (with the same body), and a call the policy holds for
//! review while the same call (same digest) is still pending. Each leaves an audit record of
//! kind `retried` naming the earlier action, so every request leaves a trace.

use std::time::Duration;

use axum::http::StatusCode;
use chrono::Utc;

use crate::protocol::canonical::{canonical_bytes, sha256_hex};
use crate::protocol::{ActionOutcome, ActionRecord, ActionRequest, Escalation};
use crate::server::app::App;
use crate::server::audit::{AuditEvent, RetryMatch};
use crate::server::error::ApiError;
use crate::server::queue::outcome_of;
use crate::server::store::{self, KeyWrite, Op};

/// What a key's body is compared by: the SHA-256 of the canonical JSON of the fields the
/// server read (so whitespace, key order and ignored unknown fields do not count).
pub(super) fn fingerprint(req: &ActionRequest) -> Result<String, ApiError> {
    canonical_bytes(req)
        .map(|b| sha256_hex(&b))
        .map_err(|e| ApiError::bad_request("invalid_request", format!("the action {e}")))
}

/// The earlier action `key` names for this agent, if the key is live. The same key with
/// another body is refused: the key was reused for a different call.
pub(super) async fn earlier(app: &App, key: &KeyWrite) -> Result<Option<String>, ApiError> {
    let (agent, k, now) = (key.agent.clone(), key.key.clone(), key.created_at);
    let stored = app
        .store
        .read(move |r| store::idempotency_key(r, &agent, &k, now))
        .await
        .map_err(ApiError::storage)?;
    match stored {
        None => Ok(None),
        Some(s) if s.fingerprint == key.fingerprint => Ok(Some(s.action)),
        Some(s) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            format!(
                "this Idempotency-Key was used for action {} with a different body; use a new \
                 key for a new call",
                s.action
            ),
        )),
    }
}

/// Answers a repeated key with action `original`'s outcome now, after recording the retry.
pub(super) async fn replay(
    app: &App,
    retry: &ActionRecord,
    original: &str,
    key: &str,
) -> Result<ActionOutcome, ApiError> {
    let now = app
        .queue
        .outcome(&retry.agent, original, Duration::ZERO)
        .await?;
    let event = AuditEvent::retried(
        retry,
        original,
        now.escalation.as_deref(),
        RetryMatch::IdempotencyKey,
        Some(key),
    );
    let op = Op::Retried {
        action: original.to_string(),
        key: None,
    };
    app.store
        .write(op, vec![event])
        .await
        .map_err(ApiError::storage)?;
    Ok(now)
}

/// Attaches a retried call to the pending escalation of the same call: recorded (with the
/// retry's new key, if any, naming the pending action), then answered with its outcome: the
/// same action and escalation, so waiting on or withdrawing either is the same.
pub(super) async fn attach(
    app: &App,
    retry: &ActionRecord,
    pending: &Escalation,
    key: Option<KeyWrite>,
) -> Result<ActionOutcome, ApiError> {
    let event = AuditEvent::retried(
        retry,
        &pending.action.id,
        Some(&pending.id),
        RetryMatch::PendingEscalation,
        key.as_ref().map(|k| k.key.as_str()),
    );
    let op = Op::Retried {
        action: pending.action.id.clone(),
        key,
    };
    app.store
        .write(op, vec![event])
        .await
        .map_err(ApiError::storage)?;
    Ok(outcome_of(pending))
}

/// The key to record with a call, as the store keeps it.
pub(super) fn key_write(agent: &str, key: &str, req: &ActionRequest) -> Result<KeyWrite, ApiError> {
    Ok(KeyWrite {
        agent: agent.to_string(),
        key: key.to_string(),
        fingerprint: fingerprint(req)?,
        created_at: Utc::now(),
    })
}
