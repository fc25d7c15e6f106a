//! Standing grants over the API: create (signed, purpose `grant`), list (a signed read) and
//! revoke (signed, purpose `grant-revoke`).

use super::failover::Repeat;
use super::{Client, ClientError};
use crate::protocol::signing::Purpose;
use crate::protocol::{
    now_rfc3339, Grant, GrantBody, GrantRevokeBody, PersonKey, SignedGrant, SignedGrantRevoke,
};

/// What a person asks for in a grant; the client adds who and when, and signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRequest {
    pub agent: String,
    pub tool: String,
    pub when: Option<String>,
    pub for_secs: u64,
    pub reason: String,
}

impl Client {
    /// Signs a grant as `key`'s person.
    pub fn sign_grant(key: &PersonKey, req: &GrantRequest) -> SignedGrant {
        let body = GrantBody {
            agent: req.agent.clone(),
            tool: req.tool.clone(),
            when: req.when.clone().filter(|w| !w.trim().is_empty()),
            for_secs: req.for_secs,
            reason: req.reason.clone(),
            approver: key.id.clone(),
            issued_at: now_rfc3339(),
        };
        let signature = key.sign(Purpose::Grant, &body);
        SignedGrant { body, signature }
    }

    /// `POST /v1/grants` with an already signed grant. One-shot: sent to another replica only
    /// when the one before surely did not take it.
    pub async fn post_grant(&self, signed: &SignedGrant) -> Result<Grant, ClientError> {
        self.call(Repeat::Once, |base| {
            self.http.post(format!("{base}/v1/grants")).json(signed)
        })
        .await
    }

    pub async fn create_grant(
        &self,
        key: &PersonKey,
        req: &GrantRequest,
    ) -> Result<Grant, ClientError> {
        self.post_grant(&Self::sign_grant(key, req)).await
    }

    /// `GET /v1/grants`: the live grants, or (`all`) every one.
    pub async fn grants(&self, key: &PersonKey, all: bool) -> Result<Vec<Grant>, ClientError> {
        let path = if all {
            "/v1/grants?all=true"
        } else {
            "/v1/grants"
        };
        self.read(key, path).await
    }

    pub async fn revoke_grant(
        &self,
        key: &PersonKey,
        grant: &str,
        reason: &str,
    ) -> Result<Grant, ClientError> {
        let body = GrantRevokeBody {
            grant: grant.to_string(),
            reason: reason.to_string(),
            revoker: key.id.clone(),
            issued_at: now_rfc3339(),
        };
        let signature = key.sign(Purpose::GrantRevoke, &body);
        let signed = SignedGrantRevoke { body, signature };
        self.call(Repeat::Once, |base| {
            self.http
                .post(format!("{base}/v1/grants/{grant}/revoke"))
                .json(&signed)
        })
        .await
    }
}
