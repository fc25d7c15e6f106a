//! What the console holds of its reads on the server, as data: the Audit view's query and its
//! records, and a history search's results. (Asking and paging is `audit_query`'s and
//! `history_search`'s.)

use std::collections::VecDeque;

use crate::protocol::{inert, AuditRecord, Escalation};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditState {
    /// The filters as typed (agent, kind, since, until).
    pub agent: String,
    pub kind: String,
    pub since: String,
    pub until: String,
    /// The filters as sent (names and values), for the next pages.
    pub sent: Vec<(&'static str, String)>,
    pub records: Vec<AuditRecord>,
    /// The last page was full: the server may hold more.
    pub more: bool,
    /// The request whose page is awaited; answers to any other are stale.
    pub loading: Option<u64>,
    pub error: Option<String>,
    /// A query has been run since the view was first opened.
    pub ran: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistorySearch {
    /// The fields as typed, to edit the search again.
    pub typed: Vec<(&'static str, String)>,
    /// The filters as sent.
    pub sent: Vec<(&'static str, String)>,
    pub results: VecDeque<Escalation>,
    /// The cursor of the next page, when the server has more.
    pub next: Option<String>,
    pub loading: Option<u64>,
    pub error: Option<String>,
}

impl HistorySearch {
    /// The search in a few words, for the view's title.
    pub fn describe(&self) -> String {
        if self.sent.is_empty() {
            return "everything".into();
        }
        let typed: Vec<String> = self
            .typed
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", inert(v)))
            .collect();
        typed.join(" ")
    }
}
