//! The History view's search on the server, part of `update`: outcome, decider, agent and time
//! range sent as a signed read of `GET /v1/history`, so it finds any escalation ever resolved,
//! not only the few hundred a snapshot carried. While a search is shown the History view lists
//! its results, paged in as the cursor nears the end; Esc goes back to the live history.

use std::collections::VecDeque;

use crate::protocol::{inert, Escalation, HistoryPage};

use super::command::Command;
use super::dialog::Dialog;
use super::query_form::{parse_when, wire_time, FormKind, QueryForm, WHEN_HINT};
use super::state::{Request, State, View};

pub use super::lookups::HistorySearch;

/// Escalations asked for per page.
pub const HISTORY_PAGE: usize = 100;
/// Most results a search holds; past it, narrowing the search is the way on.
pub const SEARCH_CAP: usize = 5_000;

impl State {
    /// What the History view lists: a server search's results while one is shown, else the
    /// resolutions the stream brought.
    pub fn history_list(&self) -> &VecDeque<Escalation> {
        match &self.history_search {
            Some(h) => &h.results,
            None => &self.history,
        }
    }
}

const FIELDS: [(&str, &str); 5] = [
    ("outcome", "approved, denied, expired or cancelled"),
    ("decider", "a person who voted on it, either way"),
    ("agent", "an agent id"),
    ("since", WHEN_HINT),
    ("until", WHEN_HINT),
];

pub(super) fn open_form(s: &mut State) {
    let typed = |name: &str| {
        s.history_search
            .as_ref()
            .and_then(|h| h.typed.iter().find(|(k, _)| *k == name))
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let values: Vec<String> = FIELDS.iter().map(|(n, _)| typed(n)).collect();
    let fields: Vec<(&'static str, &'static str, &str)> = FIELDS
        .iter()
        .zip(&values)
        .map(|((n, h), v)| (*n, *h, v.as_str()))
        .collect();
    s.dialog = Some(Dialog::Query(QueryForm::new(FormKind::History, &fields)));
}

pub(super) fn run_form(s: &mut State, mut form: QueryForm, fx: &mut Vec<Command>) {
    let mut sent = Vec::new();
    let outcome = form.value("outcome").to_lowercase();
    if !outcome.is_empty() {
        if !["approved", "denied", "expired", "cancelled"].contains(&outcome.as_str()) {
            form.error = Some("outcome: one of approved, denied, expired, cancelled".into());
            s.dialog = Some(Dialog::Query(form));
            return;
        }
        sent.push(("outcome", outcome));
    }
    for name in ["decider", "agent"] {
        if !form.value(name).is_empty() {
            sent.push((name, form.value(name).to_string()));
        }
    }
    for name in ["since", "until"] {
        match parse_when(form.value(name), s.now) {
            Ok(Some(t)) => sent.push((name, wire_time(t))),
            Ok(None) => {}
            Err(e) => {
                form.error = Some(format!("{name}: {e}"));
                s.dialog = Some(Dialog::Query(form));
                return;
            }
        }
    }
    let typed = FIELDS
        .iter()
        .map(|(n, _)| (*n, form.value(n).to_string()))
        .collect();
    s.history_search = Some(HistorySearch {
        typed,
        sent,
        ..Default::default()
    });
    s.selected[View::History.index()] = 0;
    s.selected_key[View::History.index()] = None;
    s.detail_open = false;
    ask(s, None, fx);
}

fn ask(s: &mut State, before: Option<String>, fx: &mut Vec<Command>) {
    let Some(h) = s.history_search.as_mut() else {
        return;
    };
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (name, value) in &h.sent {
        q.append_pair(name, value);
    }
    if let Some(b) = &before {
        q.append_pair("before", b);
    }
    q.append_pair("limit", &HISTORY_PAGE.to_string());
    let request = s.next_request;
    s.next_request += 1;
    h.loading = Some(request);
    s.in_flight.insert(request, Request::History);
    fx.push(Command::History {
        request,
        query: q.finish(),
    });
}

/// After every event: the next page when the cursor nears the end of the results.
pub(super) fn keep_loaded(s: &mut State, fx: &mut Vec<Command>) {
    if s.view != View::History {
        return;
    }
    let at = s.selected[View::History.index()];
    let Some(h) = s.history_search.as_ref() else {
        return;
    };
    if h.loading.is_none() && at + 5 >= h.results.len() && h.results.len() < SEARCH_CAP {
        if let Some(next) = h.next.clone() {
            ask(s, Some(next), fx);
        }
    }
}

pub(super) fn on_page(s: &mut State, request: u64, result: Result<HistoryPage, String>) {
    let Some(h) = s
        .history_search
        .as_mut()
        .filter(|h| h.loading == Some(request))
    else {
        return; // a search since replaced or closed
    };
    h.loading = None;
    match result {
        Ok(page) => {
            h.next = page.next;
            for e in page.escalations {
                if !h.results.iter().any(|r| r.id == e.id) {
                    h.results.push_back(e);
                }
            }
        }
        Err(e) => {
            h.next = None;
            h.error = Some(inert(&e).into_owned());
        }
    }
}

/// Esc in the History view: back from the search to the live history.
pub(super) fn close(s: &mut State) -> bool {
    if s.view != View::History || s.history_search.is_none() {
        return false;
    }
    s.history_search = None;
    s.selected[View::History.index()] = 0;
    s.selected_key[View::History.index()] = None;
    true
}
