//! Who a request came from, as far as the server could establish, and how a refusal is
//! recorded: an authenticated caller's refusal is its own audit record, an unauthenticated one
//! is only counted (see `refusals`).

use std::sync::atomic::Ordering;

use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;

use super::audit::AuditEntry;
use super::error::ApiError;
use super::http::bearer;
use super::refusals::truncate;
use super::store::Op;
use super::App;
use crate::protocol::signing::Purpose;
use crate::protocol::{
    PublicKey, SignedDecision, SignedFlagReview, SignedKillSwitch, HEADER_PERSON, HEADER_SIGNATURE,
};

/// Who a request came from, as far as the server could establish before answering.
#[derive(Debug, Clone, Copy)]
pub(super) enum Caller<'a> {
    /// A known agent token.
    Agent(&'a str),
    /// A person whose signature (of the request, or of the body) verified.
    Person { id: &'a str, signature: &'a str },
    /// Nobody established: no or unknown token, a bad or stale signature, a body that did not
    /// parse. Who it claimed to be is a claim, never an actor.
    Unauthenticated { claimed_person: Option<&'a str> },
}

/// Longest message kept in an individual refusal record.
const MAX_REFUSAL_MESSAGE: usize = 512;

/// Answers with JSON, or with the error after recording (or counting) the refusal.
pub(super) async fn reply<T: Serialize>(
    app: &App,
    method: &Method,
    uri: &Uri,
    caller: Caller<'_>,
    r: Result<T, ApiError>,
) -> Response {
    let e = match r {
        Ok(v) => return Json(v).into_response(),
        Err(e) => e,
    };
    if e.status.is_client_error() {
        app.metrics.refused.fetch_add(1, Ordering::Relaxed);
        let claimed_person = match caller {
            Caller::Agent(id) => Ok(id),
            // A stale signature, or one refused before (a captured request sent again), is not
            // the person acting now: counted with them as a claim, like any unauthenticated one.
            Caller::Person { id, signature }
                if e.code != "stale_signature" && app.refusals.first_refusal_of(signature) =>
            {
                Ok(id)
            }
            Caller::Person { id, .. } => Err(Some(id)),
            Caller::Unauthenticated { claimed_person } => Err(claimed_person),
        };
        let actor = match claimed_person {
            Ok(actor) => actor,
            Err(claimed_person) => {
                let status = e.status.as_u16();
                app.refusals
                    .count(status, e.code, method.as_str(), uri.path(), claimed_person);
                return e.into_response();
            }
        };
        let entry = AuditEntry::new(
            "refused",
            actor.to_string(),
            json!({"method": method.as_str(), "path": truncate(uri.path(), 256),
                   "status": e.status.as_u16(), "code": e.code,
                   "message": truncate(&e.message, MAX_REFUSAL_MESSAGE)}),
        );
        // Refused either way; a record that cannot be written is logged by the store.
        let _ = app.store.write(Op::Audit, vec![entry]).await;
    }
    e.into_response()
}

/// Who a request that failed authentication was: a known agent token is an agent; otherwise
/// nobody, with the person it claimed to be (if any).
/// A person whose signed request (its `x-gavel-signature`) verified.
pub(super) fn person_caller<'a>(id: &'a str, headers: &'a HeaderMap) -> Caller<'a> {
    Caller::Person {
        id,
        signature: headers
            .get(HEADER_SIGNATURE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
    }
}

pub(super) fn refused_caller<'a>(app: &'a App, headers: &'a HeaderMap) -> Caller<'a> {
    if let Some(agent) = bearer(headers).and_then(|t| app.roster.agent_by_token(t)) {
        return Caller::Agent(&agent.id);
    }
    Caller::Unauthenticated {
        claimed_person: headers.get(HEADER_PERSON).and_then(|v| v.to_str().ok()),
    }
}

/// A body signed by a person: who signed it and whether the signature verifies.
pub(super) trait SignedBody: DeserializeOwned {
    fn signer(&self) -> &str;
    fn signature(&self) -> &str;
    fn verifies(&self, key: &PublicKey) -> bool;
}

impl SignedBody for SignedDecision {
    fn signature(&self) -> &str {
        &self.signature
    }
    fn signer(&self) -> &str {
        &self.body.approver
    }
    fn verifies(&self, key: &PublicKey) -> bool {
        key.verify(Purpose::Decision, &self.body, &self.signature)
            .is_ok()
    }
}

impl SignedBody for SignedKillSwitch {
    fn signature(&self) -> &str {
        &self.signature
    }
    fn signer(&self) -> &str {
        &self.body.operator
    }
    fn verifies(&self, key: &PublicKey) -> bool {
        key.verify(Purpose::KillSwitch, &self.body, &self.signature)
            .is_ok()
    }
}

impl SignedBody for SignedFlagReview {
    fn signature(&self) -> &str {
        &self.signature
    }
    fn signer(&self) -> &str {
        &self.body.reviewer
    }
    fn verifies(&self, key: &PublicKey) -> bool {
        key.verify(Purpose::FlagReview, &self.body, &self.signature)
            .is_ok()
    }
}
