//! `POST /v1/grants/{id}/revoke`: the signer of a grant, or any operator, ends it early.
//! Exclusive with every call a grant is covering, so once this is acknowledged the grant allows
//! nothing more.

use chrono::Utc;

use super::Grants;
use crate::protocol::{Grant, GrantRevocation, Role, SignedGrantRevoke, MAX_TEXT_LEN};
use crate::server::audit::AuditEvent;
use crate::server::error::ApiError;
use crate::server::signed::{check_fresh_signature, check_signed_time, Verified};
use crate::server::store::Op;

impl Grants {
    pub async fn revoke(
        &self,
        path_id: &str,
        signed: Verified<SignedGrantRevoke>,
    ) -> Result<Grant, ApiError> {
        let Verified { body: r, signer } = signed;
        if r.body.grant != path_id {
            return Err(ApiError::bad_request(
                "grant_mismatch",
                format!("the revocation is signed for {}", r.body.grant),
            ));
        }
        check_signed_time("issued_at", &r.body.issued_at, Utc::now())?;
        if r.body.reason.trim().is_empty() {
            return Err(ApiError::bad_request(
                "reason_required",
                "a revocation needs a reason",
            ));
        }
        if r.body.reason.len() > MAX_TEXT_LEN {
            return Err(ApiError::bad_request(
                "invalid_request",
                "reason is too long",
            ));
        }
        let _one_at_a_time = self.writes.lock().await;
        let _no_use_in_flight = self.gate.write().await;
        let grant = self
            .get(path_id)
            .ok_or_else(|| ApiError::not_found("grant"))?;
        if grant.by != signer.info.id && !signer.info.has_role(Role::Operator) {
            return Err(ApiError::forbidden(
                "not_revoker",
                format!(
                    "only {} (who signed it) or an operator may revoke this grant",
                    grant.by
                ),
            ));
        }
        let now = Utc::now();
        if let Some(done) = &grant.revoked {
            return Err(ApiError::conflict(
                "not_live",
                format!("already revoked by {} at {}", done.by, done.at.to_rfc3339()),
            ));
        }
        if !grant.is_live(now) {
            return Err(ApiError::conflict(
                "not_live",
                format!(
                    "it expired at {}; it allows nothing more",
                    grant.expires_at.to_rfc3339()
                ),
            ));
        }
        check_fresh_signature(&self.store, &r.signature).await?;
        let mut next = grant;
        next.revoked = Some(GrantRevocation {
            by: signer.info.id.clone(),
            reason: r.body.reason.clone(),
            at: now,
        });
        let op = Op::GrantRevoked {
            grant: next.clone(),
            signature: r.signature.clone(),
        };
        self.store
            .write(op, vec![AuditEvent::grant_revoked(&next, now, &r)])
            .await
            .map_err(ApiError::storage)?;
        self.set(next.clone());
        Ok(next)
    }
}
