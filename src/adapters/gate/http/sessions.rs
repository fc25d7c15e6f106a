//! MCP sessions as gavel sees them: each upstream `Mcp-Session-Id` is one gavel session, so an
//! approver sees a call next to the calls before it in the same conversation.
//!
//! Session ids come from the client, so they are hostile: an unknown one gets a fresh gavel
//! session of its own (the upstream decides whether the id is any good), and the table is
//! bounded. Traffic without a session id (a stateless upstream) shares one gavel session, as
//! the stdio gate's one client does.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::adapters::random_hex;

/// Sessions remembered at most; past it the oldest is forgotten (its next call starts a new
/// gavel session).
const MAX_SESSIONS: usize = 4096;

/// The key for traffic that carries no `Mcp-Session-Id`.
const NO_SESSION: &str = "";

#[derive(Debug, Clone, Default)]
pub(crate) struct SessionInfo {
    /// The gavel session the session's calls are filed under.
    pub gavel_session: String,
    pub client_name: Option<String>,
    pub protocol_version: Option<String>,
    /// Insertion order, for forgetting the oldest.
    order: u64,
}

#[derive(Default)]
pub(crate) struct Sessions {
    inner: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    map: HashMap<String, SessionInfo>,
    next: u64,
}

fn new_gavel_session() -> String {
    format!("mcp-{}", random_hex(8))
}

impl Table {
    fn insert(&mut self, key: &str, mut info: SessionInfo) -> SessionInfo {
        if self.map.len() >= MAX_SESSIONS && !self.map.contains_key(key) {
            let oldest = self
                .map
                .iter()
                .min_by_key(|(_, s)| s.order)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.map.remove(&k);
            }
        }
        self.next += 1;
        info.order = self.next;
        self.map.insert(key.to_string(), info.clone());
        info
    }
}

impl Sessions {
    /// An `initialize` was answered: `session` (the upstream's new id, if any) starts a new
    /// gavel session with what the client said about itself.
    pub fn begin(
        &self,
        session: Option<&str>,
        client_name: Option<String>,
        protocol_version: Option<String>,
    ) {
        let Ok(mut t) = self.inner.lock() else {
            return;
        };
        t.insert(
            session.unwrap_or(NO_SESSION),
            SessionInfo {
                gavel_session: new_gavel_session(),
                client_name,
                protocol_version,
                order: 0,
            },
        );
    }

    /// What is known of `session`; an unknown one is remembered with a fresh gavel session.
    pub fn get(&self, session: Option<&str>) -> SessionInfo {
        let key = session.unwrap_or(NO_SESSION);
        let Ok(mut t) = self.inner.lock() else {
            return SessionInfo {
                gavel_session: new_gavel_session(),
                ..SessionInfo::default()
            };
        };
        if let Some(info) = t.map.get(key) {
            return info.clone();
        }
        t.insert(
            key,
            SessionInfo {
                gavel_session: new_gavel_session(),
                ..SessionInfo::default()
            },
        )
    }

    /// The client ended `session` (DELETE) and the upstream agreed.
    pub fn end(&self, session: &str) {
        if let Ok(mut t) = self.inner.lock() {
            t.map.remove(session);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_session_is_one_gavel_session_and_initialize_starts_a_new_one() {
        let s = Sessions::default();
        let a = s.get(Some("abc")).gavel_session;
        assert_eq!(s.get(Some("abc")).gavel_session, a);
        assert_ne!(s.get(Some("other")).gavel_session, a);
        assert_ne!(s.get(None).gavel_session, a);
        s.begin(
            Some("abc"),
            Some("client".into()),
            Some("2025-11-25".into()),
        );
        let renewed = s.get(Some("abc"));
        assert_ne!(renewed.gavel_session, a);
        assert_eq!(renewed.client_name.as_deref(), Some("client"));
        s.end("abc");
        assert_ne!(s.get(Some("abc")).gavel_session, renewed.gavel_session);
    }

    #[test]
    fn the_table_is_bounded() {
        let s = Sessions::default();
        let first = s.get(Some("s0")).gavel_session;
        for i in 1..=MAX_SESSIONS {
            s.get(Some(&format!("s{i}")));
        }
        assert_eq!(
            s.inner.lock().map(|t| t.map.len()).unwrap_or(0),
            MAX_SESSIONS
        );
        // The oldest was forgotten: it comes back as a new gavel session.
        assert_ne!(s.get(Some("s0")).gavel_session, first);
    }
}
