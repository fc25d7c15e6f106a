//! `POST /v1/breakers/reset`: an operator's signed reset of an agent's open breakers. Like a
//! kill switch flip: the signer must be an operator, the signature fresh and used once, and the
//! reset is audited (`breaker_reset`, with who and why) before the breakers close.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use chrono::Utc;

use super::extract::SignedBy;
use super::refusal::Refusal;
use crate::protocol::{ErrorBody, Role, SignedBreakerReset, UsageReport};
use crate::server::app::App;
use crate::server::audit::AuditEvent;
use crate::server::error::ApiError;
use crate::server::governance::breakers::ResetRefused;
use crate::server::refusals::truncate;
use crate::server::signed::{check_fresh_signature, check_signed_time, Verified};
use crate::server::store::Op;

/// `POST /v1/breakers/reset`.
#[utoipa::path(post, path = "/v1/breakers/reset", tag = "people",
    summary = "An operator's signed reset of an agent's open breakers, one or every one (the \
        body is signed, purpose `breaker-reset`)",
    security(()),
    request_body = SignedBreakerReset,
    responses(
        (status = 200, body = UsageReport,
            description = "The agent's limits and breakers after the reset"),
        (status = 400, body = ErrorBody,
            description = "`invalid_json`, `invalid_request`, `bad_scope`, `unknown_agent_scope`, \
                `unknown_breaker`, `reason_required`, `stale_signature`"),
        (status = 401, body = ErrorBody, description = "`bad_signature`"),
        (status = 403, body = ErrorBody,
            description = "`agent_forbidden`, `unknown_signer`, `not_operator`"),
        (status = 409, body = ErrorBody,
            description = "`not_open` (no such breaker is open for the agent), `replayed`"),
        (status = 503, body = ErrorBody,
            description = "`storage_unavailable`: nothing was recorded"),
    ))]
pub async fn reset(
    State(app): State<Arc<App>>,
    signed: SignedBy<SignedBreakerReset>,
) -> Result<Json<UsageReport>, Refusal> {
    let caller = signed.caller();
    caller.answer(do_reset(&app, signed.0).await)
}

async fn do_reset(
    app: &App,
    signed: Verified<SignedBreakerReset>,
) -> Result<UsageReport, ApiError> {
    let Verified {
        body: r,
        signer: operator,
    } = signed;
    check_signed_time("issued_at", &r.body.issued_at, Utc::now())?;
    if !operator.info.has_role(Role::Operator) {
        return Err(ApiError::forbidden(
            "not_operator",
            "only people with the operator role reset breakers",
        ));
    }
    let agent = r
        .body
        .scope
        .strip_prefix("agent:")
        .filter(|a| !a.is_empty())
        .ok_or_else(|| ApiError::bad_request("bad_scope", "scope must be agent:ID"))?
        .to_string();
    if app.roster.agent(&agent).is_none() {
        return Err(ApiError::bad_request(
            "unknown_agent_scope",
            format!("no agent \"{}\" in the roster", truncate(&agent, 64)),
        ));
    }
    if r.body.reason.trim().is_empty() {
        return Err(ApiError::bad_request(
            "reason_required",
            "a breaker reset needs a reason",
        ));
    }
    let breakers = &app.governance.breakers;
    // One reset at a time: the replay check and the state it reads serialise with the write.
    let _turn = breakers.reset_turn().await;
    let ids = breakers
        .resettable(&agent, r.body.breaker.as_deref())
        .map_err(|e| match e {
            ResetRefused::UnknownBreaker(id) => ApiError::bad_request(
                "unknown_breaker",
                format!("the policy has no breaker \"{}\"", truncate(&id, 64)),
            ),
            ResetRefused::NothingOpen => ApiError::conflict(
                "not_open",
                format!(
                    "no breaker{} is open for {agent}: nothing to reset",
                    r.body
                        .breaker
                        .as_deref()
                        .map(|b| format!(" \"{}\"", truncate(b, 64)))
                        .unwrap_or_default()
                ),
            ),
        })?;
    check_fresh_signature(&app.store, &r.signature).await?;
    let now = Utc::now();
    let event = AuditEvent::breaker_reset(&agent, ids.clone(), &r, now);
    app.store
        .write(
            Op::BreakerReset {
                signature: r.signature.clone(),
            },
            vec![event],
        )
        .await
        .map_err(ApiError::storage)?;
    breakers.reset(&agent, &ids, now);
    Ok(app.governance.report(Some(&agent), now))
}
