//! A read connection answering the typed queries of [`Reads`] on PostgreSQL.

use crate::protocol::{
    ActionSummary, AuditRecord, Escalation, FlaggedAction, KillSwitch, PriorCall, Timestamp,
};
use crate::server::audit::Anchor;
use crate::server::store::backend::Reads;
use crate::server::store::{AuditQuery, ExpiryPlan, StoreError, StoredAction, StoredKey};

/// One read connection.
pub struct PgReader {
    #[allow(dead_code)] // a stub until the read side lands
    url: String,
}

impl PgReader {
    /// A read connection to `url`.
    pub fn connect(url: &str) -> Result<PgReader, StoreError> {
        Ok(PgReader {
            url: url.to_string(),
        })
    }
}

impl Reads for PgReader {
    fn last_calls(
        &self,
        _agent: &str,
        _session: &str,
        _n: u32,
    ) -> Result<Vec<PriorCall>, StoreError> {
        todo!()
    }
    fn load_action(&self, _id: &str) -> Result<Option<StoredAction>, StoreError> {
        todo!()
    }
    fn load_escalation(&self, _id: &str) -> Result<Option<(Escalation, ExpiryPlan)>, StoreError> {
        todo!()
    }
    fn idempotency_key(
        &self,
        _agent: &str,
        _key: &str,
        _now: Timestamp,
    ) -> Result<Option<StoredKey>, StoreError> {
        todo!()
    }
    fn pending_escalations(&self) -> Result<Vec<(Escalation, ExpiryPlan)>, StoreError> {
        todo!()
    }
    fn recent_resolved(&self, _limit: u32) -> Result<Vec<Escalation>, StoreError> {
        todo!()
    }
    fn killswitches(&self) -> Result<Vec<KillSwitch>, StoreError> {
        todo!()
    }
    fn flagged(&self, _limit: u32) -> Result<Vec<FlaggedAction>, StoreError> {
        todo!()
    }
    fn load_flagged(&self, _action: &str) -> Result<Option<FlaggedAction>, StoreError> {
        todo!()
    }
    fn signature_used(&self, _signature: &str) -> Result<bool, StoreError> {
        todo!()
    }
    fn recent_activity(&self, _limit: u32) -> Result<Vec<ActionSummary>, StoreError> {
        todo!()
    }
    fn audit_records(&self, _q: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        todo!()
    }
    fn grants(&self) -> Result<Vec<crate::protocol::Grant>, StoreError> {
        todo!()
    }
    fn latest_anchor(&self) -> Result<Option<Anchor>, StoreError> {
        todo!()
    }
    fn recent_actions(
        &self,
        _since: Timestamp,
    ) -> Result<Vec<crate::server::store::RecentAction>, StoreError> {
        todo!()
    }
    fn costed_action(
        &self,
        _id: &str,
    ) -> Result<Option<crate::server::store::CostedAction>, StoreError> {
        todo!()
    }
    fn tools_called(&self) -> Result<Vec<(String, String)>, StoreError> {
        todo!()
    }
    fn breaker_events(&self) -> Result<Vec<crate::server::audit::AuditEvent>, StoreError> {
        todo!()
    }
    fn resolved_history(
        &self,
        _q: &crate::server::store::HistoryQuery,
    ) -> Result<(Vec<Escalation>, Option<String>), StoreError> {
        todo!()
    }
    fn governance_figures(
        &self,
        _from: Timestamp,
        _to: Timestamp,
        _kill_prefix: fn(&str) -> String,
    ) -> Result<crate::protocol::GovernanceFigures, StoreError> {
        todo!()
    }
}
