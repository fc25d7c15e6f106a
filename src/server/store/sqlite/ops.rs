//! The SQL for each op, run inside the write transaction (in the job's savepoint when a batch
//! is done again job by job). An op answers with its reply and the audit records it implies
//! beyond those its caller sent.

use chrono::Utc;
use rusqlite::{params, Connection, OptionalExtension};

use super::read::last_calls;
use super::state_name;
use crate::protocol::{Escalation, EscalationState};
use crate::server::audit::AuditEvent;
use crate::server::store::error::json;
use crate::server::store::{ActionWrite, Change, ExpiryPlan, Op, Reply, StoreError};

pub(super) fn apply(tx: &Connection, op: &Op) -> Result<(Reply, Vec<AuditEvent>), StoreError> {
    match op {
        Op::Action(write) => action(tx, write),
        Op::Escalation(change) => {
            change_escalation(tx, change)?;
            Ok((Reply::Done, vec![]))
        }
        Op::SignedChange { change, signature } => {
            tx.execute(
                "INSERT INTO used_signatures (signature) VALUES (?1)",
                [signature],
            )?;
            change_escalation(tx, change)?;
            Ok((Reply::Done, vec![]))
        }
        Op::Retried { action, key } => {
            if let Some(key) = key {
                super::keys::write(tx, key, action)?;
            }
            Ok((Reply::Done, vec![]))
        }
        Op::KillSwitch {
            switch,
            signature,
            cancelled,
        } => {
            tx.execute(
                "INSERT INTO used_signatures (signature) VALUES (?1)",
                [signature],
            )?;
            tx.execute(
                "INSERT INTO killswitches (scope, body) VALUES (?1, ?2)
                 ON CONFLICT(scope) DO UPDATE SET body = excluded.body",
                params![switch.scope, json("a kill switch", switch)?],
            )?;
            for change in cancelled {
                change_escalation(tx, change)?;
            }
            Ok((Reply::Done, vec![]))
        }
        Op::FlagReview { flagged, signature } => {
            tx.execute(
                "INSERT INTO used_signatures (signature) VALUES (?1)",
                [signature],
            )?;
            tx.execute(
                "UPDATE flagged SET reviewed = 1, body = ?2 WHERE action = ?1",
                params![flagged.action.id, json("a flag review", flagged)?],
            )?;
            Ok((Reply::Done, vec![]))
        }
        Op::GrantCreated { grant, signature } => {
            super::grants::create(tx, grant, signature)?;
            Ok((Reply::Done, vec![]))
        }
        Op::GrantRevoked { grant, signature } => {
            super::grants::revoke(tx, grant, signature)?;
            Ok((Reply::Done, vec![]))
        }
        Op::CostReported { action, cost } => {
            super::usage::set_cost(tx, action, *cost)?;
            Ok((Reply::Done, vec![]))
        }
        Op::BreakerReset { signature } => {
            tx.execute(
                "INSERT INTO used_signatures (signature) VALUES (?1)",
                [signature],
            )?;
            Ok((Reply::Done, vec![]))
        }
        Op::PruneActions {
            before,
            after,
            limit,
        } => super::prune::prune(tx, *before, *after, *limit),
        Op::Audit => Ok((Reply::Done, vec![])),
        Op::DenyUnreadable => deny_unreadable(tx),
    }
}

/// Inserts a new escalation with its expiry plan.
fn insert_escalation(
    conn: &Connection,
    esc: &Escalation,
    plan: &ExpiryPlan,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO escalations (id, action, state, body, plan, resolved_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        esc.id,
        esc.action.id,
        state_name(esc.state),
        json("an escalation", esc)?,
        json("an expiry plan", plan)?,
        esc.resolved_at.map(|t| t.to_rfc3339())
    ])?;
    Ok(())
}

