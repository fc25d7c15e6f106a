//! The Audit view's query, part of `update`: the auditor's filters (agent, kind, since, until)
//! sent as a signed read of `GET /v1/audit`, the answer paged in from the server as the cursor
//! nears the end (not a snapshot's window), each record openable to its body.

use crate::protocol::{inert, AuditRecord, Role};

use super::command::Command;
use super::dialog::Dialog;
use super::query_form::{parse_when, wire_time, FormKind, QueryForm, WHEN_HINT};
use super::state::{Level, Request, State, View};

pub use super::lookups::AuditState;

/// Records asked for per page.
pub const AUDIT_PAGE: usize = 200;
/// Most records the view holds; past it, narrowing the filter is the way on.
pub const AUDIT_CAP: usize = 20_000;

/// Whether I may read the audit log (the server checks too).
pub fn may_audit(s: &State) -> bool {
    s.me.as_ref()
        .is_some_and(|m| m.has_role(Role::Auditor) || m.has_role(Role::Lead))
}

pub(super) fn open_form(s: &mut State) {
    if !may_audit(s) {
        s.say(Level::Error, "the Audit view needs the auditor role".into());
        return;
    }
    let a = &s.audit;
    s.dialog = Some(Dialog::Query(QueryForm::new(
        FormKind::Audit,
        &[
            (
                "agent",
                "an agent id (its actions and what was decided about them)",
                a.agent.as_str(),
            ),
            (
                "kind",
                "action, decision, escalation_resolved, killswitch, refused…",
                a.kind.as_str(),
            ),
            ("since", WHEN_HINT, a.since.as_str()),
            ("until", WHEN_HINT, a.until.as_str()),
        ],
    )));
}

/// Enter in the audit form: the filters checked, then the first page asked for.
pub(super) fn run_form(s: &mut State, mut form: QueryForm, fx: &mut Vec<Command>) {
    let mut sent = Vec::new();
    for name in ["agent", "kind"] {
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
    s.audit.agent = form.value("agent").to_string();
    s.audit.kind = form.value("kind").to_string();
    s.audit.since = form.value("since").to_string();
    s.audit.until = form.value("until").to_string();
    s.audit.sent = sent;
    restart(s, fx);
}

/// Runs the current filters from the first record.
pub(super) fn restart(s: &mut State, fx: &mut Vec<Command>) {
    s.audit.records.clear();
    s.audit.more = false;
    s.audit.error = None;
    s.audit.ran = true;
    s.selected[View::Audit.index()] = 0;
    s.selected_key[View::Audit.index()] = None;
    s.detail_open = false;
    ask(s, 0, fx);
}

fn ask(s: &mut State, after: u64, fx: &mut Vec<Command>) {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (name, value) in &s.audit.sent {
        q.append_pair(name, value);
    }
    q.append_pair("after_seq", &after.to_string());
    q.append_pair("limit", &AUDIT_PAGE.to_string());
    let request = s.next_request;
    s.next_request += 1;
    s.in_flight.insert(request, Request::Audit);
    s.audit.loading = Some(request);
    fx.push(Command::Audit {
        request,
        query: q.finish(),
    });
}

/// After every event: the first query when the view is first shown, and the next page when the
/// cursor nears the end of what is loaded.
pub(super) fn keep_loaded(s: &mut State, fx: &mut Vec<Command>) {
    if s.view != View::Audit || !may_audit(s) || s.audit.loading.is_some() {
        return;
    }
    if !s.audit.ran {
        return restart(s, fx);
    }
    let near_end = s.selected[View::Audit.index()] + 5 >= s.audit.records.len();
    if s.audit.more && near_end && s.audit.records.len() < AUDIT_CAP {
        let after = s.audit.records.last().map_or(0, |r| r.seq);
        ask(s, after, fx);
    }
}

/// A page arrived (or the query was refused).
pub(super) fn on_page(s: &mut State, request: u64, result: Result<Vec<AuditRecord>, String>) {
    if s.audit.loading != Some(request) {
        return; // an answer to filters since replaced
    }
    s.audit.loading = None;
    match result {
        Ok(page) => {
            s.audit.more = page.len() >= AUDIT_PAGE;
            let last = s.audit.records.last().map_or(0, |r| r.seq);
            s.audit
                .records
                .extend(page.into_iter().filter(|r| r.seq > last));
        }
        Err(e) => {
            s.audit.more = false;
            s.audit.error = Some(inert(&e).into_owned());
        }
    }
}

/// The record under the cursor.
pub fn selected_record(s: &State) -> Option<&AuditRecord> {
    s.audit.records.get(s.selected[View::Audit.index()])
}
