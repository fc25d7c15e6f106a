//! Kill switches: an operator's signed flip, which cancels the pending escalations it covers and
//! says which.

use std::sync::Arc;

use chrono::Utc;
use serde_json::json;

use super::audit::AuditEntry;
use super::error::ApiError;
use super::pep::kill_reason;
use super::queue::{
    bad_signature, check_fresh_signature, check_issued_at, close, resolved_entry, signer,
};
use super::roster::MAX_ID_LEN;
use super::store::Op;
use super::App;
use crate::protocol::signing::Purpose;
use crate::protocol::{
    EscalationState, FlipAck, KillSwitch, Role, Scope, ServerMessage, SignedKillSwitch,
    MAX_NAME_LEN,
};

pub async fn flip(app: &Arc<App>, f: SignedKillSwitch) -> Result<FlipAck, ApiError> {
    let person = signer(app, &f.body.operator)?;
    person
        .key
        .verify(Purpose::KillSwitch, &f.body, &f.signature)
        .map_err(|_| bad_signature())?;
    check_issued_at(&f.body.issued_at)?;
    if !person.info.has_role(Role::Operator) {
        return Err(ApiError::forbidden(
            "not_operator",
            "only people with the operator role flip kill switches",
        ));
    }
    let scope = Scope::parse(&f.body.scope).ok_or_else(|| {
        ApiError::bad_request("bad_scope", "scope must be global, agent:ID or tool:NAME")
    })?;
    check_scope(app, &scope, f.body.on)?;
    if f.body.reason.trim().is_empty() {
        return Err(ApiError::bad_request(
            "reason_required",
            "a kill switch flip needs a reason",
        ));
    }
    let mut core = app.core.lock().await;
    check_fresh_signature(app, &f.signature).await?;
    let switch = KillSwitch {
        scope: scope.to_string(),
        on: f.body.on,
        reason: f.body.reason.clone(),
        by: f.body.operator.clone(),
        at: Utc::now(),
    };
    let mut audit = vec![AuditEntry::new(
        "killswitch",
        f.body.operator.clone(),
        json!({"scope": switch.scope, "on": switch.on, "reason": switch.reason, "operator": switch.by,
               "issued_at": f.body.issued_at, "signature": f.signature,
               "agent": match &scope { Scope::Agent(a) => Some(a.as_str()), _ => None }}),
    )];
    let mut cancelled = Vec::new();
    if switch.on {
        for (esc, _) in core.pending.values() {
            if scope.covers(&esc.action.agent, &esc.action.tool) {
                let mut esc = esc.clone();
                close(
                    &mut esc,
                    EscalationState::Cancelled,
                    kill_reason(&switch.scope, &switch.reason),
                );
                audit.push(resolved_entry(&esc));
                cancelled.push(esc);
            }
        }
    }
    app.store
        .write(
            Op::KillSwitch {
                switch: switch.clone(),
                signature: f.signature.clone(),
                cancelled: cancelled.clone(),
            },
            audit,
        )
        .await
        .map_err(ApiError::storage)?;
    app.kill
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(switch.scope.clone(), switch.clone());
    let _ = app.bus.send(ServerMessage::KillSwitchChanged {
        killswitch: switch.clone(),
    });
    let mut ids = Vec::with_capacity(cancelled.len());
    for esc in cancelled {
        core.pending.remove(&esc.id);
        ids.push(esc.id.clone());
        let _ = app.bus.send(ServerMessage::EscalationResolved {
            escalation: Box::new(esc),
        });
    }
    Ok(FlipAck {
        killswitch: switch,
        cancelled: ids,
    })
}

/// A typo must not look like a working stop: an agent scope names a roster agent (an existing
/// switch may still be turned off after its agent left the roster); tool names are free-form
/// (a tool need not exist before it is stopped) but no longer than a tool name can be.
fn check_scope(app: &App, scope: &Scope, on: bool) -> Result<(), ApiError> {
    match scope {
        Scope::Agent(id) if app.roster.agent(id).is_none() => {
            let existing = app
                .kill
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .contains_key(&scope.to_string());
            if on || !existing {
                return Err(unknown_agent(app, id));
            }
        }
        Scope::Tool(name) if name.len() > MAX_NAME_LEN => {
            return Err(ApiError::bad_request(
                "bad_scope",
                format!("tool names in a scope are at most {MAX_NAME_LEN} bytes"),
            ));
        }
        _ => {}
    }
    Ok(())
}

fn unknown_agent(app: &App, id: &str) -> ApiError {
    let mut known: Vec<&str> = app.roster.agents.iter().map(|a| a.id.as_str()).collect();
    known.sort_unstable();
    let more = known.len().saturating_sub(10);
    known.truncate(10);
    let mut list = known.join(", ");
    if more > 0 {
        list += &format!(" and {more} more");
    }
    let named = if id.len() <= MAX_ID_LEN {
        format!("{id:?}")
    } else {
        format!("with that id (ids are at most {MAX_ID_LEN} characters)")
    };
    ApiError::bad_request(
        "unknown_agent_scope",
        format!(
            "no agent {named} in the roster, so this switch would stop nothing (agents: {list})"
        ),
    )
}
