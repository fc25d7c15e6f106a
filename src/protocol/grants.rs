//! Standing grants: "allow calls like this for a while", signed by an approver. The server
//! consults a grant only where policy asks for a single approval under a rule marked
//! `grantable`, and only when the grant's signer could have approved that very call, so a grant
//! never gives more than one approver's power. See `docs/PROTOCOL.md`, `POST /v1/grants`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::wire::Timestamp;

/// The longest a grant may run: seven days.
pub const MAX_GRANT_SECS: u64 = 7 * 86_400;
/// The longest `when` condition a grant may carry (bytes).
pub const MAX_GRANT_CONDITION_LEN: usize = 4096;

/// What an approver signs to create a grant (purpose `grant`). `when` is omitted (never `null`)
/// when the grant has no condition: the signature covers the body as the server reads it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantBody {
    /// The roster agent the grant is for (exactly).
    pub agent: String,
    /// A tool name glob, as in policy rules (`stripe.refund`, `stripe.*`).
    pub tool: String,
    /// A CEL condition over the call, as a rule's `when`; it must evaluate to true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// How long the grant runs from its creation: 1 s to 7 days.
    pub for_secs: u64,
    pub reason: String,
    pub approver: String,
    #[schema(format = DateTime)]
    pub issued_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct SignedGrant {
    #[serde(flatten)]
    pub body: GrantBody,
    /// Base64 Ed25519 signature, by the signer's roster key, of every other field.
    pub signature: String,
}

/// What the signer of a grant, or an operator, signs to revoke it (purpose `grant-revoke`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantRevokeBody {
    pub grant: String,
    pub reason: String,
    pub revoker: String,
    #[schema(format = DateTime)]
    pub issued_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct SignedGrantRevoke {
    #[serde(flatten)]
    pub body: GrantRevokeBody,
    /// Base64 Ed25519 signature, by the signer's roster key, of every other field.
    pub signature: String,
}

/// Who revoked a grant, when and why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct GrantRevocation {
    pub by: String,
    pub reason: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
}

/// A standing grant as the server keeps it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct Grant {
    /// `grt_…`
    pub id: String,
    pub agent: String,
    pub tool: String,
    #[serde(default)]
    pub when: Option<String>,
    pub reason: String,
    /// The approver who signed it.
    pub by: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
    #[serde(default)]
    pub revoked: Option<GrantRevocation>,
    /// How many calls it has allowed.
    #[serde(default)]
    pub uses: u64,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<Timestamp>,
}

impl Grant {
    /// Neither revoked nor expired at `now`.
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.revoked.is_none() && now < self.expires_at
    }
}
