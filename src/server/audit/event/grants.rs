//! The records of standing grants: created and revoked (signed by a person), and each use
//! (written in the same commit as the call it allowed).

use serde::{Deserialize, Serialize};

use super::AuditEvent;
use crate::protocol::{ActionRecord, Grant, SignedGrant, SignedGrantRevoke, Timestamp};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrantCreated {
    pub grant: String,
    pub agent: String,
    pub tool: String,
    pub when: Option<String>,
    pub reason: String,
    pub approver: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub issued_at: String,
    pub signature: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrantRevoked {
    pub grant: String,
    pub agent: String,
    pub reason: String,
    pub revoker: String,
    pub at: Timestamp,
    pub issued_at: String,
    pub signature: String,
}

/// A call a standing grant allowed: the grant, its signer (the record's actor: whose approval
/// it stood for), the action and the rule whose review it replaced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrantUsed {
    pub grant: String,
    pub by: String,
    pub action: String,
    pub agent: String,
    pub tool: String,
    pub rule: String,
}

impl AuditEvent {
    pub fn grant_created(grant: &Grant, signed: &SignedGrant) -> AuditEvent {
        AuditEvent::GrantCreated(GrantCreated {
            grant: grant.id.clone(),
            agent: grant.agent.clone(),
            tool: grant.tool.clone(),
            when: grant.when.clone(),
            reason: grant.reason.clone(),
            approver: grant.by.clone(),
            created_at: grant.created_at,
            expires_at: grant.expires_at,
            issued_at: signed.body.issued_at.clone(),
            signature: signed.signature.clone(),
        })
    }

    pub fn grant_revoked(grant: &Grant, at: Timestamp, signed: &SignedGrantRevoke) -> AuditEvent {
        AuditEvent::GrantRevoked(GrantRevoked {
            grant: grant.id.clone(),
            agent: grant.agent.clone(),
            reason: signed.body.reason.clone(),
            revoker: signed.body.revoker.clone(),
            at,
            issued_at: signed.body.issued_at.clone(),
            signature: signed.signature.clone(),
        })
    }

    pub fn grant_used(grant: &Grant, record: &ActionRecord, rule: &str) -> AuditEvent {
        AuditEvent::GrantUsed(GrantUsed {
            grant: grant.id.clone(),
            by: grant.by.clone(),
            action: record.id.clone(),
            agent: record.agent.clone(),
            tool: record.tool.clone(),
            rule: rule.to_string(),
        })
    }
}
