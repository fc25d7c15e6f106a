//! What a storage backend provides: a write side that commits a batch of jobs durably, and
//! read connections answering the typed queries. SQLite ([`super::sqlite`]) is the one today;
//! another (PostgreSQL) is a module implementing these two traits.

use super::{ExpiryPlan, Job, Reply, StoreError};
use crate::protocol::{
    ActionSummary, AuditRecord, Escalation, FlaggedAction, KillSwitch, PriorCall, Timestamp,
};
use crate::server::audit::Anchor;

use super::query::AuditQuery;
use super::{StoredAction, StoredKey};

/// The write side, driven by the writer thread ([`super::writer`]).
///
/// `commit` must apply the whole batch in one transaction and make it durable before it
/// returns: each job isolated (a failing job is undone alone and answered with its error, the
/// chain head moved back), every audit record appended through [`super::chain::Chain`], and one
/// signed checkpoint over the new head. Nothing is answered before the commit is durable.
pub trait Backend: Send + 'static {
    /// One durable transaction for `jobs`; the answer per job, or why nothing was committed.
    fn commit(&mut self, jobs: &[Job]) -> Result<Vec<Result<Reply, StoreError>>, StoreError>;
    /// Whether a write could be committed now (waiting only briefly for a lock).
    fn probe(&mut self) -> Result<(), StoreError>;
    /// Called once when the writer stops: leave the storage self-contained.
    fn close(&mut self);
    /// Called after each batch has been answered, with whether more calls wait: upkeep that
    /// must not hold up an answer.
    fn after_batch(&mut self, _waiting: bool) {}
}

/// The typed queries. A row that cannot be read is an error naming its table and row.
pub trait Reads: Send {
    /// The last `n` calls of a session, oldest first.
    fn last_calls(&self, agent: &str, session: &str, n: u32) -> Result<Vec<PriorCall>, StoreError>;
    fn load_action(&self, id: &str) -> Result<Option<StoredAction>, StoreError>;
    fn load_escalation(&self, id: &str) -> Result<Option<(Escalation, ExpiryPlan)>, StoreError>;
    /// `agent`'s `Idempotency-Key` `key`, unless it expired by `now`.
    fn idempotency_key(
        &self,
        agent: &str,
        key: &str,
        now: Timestamp,
    ) -> Result<Option<StoredKey>, StoreError>;
    fn pending_escalations(&self) -> Result<Vec<(Escalation, ExpiryPlan)>, StoreError>;
    fn recent_resolved(&self, limit: u32) -> Result<Vec<Escalation>, StoreError>;
    fn killswitches(&self) -> Result<Vec<KillSwitch>, StoreError>;
    /// Unreviewed flagged actions first (newest first), then recently reviewed ones.
    fn flagged(&self, limit: u32) -> Result<Vec<FlaggedAction>, StoreError>;
    fn load_flagged(&self, action: &str) -> Result<Option<FlaggedAction>, StoreError>;
    fn signature_used(&self, signature: &str) -> Result<bool, StoreError>;
    fn recent_activity(&self, limit: u32) -> Result<Vec<ActionSummary>, StoreError>;
    fn audit_records(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError>;
    /// Every standing grant, live or not, with its use count.
    fn grants(&self) -> Result<Vec<crate::protocol::Grant>, StoreError>;
    /// The newest signed checkpoint; `None` before the first record.
    fn latest_anchor(&self) -> Result<Option<Anchor>, StoreError>;
    /// Every call recorded at or after `since`, oldest first.
    fn recent_actions(&self, since: Timestamp) -> Result<Vec<super::RecentAction>, StoreError>;
    /// A recorded call's agent, tool, effect and cost.
    fn costed_action(&self, id: &str) -> Result<Option<super::CostedAction>, StoreError>;
    /// Every (agent, tool) pair ever called.
    fn tools_called(&self) -> Result<Vec<(String, String)>, StoreError>;
    /// The breaker records from each agent's latest trip of each breaker on, oldest first.
    fn breaker_events(&self) -> Result<Vec<crate::server::audit::AuditEvent>, StoreError>;
    /// Resolved escalations matching `q`, newest first, and the cursor for the next page.
    fn resolved_history(
        &self,
        q: &super::HistoryQuery,
    ) -> Result<(Vec<Escalation>, Option<String>), StoreError>;
    /// The governance figures of `from..=to`; `kill_prefix(scope)` is how that kill switch's
    /// deny reasons start.
    fn governance_figures(
        &self,
        from: Timestamp,
        to: Timestamp,
        kill_prefix: fn(&str) -> String,
    ) -> Result<crate::protocol::GovernanceFigures, StoreError>;
}
