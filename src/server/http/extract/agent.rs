//! An agent, by its bearer token.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::server::app::App;
use crate::server::error::ApiError;
use crate::server::http::credentials::bearer;
use crate::server::http::refusal::{Caller, Refusal};
use crate::server::roster::Agent;

/// The agent whose token is the request's `Authorization: Bearer`.
#[derive(Debug, Clone)]
pub struct AgentCaller(pub Agent);

impl AgentCaller {
    pub fn caller(&self) -> Caller {
        Caller::Agent(self.0.id.clone())
    }
}

impl FromRequestParts<Arc<App>> for AgentCaller {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Refusal> {
        let refuse = |e| Caller::unverified(app, &parts.headers).refuse(e);
        let token = bearer(&parts.headers).ok_or_else(|| {
            refuse(ApiError::unauthorized(
                "unauthorized",
                "missing `Authorization: Bearer <agent token>`",
            ))
        })?;
        match app.roster.agent_by_token(token) {
            Some(agent) => Ok(AgentCaller(agent.clone())),
            None => Err(refuse(ApiError::unauthorized(
                "unknown_agent",
                "the bearer token belongs to no agent in the roster",
            ))),
        }
    }
}
