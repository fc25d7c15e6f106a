//! A body signed by a person: a decision, a kill-switch flip, a flag review.

use std::sync::Arc;

use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use super::json::JsonBody;
use super::person::refuse_agents;
use crate::server::app::App;
use crate::server::http::refusal::{Caller, Refusal};
use crate::server::signed::{verify, SignedBody, Verified};

/// A signed body whose signer is a roster person and whose signature verifies with their key.
/// Agent tokens are refused before anything else; until the signer is authenticated a refusal
/// names the signer only as a claim, after it names the person.
pub struct SignedBy<T>(pub Verified<T>);

impl<T: SignedBody> SignedBy<T> {
    pub fn caller(&self) -> Caller {
        Caller::Person {
            id: self.0.signer.info.id.clone(),
            signature: self.0.body.signature().to_string(),
        }
    }
}

impl<T: SignedBody + DeserializeOwned> FromRequest<Arc<App>> for SignedBy<T> {
    type Rejection = Refusal;

    async fn from_request(req: Request, app: &Arc<App>) -> Result<Self, Refusal> {
        refuse_agents(app, req.headers())
            .map_err(|e| Caller::unverified(app, req.headers()).refuse(e))?;
        let JsonBody(body) = JsonBody::<T>::from_request(req, app).await?;
        let claimed = Caller::Unauthenticated {
            claimed_person: Some(body.signer().to_string()),
        };
        verify(&app.roster, body)
            .map(SignedBy)
            .map_err(|e| claimed.refuse(e))
    }
}
