//! Standing grants in the console: the grant key of the approve dialog and what the approval
//! sends with it, the revoke dialog, the Grants view's rows, and the grants the stream and
//! replies bring. Part of `update`.

use crate::client::GrantRequest;
use crate::protocol::{inert, Grant, Role};

use super::command::Command;
use super::dialog::{DecisionDraft, Dialog};
use super::grant_form::{GrantFocus, RevokeDraft};
use super::state::{Level, Request, State, View};
use super::text_field::TextField;

/// The grant key in the approve dialog: turns the grant part on (focus to its condition) or off.
pub(super) fn toggle(d: &mut DecisionDraft) {
    if let Some(g) = d.grant.as_mut() {
        g.on = !g.on;
        g.focus = if g.on {
            GrantFocus::Condition
        } else {
            GrantFocus::Reason
        };
        d.error = None;
    } else {
        d.error = Some(
            "a standing grant is not offered here: the rule is not grantable or asks for more \
             than one approval"
                .into(),
        );
    }
}

/// What the grant part asks the server for, or why it cannot be sent.
pub(super) fn request(d: &DecisionDraft, reason: &str) -> Result<Option<GrantRequest>, String> {
    let Some(g) = d.grant.as_ref().filter(|g| g.on) else {
        return Ok(None);
    };
    let length = crate::duration::parse(g.duration.trim(), crate::duration::GRANT_FOR)
        .map_err(|e| format!("grant duration: {e}"))?;
    if reason.is_empty() {
        return Err(
            "a standing grant needs a reason (it is shown wherever it allows a call)".into(),
        );
    }
    let when = g.condition.trim();
    Ok(Some(GrantRequest {
        agent: d.escalation.action.agent.clone(),
        tool: d.escalation.action.tool.clone(),
        when: (!when.is_empty()).then(|| when.to_string()),
        for_secs: length.as_secs().max(1),
        reason: reason.to_string(),
    }))
}

/// Keeps the grant of an approval being sent until the approval is answered: a grant goes
/// only with an approval the server accepted.
pub(super) fn queue(s: &mut State, escalation: &str, grant: GrantRequest) {
    s.grants_queued
        .insert(escalation.to_string(), (grant, false));
}

/// The approval of `escalation` was answered: its grant is sent next, or dropped (saying so).
pub(super) fn approval_answered(s: &mut State, escalation: &str, accepted: bool) {
    if accepted {
        if let Some(q) = s.grants_queued.get_mut(escalation) {
            q.1 = true;
        }
    } else if s.grants_queued.remove(escalation).is_some() {
        if let Some(m) = s.message.as_mut() {
            m.text += " · the standing grant was not sent";
        }
    }
}

/// Sends the grants whose approvals were accepted.
pub(super) fn send_accepted(s: &mut State, fx: &mut Vec<Command>) {
    let ready: Vec<String> = s
        .grants_queued
        .iter()
        .filter(|(_, (_, ok))| *ok)
        .map(|(id, _)| id.clone())
        .collect();
    for escalation in ready {
        let Some((grant, _)) = s.grants_queued.remove(&escalation) else {
            continue;
        };
        let request = s.next_request;
        s.next_request += 1;
        s.in_flight.insert(request, Request::Grant { escalation });
        fx.push(Command::Grant { request, grant });
    }
}

/// The revoke key in the Grants view.
pub(super) fn start_revoke(s: &mut State) {
    let Some(g) = s.selected_grant().cloned() else {
        s.say(Level::Info, "no grant selected".into());
        return;
    };
    let me = s.me.as_ref();
    let may = me.is_some_and(|m| m.id == g.by || m.has_role(Role::Operator));
    if !may {
        s.dialog = Some(Dialog::NotYours {
            escalation: g.id.clone(),
            why: format!(
                "only {} (who signed it) or an operator may revoke this grant",
                inert(&g.by)
            ),
        });
        return;
    }
    s.dialog = Some(Dialog::Revoke(RevokeDraft {
        grant: g,
        reason: TextField::default(),
        error: None,
    }));
}

pub(super) fn confirm_revoke(s: &mut State, mut r: RevokeDraft, fx: &mut Vec<Command>) {
    let reason = r.reason.trim().to_string();
    if reason.is_empty() {
        r.error = Some("a reason is required".into());
        s.dialog = Some(Dialog::Revoke(r));
        return;
    }
    let request = s.next_request;
    s.next_request += 1;
    let grant = r.grant.id.clone();
    s.in_flight.insert(
        request,
        Request::Revoke {
            grant: grant.clone(),
        },
    );
    s.say(Level::Info, format!("… revoking grant {grant}"));
    fx.push(Command::Revoke {
        request,
        grant,
        reason,
    });
}

/// A grant the server answered with, or told the stream about.
pub(super) fn upsert_grant(s: &mut State, g: Grant) {
    s.grants.insert(g.id.clone(), g);
}

/// The answer to a grant or revocation this console sent.
pub(super) fn on_grant_reply(s: &mut State, req: &Request, g: Grant) {
    let text = match req {
        Request::Revoke { .. } => format!("✓ grant {} revoked", g.id),
        _ => format!(
            "✓ grant {}: {} may call {} like this until {} UTC",
            g.id,
            inert(&g.agent),
            inert(&g.tool),
            g.expires_at.format("%H:%M:%S")
        ),
    };
    // Said after the approval's own answer when that came first, so neither hides the other.
    let text = match &s.message {
        Some(m) if m.level == Level::Success && m.text.starts_with("✓ your approval") => {
            format!("{} · {text}", m.text)
        }
        _ => text,
    };
    s.say(Level::Success, text);
    upsert_grant(s, g);
}

pub(super) fn on_grant_refused(s: &mut State, req: &Request, why: String) {
    let text = match req {
        Request::Revoke { grant } => format!("✗ grant {grant} was NOT revoked: {why}"),
        Request::Grant { escalation } => {
            format!("✗ the standing grant from {escalation} was NOT created: {why}")
        }
        _ => return,
    };
    s.say(Level::Error, text);
}

impl State {
    /// Live grants the filter lets through, soonest to expire first.
    pub fn grant_rows(&self) -> Vec<&Grant> {
        let mut v: Vec<&Grant> = self
            .grants
            .values()
            .filter(|g| g.is_live(self.now))
            .filter(|g| self.matches(&[&g.id, &g.agent, &g.tool, &g.by]))
            .collect();
        v.sort_by(|a, b| a.expires_at.cmp(&b.expires_at).then(a.id.cmp(&b.id)));
        v
    }

    pub fn selected_grant(&self) -> Option<&Grant> {
        let key = self.selected_key[View::Grants.index()].as_deref()?;
        self.grants.get(key)
    }
}