/// Applies `change` if the stored escalation is still the one it was made from (see
/// [`Change`]).
fn change_escalation(conn: &Connection, change: &Change) -> Result<(), StoreError> {
    let esc = &change.escalation;
    let changed = conn
        .prepare_cached(
            "UPDATE escalations SET state = ?2, body = ?3, resolved_at = ?4
             WHERE id = ?1 AND body = ?5",
        )?
        .execute(params![
            esc.id,
            state_name(esc.state),
            json("an escalation", esc)?,
            esc.resolved_at.map(|t| t.to_rfc3339()),
            json("an escalation", &change.was)?
        ])?;
    if changed == 1 {
        return Ok(());
    }
    let exists = conn
        .prepare_cached("SELECT 1 FROM escalations WHERE id = ?1")?
        .exists([&esc.id])?;
    Err(if exists {
        StoreError::Conflict(esc.id.clone())
    } else {
        StoreError::NoSuchEscalation(esc.id.clone())
    })
}

fn action(tx: &Connection, write: &ActionWrite) -> Result<(Reply, Vec<AuditEvent>), StoreError> {
    let ActionWrite {
        record,
        effect,
        rule,
        reason,
        escalation,
        flagged,
        key,
        grant,
        governed,
    } = write;
    let mut reply = Reply::Done;
    let mut implied = Vec::new();
    let mut esc_id = None;
    if let Some((esc, plan)) = escalation {
        let mut esc = esc.clone();
        esc.history = last_calls(tx, &record.agent, &record.session, 3)?;
        insert_escalation(tx, &esc, plan)?;
        esc_id = Some(esc.id.clone());
        // The escalation's audit record carries the history it was created with; it follows
        // the action's own record.
        implied.push(AuditEvent::escalation_created(&esc));
        reply = Reply::Escalation(Box::new(esc));
    }
    tx.prepare_cached(
        "INSERT INTO actions (id, agent, session, tool, effect, rule, reason, escalation, args, at,
                              grant_id, cost, governed)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
        record.id,
        record.agent,
        record.session,
        record.tool,
        effect.as_str(),
        rule,
        reason,
        esc_id,
        json("an action's arguments", &record.args)?,
        record.submitted_at.to_rfc3339(),
        grant,
        record.cost,
        governed
    ])?;
    if let Some(grant) = grant {
        super::grants::used(tx, grant, record.submitted_at)?;
    }
    if let Some(f) = flagged {
        tx.prepare_cached(
            "INSERT INTO flagged (action, reviewed, body, at) VALUES (?1, 0, ?2, ?3)",
        )?
        .execute(params![
            f.action.id,
            json("a flagged action", f)?,
            f.flagged_at.to_rfc3339()
        ])?;
    }
    if let Some(key) = key {
        super::keys::write(tx, key, &record.id)?;
    }
    Ok((reply, implied))
}

/// Why a pending escalation row cannot be put back in the queue, if it cannot.
fn unloadable(id: &str, body: &str, plan: &str) -> Option<String> {
    let esc: Escalation = match serde_json::from_str(body) {
        Ok(e) => e,
        Err(e) => return Some(format!("its body cannot be read: {e}")),
    };
    if esc.id != id {
        return Some(format!("its body is for escalation {}", esc.id));
    }
    if esc.state != EscalationState::Pending {
        return Some(format!(
            "its body says {} while the row says pending",
            state_name(esc.state)
        ));
    }
    serde_json::from_str::<ExpiryPlan>(plan)
        .err()
        .map(|e| format!("its expiry plan cannot be read: {e}"))
}

fn deny_unreadable(tx: &Connection) -> Result<(Reply, Vec<AuditEvent>), StoreError> {
    let rows = {
        let mut stmt = tx.prepare(
            "SELECT id, action, body, plan FROM escalations WHERE state = 'pending' ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        rows.collect::<Result<Vec<(String, String, String, String)>, _>>()?
    };
    let mut denied = Vec::new();
    let mut audit = Vec::new();
    for (id, action, body, plan) in rows {
        let Some(problem) = unloadable(&id, &body, &plan) else {
            continue;
        };
        let agent: Option<String> = tx
            .query_row("SELECT agent FROM actions WHERE id = ?1", [&action], |r| {
                r.get(0)
            })
            .optional()?;
        tx.execute(
            "UPDATE escalations SET state = 'unreadable', resolved_at = ?2 WHERE id = ?1",
            params![id, Utc::now().to_rfc3339()],
        )?;
        audit.push(AuditEvent::escalation_unreadable(
            &id, &action, agent, &problem,
        ));
        denied.push((id, problem));
    }
    Ok((Reply::Denied(denied), audit))
}
