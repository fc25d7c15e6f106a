//! `POST /v1/grants`: an approver's signed grant, checked (a condition that compiles, a
//! duration within bounds, a rule it could cover whose approvers include the signer), made
//! durable with its audit record, then announced.

use chrono::Utc;

use super::{new_id, Grants};
use crate::protocol::{
    may_approve, ApprovalTerms, Grant, GrantBody, SignedGrant, MAX_GRANT_CONDITION_LEN,
    MAX_GRANT_SECS, MAX_NAME_LEN, MAX_TEXT_LEN,
};
use crate::server::audit::AuditEvent;
use crate::server::error::ApiError;
use crate::server::policy::glob::NameGlob;
use crate::server::policy::{GrantCondition, Policy};
use crate::server::roster::{Person, Roster};
use crate::server::signed::{check_fresh_signature, check_signed_time, Verified};
use crate::server::store::Op;

impl Grants {
    /// Records a signed grant and answers with it (its id and expiry).
    pub async fn create(
        &self,
        policy: &Policy,
        roster: &Roster,
        signed: Verified<SignedGrant>,
    ) -> Result<Grant, ApiError> {
        let Verified { body: g, signer } = signed;
        check_signed_time("issued_at", &g.body.issued_at, Utc::now())?;
        check_shape(roster, &g.body)?;
        let tool = NameGlob::new(&g.body.tool).map_err(|e| {
            ApiError::bad_request("invalid_request", format!("tool is not a glob: {e}"))
        })?;
        if let Some(when) = &g.body.when {
            GrantCondition::compile(when).map_err(|e| {
                ApiError::bad_request("bad_condition", format!("`when` does not compile: {e}"))
            })?;
        }
        check_eligible(policy, roster, &signer, &g.body, &tool)?;
        let _one_at_a_time = self.writes.lock().await;
        check_fresh_signature(&self.store, &g.signature).await?;
        let now = Utc::now();
        let secs = i64::try_from(g.body.for_secs).unwrap_or(i64::MAX);
        let grant = Grant {
            id: new_id(),
            agent: g.body.agent.clone(),
            tool: g.body.tool.clone(),
            when: g.body.when.clone(),
            reason: g.body.reason.clone(),
            by: signer.info.id.clone(),
            created_at: now,
            expires_at: now + chrono::Duration::seconds(secs),
            revoked: None,
            uses: 0,
            last_used_at: None,
        };
        let op = Op::GrantCreated {
            grant: grant.clone(),
            signature: g.signature.clone(),
        };
        self.store
            .write(op, vec![AuditEvent::grant_created(&grant, &g)])
            .await
            .map_err(ApiError::storage)?;
        self.set(grant.clone());
        Ok(grant)
    }
}

/// Lengths, the agent, the duration and the reason.
fn check_shape(roster: &Roster, b: &GrantBody) -> Result<(), ApiError> {
    let bad = |m: String| Err(ApiError::bad_request("invalid_request", m));
    if b.reason.trim().is_empty() {
        return Err(ApiError::bad_request(
            "reason_required",
            "a grant needs a reason (it is shown wherever the grant allows a call)",
        ));
    }
    if b.reason.len() > MAX_TEXT_LEN {
        return bad(format!("reason is longer than {MAX_TEXT_LEN} bytes"));
    }
    if b.tool.len() > MAX_NAME_LEN {
        return bad(format!("tool is longer than {MAX_NAME_LEN} bytes"));
    }
    if b.when
        .as_ref()
        .is_some_and(|w| w.len() > MAX_GRANT_CONDITION_LEN)
    {
        return bad(format!(
            "`when` is longer than {MAX_GRANT_CONDITION_LEN} bytes"
        ));
    }
    if b.for_secs == 0 || b.for_secs > MAX_GRANT_SECS {
        return bad(format!(
            "for_secs must be between 1 and {MAX_GRANT_SECS} (7 days), not {}",
            b.for_secs
        ));
    }
    if roster.agent(&b.agent).is_none() {
        return bad(format!(
            "no agent {:?} in the roster",
            crate::server::refusals::truncate(&b.agent, 64)
        ));
    }
    Ok(())
}

/// The signer must be able to approve, alone, calls the grant could cover: an approver of a
/// grantable single-approval review rule for this agent and tool, and not the agent's owner
/// where that rule keeps the owner apart.
fn check_eligible(
    policy: &Policy,
    roster: &Roster,
    signer: &Person,
    b: &GrantBody,
    tool: &NameGlob,
) -> Result<(), ApiError> {
    let rules = policy.grantable_rules(&b.agent, tool);
    if rules.is_empty() {
        return Err(ApiError::forbidden(
            "not_grantable",
            format!(
                "no review rule with grantable = true and approvals = 1 covers agent {} and tool {}: \
                 such calls can only be approved one by one",
                b.agent, b.tool
            ),
        ));
    }
    let owner = roster.agent(&b.agent).and_then(|a| a.owner.as_deref());
    let eligible = rules.iter().any(|(_, spec)| {
        let terms = ApprovalTerms {
            group: &spec.group,
            on_behalf_of: None,
            agent_owner: owner,
            separate_owner: spec.separate_owner,
        };
        may_approve(&terms, &signer.info).is_ok()
    });
    if !eligible {
        let mut groups: Vec<&str> = rules.iter().map(|(_, s)| s.group.as_str()).collect();
        groups.sort_unstable();
        groups.dedup();
        return Err(ApiError::forbidden(
            "not_eligible",
            format!(
                "only an approver who could approve these calls alone may grant them: an approver \
                 in {} (rules {}), not the agent's owner where the rule keeps the owner apart",
                groups.join(" or "),
                rules
                    .iter()
                    .map(|(r, _)| format!("\"{}\"", r.id))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    Ok(())
}
