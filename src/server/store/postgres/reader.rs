//! A read connection answering the typed queries of [`Reads`] on PostgreSQL, with the same
//! answers, in the same order, as SQLite's reader gives from the same rows.
//!
//! A lost connection heals: the next read connects anew, and a read that failed because the
//! connection was lost under it is tried once more on a new one (reads change nothing). While
//! the database cannot be reached, reads fail with that error.
//!
//! Parts: [`conn`] (the connection and its prepared statements), [`read`] (actions,
//! escalations, switches, flags, keys), [`audit`] (audit records, breaker records, the anchor),
//! [`usage`] (governance's calls, grants), [`history`] (history search), [`figures`]
//! (governance figures).

mod audit;
mod conn;
mod figures;
mod history;
pub(super) mod read;
mod usage;

#[cfg(test)]
mod tests;

use std::cell::RefCell;

use postgres::error::SqlState;

use self::conn::Conn;
use crate::protocol::{
    ActionSummary, AuditRecord, Escalation, FlaggedAction, KillSwitch, PriorCall, Timestamp,
};
use crate::server::audit::Anchor;
use crate::server::store::backend::Reads;
use crate::server::store::{AuditQuery, ExpiryPlan, StoreError, StoredAction, StoredKey};

/// One read connection. `Reads` is used by one read at a time (the store's pool hands each
/// reader to one read), so a `RefCell` is all the connection needs.
pub struct PgReader {
    url: String,
    /// `None` after the connection was lost and a new one could not be made yet.
    conn: RefCell<Option<Conn>>,
}

impl PgReader {
    /// Connects to `url`; the read connection reconnects there whenever it loses the database.
    pub fn connect(url: &str) -> Result<PgReader, StoreError> {
        Ok(PgReader {
            conn: RefCell::new(Some(Conn::open(url)?)),
            url: url.to_string(),
        })
    }

    /// Runs `read` on a live connection.
    fn with<T>(&self, read: impl Fn(&mut Conn) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let mut slot = self.conn.borrow_mut();
        let result = read(self.live(&mut slot)?);
        match result {
            Err(e) if lost(slot.as_ref(), &e) => {
                tracing::warn!("read connection lost ({e}); reconnecting");
                *slot = None;
                read(self.live(&mut slot)?)
            }
            other => other,
        }
    }

    /// The connection, made anew if there is none or it was closed.
    fn live<'a>(&self, slot: &'a mut Option<Conn>) -> Result<&'a mut Conn, StoreError> {
        if slot.as_ref().is_none_or(Conn::is_closed) {
            *slot = None;
            *slot = Some(Conn::open(&self.url)?);
        }
        slot.as_mut().ok_or(StoreError::Closed)
    }
}

impl Drop for PgReader {
    /// Closing a connection blocks on the client's own runtime, which a thread driving async
    /// tasks must not do, and the store (with its readers) may well be dropped on one: there
    /// the connection is closed on a thread of its own.
    fn drop(&mut self) {
        let Some(conn) = self.conn.get_mut().take() else {
            return;
        };
        if tokio::runtime::Handle::try_current().is_err() {
            return drop(conn);
        }
        // Should the thread not start, the connection is left to the database to reap rather
        // than closed here.
        let conn = std::mem::ManuallyDrop::new(conn);
        let _ = std::thread::Builder::new()
            .name("gavel-pg-close".into())
            .spawn(move || drop(std::mem::ManuallyDrop::into_inner(conn)));
    }
}

/// Whether `e` came of losing the connection rather than of the read itself.
fn lost(conn: Option<&Conn>, e: &StoreError) -> bool {
    if conn.is_none_or(Conn::is_closed) {
        return true;
    }
    let StoreError::Postgres(e) = e else {
        return false;
    };
    e.is_closed()
        || matches!(
            e.code(),
            Some(
                &SqlState::ADMIN_SHUTDOWN
                    | &SqlState::CRASH_SHUTDOWN
                    | &SqlState::CANNOT_CONNECT_NOW
            )
        )
}

impl Reads for PgReader {
    fn last_calls(&self, agent: &str, session: &str, n: u32) -> Result<Vec<PriorCall>, StoreError> {
        self.with(|c| read::last_calls(c, agent, session, n))
    }
    fn load_action(&self, id: &str) -> Result<Option<StoredAction>, StoreError> {
        self.with(|c| read::load_action(c, id))
    }
    fn load_escalation(&self, id: &str) -> Result<Option<(Escalation, ExpiryPlan)>, StoreError> {
        self.with(|c| read::load_escalation(c, id))
    }
    fn idempotency_key(
        &self,
        agent: &str,
        key: &str,
        now: Timestamp,
    ) -> Result<Option<StoredKey>, StoreError> {
        self.with(|c| read::idempotency_key(c, agent, key, now))
    }
    fn pending_escalations(&self) -> Result<Vec<(Escalation, ExpiryPlan)>, StoreError> {
        self.with(read::pending_escalations)
    }
    fn recent_resolved(&self, limit: u32) -> Result<Vec<Escalation>, StoreError> {
        self.with(|c| read::recent_resolved(c, limit))
    }
    fn killswitches(&self) -> Result<Vec<KillSwitch>, StoreError> {
        self.with(read::killswitches)
    }
    fn flagged(&self, limit: u32) -> Result<Vec<FlaggedAction>, StoreError> {
        self.with(|c| read::flagged(c, limit))
    }
    fn load_flagged(&self, action: &str) -> Result<Option<FlaggedAction>, StoreError> {
        self.with(|c| read::load_flagged(c, action))
    }
    fn signature_used(&self, signature: &str) -> Result<bool, StoreError> {
        self.with(|c| read::signature_used(c, signature))
    }
    fn recent_activity(&self, limit: u32) -> Result<Vec<ActionSummary>, StoreError> {
        self.with(|c| read::recent_activity(c, limit))
    }
    fn audit_records(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        self.with(|c| audit::audit_records(c, q))
    }
    fn grants(&self) -> Result<Vec<crate::protocol::Grant>, StoreError> {
        self.with(usage::grants)
    }
    fn latest_anchor(&self) -> Result<Option<Anchor>, StoreError> {
        self.with(audit::latest_anchor)
    }
    fn recent_actions(
        &self,
        since: Timestamp,
    ) -> Result<Vec<crate::server::store::RecentAction>, StoreError> {
        self.with(|c| usage::recent_actions(c, since))
    }
    fn costed_action(
        &self,
        id: &str,
    ) -> Result<Option<crate::server::store::CostedAction>, StoreError> {
        self.with(|c| usage::costed_action(c, id))
    }
    fn tools_called(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.with(usage::tools_called)
    }
    fn breaker_events(&self) -> Result<Vec<crate::server::audit::AuditEvent>, StoreError> {
        self.with(audit::breaker_events)
    }
    fn resolved_history(
        &self,
        q: &crate::server::store::HistoryQuery,
    ) -> Result<(Vec<Escalation>, Option<String>), StoreError> {
        self.with(|c| history::resolved_history(c, q))
    }
    fn governance_figures(
        &self,
        from: Timestamp,
        to: Timestamp,
        kill_prefix: fn(&str) -> String,
    ) -> Result<crate::protocol::GovernanceFigures, StoreError> {
        self.with(|c| figures::governance_figures(c, from, to, kill_prefix))
    }
}
