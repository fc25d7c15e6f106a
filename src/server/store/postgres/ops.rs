//! The SQL for each op, run inside the write transaction (in the job's savepoint when a batch
//! is done again job by job): the same rows SQLite's `ops` writes. An op answers with its reply
//! and the audit records it implies beyond those its caller sent.

use chrono::Utc;

use super::op_rows;
use super::prior_calls::last_calls;
use super::sql::Sql;
use crate::protocol::{Escalation, EscalationState};
use crate::server::audit::AuditEvent;
use crate::server::store::error::json;
use crate::server::store::{state_name, ActionWrite, Change, ExpiryPlan, Op, Reply, StoreError};

pub(super) fn apply(sql: &mut Sql, op: &Op) -> Result<(Reply, Vec<AuditEvent>), StoreError> {
    match op {
        Op::Action(write) => action(sql, write),
        Op::Escalation(change) => {
            change_escalation(sql, change)?;
            Ok((Reply::Done, vec![]))
        }
        Op::SignedChange { change, signature } => {
            op_rows::use_signature(sql, signature)?;
            change_escalation(sql, change)?;
            Ok((Reply::Done, vec![]))
        }
        Op::Retried { action, key } => {
            if let Some(key) = key {
                op_rows::write_key(sql, key, action)?;
            }
            Ok((Reply::Done, vec![]))
        }
        Op::KillSwitch {
            switch,
            signature,
            cancelled,
        } => {
            op_rows::use_signature(sql, signature)?;
            sql.execute(
                "INSERT INTO killswitches (scope, body) VALUES ($1, $2)
                 ON CONFLICT (scope) DO UPDATE SET body = excluded.body",
                &[&switch.scope, &json("a kill switch", switch)?],
            )?;
            for change in cancelled {
                change_escalation(sql, change)?;
            }
            Ok((Reply::Done, vec![]))
        }
        Op::FlagReview { flagged, signature } => {
            op_rows::use_signature(sql, signature)?;
            sql.execute(
                "UPDATE flagged SET reviewed = 1, body = $2 WHERE action = $1",
                &[&flagged.action.id, &json("a flag review", flagged)?],
            )?;
            Ok((Reply::Done, vec![]))
        }
        Op::GrantCreated { grant, signature } => {
            op_rows::create_grant(sql, grant, signature)?;
            Ok((Reply::Done, vec![]))
        }
        Op::GrantRevoked { grant, signature } => {
            op_rows::revoke_grant(sql, grant, signature)?;
            Ok((Reply::Done, vec![]))
        }
        Op::CostReported { action, cost } => {
            op_rows::set_cost(sql, action, *cost)?;
            Ok((Reply::Done, vec![]))
        }
        Op::BreakerReset { signature } => {
            op_rows::use_signature(sql, signature)?;
            Ok((Reply::Done, vec![]))
        }
        Op::PruneActions {
            before,
            after,
            limit,
        } => super::prune::prune(sql, *before, *after, *limit),
        Op::Audit => Ok((Reply::Done, vec![])),
        Op::DenyUnreadable => deny_unreadable(sql),
    }
}

/// Inserts a new escalation with its expiry plan.
fn insert_escalation(sql: &mut Sql, esc: &Escalation, plan: &ExpiryPlan) -> Result<(), StoreError> {
    sql.execute(
        "INSERT INTO escalations (id, action, state, body, plan, resolved_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &esc.id,
            &esc.action.id,
            &state_name(esc.state),
            &json("an escalation", esc)?,
            &json("an expiry plan", plan)?,
            &esc.resolved_at.map(|t| t.to_rfc3339()),
        ],
    )?;
    Ok(())
}

/// Applies `change` if the stored escalation is still the one it was made from (see
/// [`Change`]): another replica's change to it since is a [`StoreError::Conflict`].
fn change_escalation(sql: &mut Sql, change: &Change) -> Result<(), StoreError> {
    let esc = &change.escalation;
    let changed = sql.execute(
        "UPDATE escalations SET state = $2, body = $3, resolved_at = $4
         WHERE id = $1 AND body = $5",
        &[
            &esc.id,
            &state_name(esc.state),
            &json("an escalation", esc)?,
            &esc.resolved_at.map(|t| t.to_rfc3339()),
            &json("an escalation", &change.was)?,
        ],
    )?;
    if changed == 1 {
        return Ok(());
    }
    let exists = sql
        .query_opt("SELECT 1 FROM escalations WHERE id = $1", &[&esc.id])?
        .is_some();
    Err(if exists {
        StoreError::Conflict(esc.id.clone())
    } else {
        StoreError::NoSuchEscalation(esc.id.clone())
    })
}

fn action(sql: &mut Sql, write: &ActionWrite) -> Result<(Reply, Vec<AuditEvent>), StoreError> {
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
        // Read in this transaction, under the chain lock: every replica's calls of the session.
        esc.history = last_calls(sql, &record.agent, &record.session, 3)?;
        insert_escalation(sql, &esc, plan)?;
        esc_id = Some(esc.id.clone());
        // The escalation's audit record carries the history it was created with; it follows
        // the action's own record.
        implied.push(AuditEvent::escalation_created(&esc));
        reply = Reply::Escalation(Box::new(esc));
    }
    sql.execute(
        "INSERT INTO actions (id, agent, session, tool, effect, rule, reason, escalation, args,
                              at, grant_id, cost, governed)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        &[
            &record.id,
            &record.agent,
            &record.session,
            &record.tool,
            &effect.as_str(),
            rule,
            reason,
            &esc_id,
            &json("an action's arguments", &record.args)?,
            &record.submitted_at.to_rfc3339(),
            grant,
            &record.cost,
            governed,
        ],
    )?;
    if let Some(grant) = grant {
        op_rows::grant_used(sql, grant, record.submitted_at)?;
    }
    if let Some(f) = flagged {
        sql.execute(
            "INSERT INTO flagged (action, reviewed, body, at) VALUES ($1, 0, $2, $3)",
            &[
                &f.action.id,
                &json("a flagged action", f)?,
                &f.flagged_at.to_rfc3339(),
            ],
        )?;
    }
    if let Some(key) = key {
        op_rows::write_key(sql, key, &record.id)?;
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

fn deny_unreadable(sql: &mut Sql) -> Result<(Reply, Vec<AuditEvent>), StoreError> {
    let rows = sql.query(
        "SELECT id, action, body, plan FROM escalations WHERE state = 'pending' ORDER BY id",
        &[],
    )?;
    let mut denied = Vec::new();
    let mut audit = Vec::new();
    for row in rows {
        let (id, action, body, plan): (String, String, String, String) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        let Some(problem) = unloadable(&id, &body, &plan) else {
            continue;
        };
        let agent: Option<String> = sql
            .query_opt("SELECT agent FROM actions WHERE id = $1", &[&action])?
            .map(|r| r.get(0));
        sql.execute(
            "UPDATE escalations SET state = 'unreadable', resolved_at = $2 WHERE id = $1",
            &[&id, &Utc::now().to_rfc3339()],
        )?;
        audit.push(AuditEvent::escalation_unreadable(
            &id, &action, agent, &problem,
        ));
        denied.push((id, problem));
    }
    Ok((Reply::Denied(denied), audit))
}
