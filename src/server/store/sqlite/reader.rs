//! A read connection answering the typed queries of [`Reads`] with the SQL in [`super::read`].

use rusqlite::Connection;

use super::read::*;
use crate::protocol::{
    ActionSummary, AuditRecord, Escalation, FlaggedAction, KillSwitch, PriorCall, Timestamp,
};
use crate::server::audit::{latest_anchor, Anchor};
use crate::server::store::backend::Reads;
use crate::server::store::{AuditQuery, ExpiryPlan, StoreError, StoredAction, StoredKey};

/// One read connection.
pub struct SqliteReader {
    conn: Connection,
}

impl SqliteReader {
    pub(crate) fn new(conn: Connection) -> SqliteReader {
        SqliteReader { conn }
    }
}

impl Reads for SqliteReader {
    fn last_calls(&self, agent: &str, session: &str, n: u32) -> Result<Vec<PriorCall>, StoreError> {
        last_calls(&self.conn, agent, session, n)
    }
    fn load_action(&self, id: &str) -> Result<Option<StoredAction>, StoreError> {
        load_action(&self.conn, id)
    }
    fn load_escalation(&self, id: &str) -> Result<Option<(Escalation, ExpiryPlan)>, StoreError> {
        load_escalation(&self.conn, id)
    }
    fn idempotency_key(
        &self,
        agent: &str,
        key: &str,
        now: Timestamp,
    ) -> Result<Option<StoredKey>, StoreError> {
        super::keys::read(&self.conn, agent, key, now)
    }
    fn pending_escalations(&self) -> Result<Vec<(Escalation, ExpiryPlan)>, StoreError> {
        pending_escalations(&self.conn)
    }
    fn recent_resolved(&self, limit: u32) -> Result<Vec<Escalation>, StoreError> {
        recent_resolved(&self.conn, limit)
    }
    fn killswitches(&self) -> Result<Vec<KillSwitch>, StoreError> {
        killswitches(&self.conn)
    }
    fn flagged(&self, limit: u32) -> Result<Vec<FlaggedAction>, StoreError> {
        flagged(&self.conn, limit)
    }
    fn load_flagged(&self, action: &str) -> Result<Option<FlaggedAction>, StoreError> {
        load_flagged(&self.conn, action)
    }
    fn signature_used(&self, signature: &str) -> Result<bool, StoreError> {
        signature_used(&self.conn, signature)
    }
    fn recent_activity(&self, limit: u32) -> Result<Vec<ActionSummary>, StoreError> {
        recent_activity(&self.conn, limit)
    }
    fn audit_records(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        audit_records(&self.conn, q)
    }
    fn grants(&self) -> Result<Vec<crate::protocol::Grant>, StoreError> {
        super::grants::read_all(&self.conn)
    }
    fn latest_anchor(&self) -> Result<Option<Anchor>, StoreError> {
        Ok(latest_anchor(&self.conn)?)
    }
    fn recent_actions(
        &self,
        since: crate::protocol::Timestamp,
    ) -> Result<Vec<crate::server::store::RecentAction>, StoreError> {
        super::usage::recent_actions(&self.conn, since)
    }
    fn costed_action(
        &self,
        id: &str,
    ) -> Result<Option<crate::server::store::CostedAction>, StoreError> {
        super::usage::costed_action(&self.conn, id)
    }
    fn tools_called(&self) -> Result<Vec<(String, String)>, StoreError> {
        super::usage::tools_called(&self.conn)
    }
    fn breaker_events(&self) -> Result<Vec<crate::server::audit::AuditEvent>, StoreError> {
        super::breakers::breaker_events(&self.conn)
    }
    fn resolved_history(
        &self,
        q: &crate::server::store::HistoryQuery,
    ) -> Result<(Vec<Escalation>, Option<String>), StoreError> {
        super::history::resolved_history(&self.conn, q)
    }
    fn governance_figures(
        &self,
        from: Timestamp,
        to: Timestamp,
        kill_prefix: fn(&str) -> String,
    ) -> Result<crate::protocol::GovernanceFigures, StoreError> {
        super::figures::governance_figures(&self.conn, from, to, kill_prefix)
    }
}
