//! A person, by the signed request headers (`x-gavel-person`, `x-gavel-time`,
//! `x-gavel-signature`), who may make the read they ask for.

use std::marker::PhantomData;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;

use crate::protocol::signing::Purpose;
use crate::protocol::{Role, SignedRequest, HEADER_PERSON, HEADER_SIGNATURE, HEADER_TIME};
use crate::server::app::App;
use crate::server::error::ApiError;
use crate::server::http::credentials::bearer;
use crate::server::http::refusal::{Caller, Refusal};
use crate::server::roster::Person;
use crate::server::signed::check_signed_time;

/// People-only endpoints refuse agent tokens outright, before anything else.
pub fn refuse_agents(app: &App, headers: &HeaderMap) -> Result<(), ApiError> {
    if bearer(headers).is_some_and(|t| app.roster.agent_by_token(t).is_some()) {
        return Err(ApiError::forbidden(
            "agent_forbidden",
            "agent credentials can only submit actions and read their own outcomes",
        ));
    }
    Ok(())
}

/// Who may make a people-only read.
pub trait Readers {
    fn may_read(p: &Person) -> Result<(), ApiError>;
}

/// Anyone with a role: approver, lead, operator or auditor.
pub struct AnyRole;

impl Readers for AnyRole {
    fn may_read(p: &Person) -> Result<(), ApiError> {
        if p.info.roles.is_empty() {
            return Err(ApiError::forbidden(
                "role_required",
                format!(
                    "\"{}\" has no role in the roster; reading needs one (approver, lead, operator or auditor)",
                    p.info.id
                ),
            ));
        }
        Ok(())
    }
}

/// The audit log's readers: auditors and leads.
pub struct Auditors;

impl Readers for Auditors {
    fn may_read(p: &Person) -> Result<(), ApiError> {
        if !p.info.has_role(Role::Auditor) && !p.info.has_role(Role::Lead) {
            return Err(ApiError::forbidden(
                "not_auditor",
                "only people with the auditor or lead role read the audit log",
            ));
        }
        Ok(())
    }
}

/// A person whose signed request verified, within the clock skew, and who is one of `R`.
pub struct Reader<R> {
    pub person: Person,
    /// The request's `x-gavel-signature`: a refusal is recorded once per signature.
    signature: String,
    readers: PhantomData<R>,
}

impl<R> Reader<R> {
    pub fn caller(&self) -> Caller {
        Caller::Person {
            id: self.person.info.id.clone(),
            signature: self.signature.clone(),
        }
    }
}

impl<R: Readers> FromRequestParts<Arc<App>> for Reader<R> {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Refusal> {
        let (person, signature) = signed_request(app, parts)
            .map_err(|e| Caller::unverified(app, &parts.headers).refuse(e))?;
        let reader = Reader {
            person: person.clone(),
            signature,
            readers: PhantomData,
        };
        R::may_read(person).map_err(|e| reader.caller().refuse(e))?;
        Ok(reader)
    }
}

/// The roster person whose signature of this request verifies, and that signature.
fn signed_request<'a>(app: &'a App, parts: &Parts) -> Result<(&'a Person, String), ApiError> {
    refuse_agents(app, &parts.headers)?;
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (Some(person), Some(time), Some(signature)) = (
        header(HEADER_PERSON),
        header(HEADER_TIME),
        header(HEADER_SIGNATURE),
    ) else {
        return Err(ApiError::unauthorized(
            "unauthorized",
            "people-only endpoint: sign the request (x-gavel-person, x-gavel-time, x-gavel-signature)",
        ));
    };
    let p = app.roster.person(&person).ok_or_else(|| {
        ApiError::forbidden(
            "unknown_signer",
            format!("\"{person}\" is not a person in the roster"),
        )
    })?;
    let req = SignedRequest {
        method: parts.method.as_str().to_string(),
        path: parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .to_string(),
        person,
        time: time.clone(),
    };
    p.key
        .verify(Purpose::Request, &req, &signature)
        .map_err(|_| {
            ApiError::unauthorized("bad_signature", "the request signature does not verify")
        })?;
    check_signed_time(HEADER_TIME, &time, chrono::Utc::now())?;
    Ok((p, signature))
}
