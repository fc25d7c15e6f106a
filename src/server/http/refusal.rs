//! Who a refused request came from, and the middleware that records refusals: an authenticated
//! caller's refusal is its own audit record, an unauthenticated one is only counted (see
//! `refusals`). Handlers and extractors answer with a [`Refusal`]; the middleware reads who was
//! refused from the response, with the request's method and path.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use super::credentials::bearer;
use crate::protocol::HEADER_PERSON;
use crate::server::app::App;
use crate::server::audit::AuditEvent;
use crate::server::error::ApiError;
use crate::server::refusals::truncate;
use crate::server::store::Op;

/// Who a request came from, as far as the server could establish before answering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A known agent token.
    Agent(String),
    /// A person whose signature (of the request, or of the body) verified.
    Person { id: String, signature: String },
    /// Nobody established: no or unknown token, a bad or stale signature, a body that did not
    /// parse. Who it claimed to be is a claim, never an actor.
    Unauthenticated { claimed_person: Option<String> },
}

impl Caller {
    /// Who a request that failed authentication was: a known agent token is an agent;
    /// otherwise nobody, with the person it claimed to be (if any).
    pub fn unverified(app: &App, headers: &HeaderMap) -> Caller {
        if let Some(agent) = bearer(headers).and_then(|t| app.roster.agent_by_token(t)) {
            return Caller::Agent(agent.id.clone());
        }
        Caller::Unauthenticated {
            claimed_person: headers
                .get(HEADER_PERSON)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        }
    }

    /// `error`, refused to this caller.
    pub fn refuse(&self, error: ApiError) -> Refusal {
        Refusal {
            error,
            caller: self.clone(),
        }
    }

    /// Answers with JSON, or refuses this caller.
    pub fn answer<T: Serialize>(&self, r: Result<T, ApiError>) -> Result<Json<T>, Refusal> {
        r.map(Json).map_err(|e| self.refuse(e))
    }
}

/// An error answered to a caller: the response carries who was refused, for
/// [`record_refusals`] to record.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub error: ApiError,
    pub caller: Caller,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut response = self.error.clone().into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// Longest message kept in an individual refusal record.
const MAX_REFUSAL_MESSAGE: usize = 512;

/// Records the refusal a response carries (4xx only): an audit record naming an authenticated
/// caller, or a count for an unauthenticated one. Responses without a [`Refusal`] pass as
/// they are.
pub async fn record_refusals(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let mut response = next.run(req).await;
    let Some(Refusal { error: e, caller }) = response.extensions_mut().remove::<Refusal>() else {
        return response;
    };
    if !e.status.is_client_error() {
        return response;
    }
    app.metrics.refused(e.code);
    let claimed_person = actor(&caller, e.code, |signature| {
        app.refusals.first_refusal_of(signature)
    });
    let actor = match claimed_person {
        Ok(actor) => actor,
        Err(claimed_person) => {
            app.refusals.count(
                e.status.as_u16(),
                e.code,
                method.as_str(),
                &path,
                claimed_person,
            );
            return response;
        }
    };
    let entry = AuditEvent::refused(
        actor,
        method.as_str(),
        truncate(&path, 256),
        e.status.as_u16(),
        e.code,
        truncate(&e.message, MAX_REFUSAL_MESSAGE),
    );
    // Refused either way; a record that cannot be written is logged by the store.
    let _ = app.store.write(Op::Audit, vec![entry]).await;
    response
}

/// Who a refusal names as its actor (its own audit record), or, when it is only counted, who
/// the request claimed to be. `first_refusal_of` says whether a signature is refused for the
/// first time (and remembers it).
fn actor<'a>(
    caller: &'a Caller,
    code: &str,
    first_refusal_of: impl FnOnce(&str) -> bool,
) -> Result<&'a str, Option<&'a str>> {
    match caller {
        Caller::Agent(id) => Ok(id),
        // A stale signature, or one refused before (a captured request sent again), is not
        // the person acting now: counted with them as a claim, like any unauthenticated one.
        Caller::Person { id, signature }
            if code != "stale_signature" && first_refusal_of(signature) =>
        {
            Ok(id)
        }
        Caller::Person { id, .. } => Err(Some(id)),
        Caller::Unauthenticated { claimed_person } => Err(claimed_person.as_deref()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person() -> Caller {
        Caller::Person {
            id: "bob".into(),
            signature: "sig".into(),
        }
    }

    #[test]
    fn agents_and_first_refusals_of_a_person_are_recorded_against_them() {
        let agent = Caller::Agent("mailer".into());
        assert_eq!(
            actor(&agent, "invalid_request", |_| unreachable!()),
            Ok("mailer")
        );
        let p = person();
        assert_eq!(actor(&p, "not_approver", |s| s == "sig"), Ok("bob"));
    }

    #[test]
    fn replayed_and_stale_signatures_and_strangers_are_only_counted() {
        let p = person();
        assert_eq!(actor(&p, "not_approver", |_| false), Err(Some("bob")));
        // A stale signature is not remembered as refused: asking would mark it.
        assert_eq!(
            actor(&p, "stale_signature", |_| panic!(
                "a stale signature is not remembered"
            )),
            Err(Some("bob"))
        );
        let claim = Caller::Unauthenticated {
            claimed_person: Some("eve".into()),
        };
        assert_eq!(
            actor(&claim, "bad_signature", |_| unreachable!()),
            Err(Some("eve"))
        );
        let nobody = Caller::Unauthenticated {
            claimed_person: None,
        };
        assert_eq!(
            actor(&nobody, "unauthorized", |_| unreachable!()),
            Err(None)
        );
    }
}
