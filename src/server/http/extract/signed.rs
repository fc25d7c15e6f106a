//! A body signed by a person: a decision, a kill-switch flip, a flag review.

use std::sync::Arc;

use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use super::json::JsonBody;
use super::person::refuse_agents;
use crate::protocol::signing::Purpose;
use crate::protocol::{PublicKey, SignedDecision, SignedFlagReview, SignedKillSwitch};
use crate::server::app::App;
use crate::server::error::ApiError;
use crate::server::http::refusal::{Caller, Refusal};
use crate::server::refusals::truncate;
use crate::server::roster::Person;

/// A body signed by a person: who signed it and whether the signature verifies.
pub trait SignedBody: DeserializeOwned {
    fn signer(&self) -> &str;
    fn signature(&self) -> &str;
    fn verifies(&self, key: &PublicKey) -> bool;
}

/// A signed body whose signer is a roster person and whose signature verifies with their key.
/// Agent tokens are refused before anything else; until the signer is authenticated a refusal
/// names the signer only as a claim, after it names the person.
pub struct SignedBy<T> {
    pub person: Person,
    pub body: T,
    signature: String,
}

impl<T> SignedBy<T> {
    pub fn caller(&self) -> Caller {
        Caller::Person {
            id: self.person.info.id.clone(),
            signature: self.signature.clone(),
        }
    }
}

impl<T: SignedBody> FromRequest<Arc<App>> for SignedBy<T> {
    type Rejection = Refusal;

    async fn from_request(req: Request, app: &Arc<App>) -> Result<Self, Refusal> {
        refuse_agents(app, req.headers())
            .map_err(|e| Caller::unverified(app, req.headers()).refuse(e))?;
        let JsonBody(body) = JsonBody::<T>::from_request(req, app).await?;
        let claimed = Caller::Unauthenticated {
            claimed_person: Some(body.signer().to_string()),
        };
        let Some(person) = app.roster.person(body.signer()) else {
            return Err(claimed.refuse(ApiError::forbidden(
                "unknown_signer",
                format!(
                    "\"{}\" is not a person in the roster",
                    truncate(body.signer(), 64)
                ),
            )));
        };
        if !body.verifies(&person.key) {
            return Err(claimed.refuse(ApiError::unauthorized(
                "bad_signature",
                "the signature does not verify with the signer's roster key",
            )));
        }
        Ok(SignedBy {
            person: person.clone(),
            signature: body.signature().to_string(),
            body,
        })
    }
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
