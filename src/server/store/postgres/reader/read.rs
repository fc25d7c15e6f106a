//! The reads of actions, escalations, kill switches, flags, used signatures and
//! `Idempotency-Key`s: SQLite's (`sqlite::read`, `sqlite::keys`) in PostgreSQL's words.
//!
//! Ids and scopes are ordered in the "C" collation, byte by byte as SQLite orders them,
//! whatever the database's own collation.

use postgres::Row;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::conn::{Conn, Params};
use crate::protocol::{
    ActionSummary, Effect, Escalation, FlaggedAction, KillSwitch, PriorCall, Timestamp,
};
use crate::server::store::error::unreadable;
use crate::server::store::rows::{effect, key_cutoff, parse, resolution, time};
use crate::server::store::{ExpiryPlan, StoreError, StoredAction, StoredKey};

/// A session's last calls, newest first: `$1` agent, `$2` session, `$3` how many. Read here
/// and, by the writer, inside the transaction that creates an escalation.
pub const LAST_CALLS: &str = "SELECT a.id, a.tool, a.args, a.effect, a.at, a.escalation, e.state
     FROM actions a LEFT JOIN escalations e ON e.id = a.escalation
     WHERE a.agent = $1 AND a.session = $2 ORDER BY a.seq DESC LIMIT $3";

/// The last `n` calls of a session, oldest first, each escalated one with its escalation and,
/// once resolved, how it ended.
pub fn last_calls(
    c: &mut Conn,
    agent: &str,
    session: &str,
    n: u32,
) -> Result<Vec<PriorCall>, StoreError> {
    let rows = c.query(LAST_CALLS, &[&agent, &session, &i64::from(n)])?;
    prior_calls(&rows)
}

/// The rows of [`LAST_CALLS`], oldest first.
pub fn prior_calls(rows: &[Row]) -> Result<Vec<PriorCall>, StoreError> {
    let mut calls = rows
        .iter()
        .map(|r| {
            let id: String = r.try_get(0)?;
            let args: Value = parse("actions", &id, r.try_get(2)?)?;
            let escalation: Option<String> = r.try_get(5)?;
            let state: Option<&str> = r.try_get(6)?;
            let resolution = match (&escalation, state) {
                (Some(esc), Some(state)) => resolution("escalations", esc, state)?,
                _ => None,
            };
            Ok(PriorCall {
                verdict: effect("actions", &id, r.try_get(3)?)?,
                at: time("actions", &id, r.try_get(4)?)?,
                tool: r.try_get(1)?,
                action: id,
                args,
                escalation,
                resolution,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    calls.reverse();
    Ok(calls)
}

/// An action row. One whose escalation could not be read at start (and was denied then) is
/// answered as a deny that says so.
pub fn load_action(c: &mut Conn, id: &str) -> Result<Option<StoredAction>, StoreError> {
    let row = c.query_opt(
        "SELECT a.agent, a.effect, a.rule, a.reason, a.escalation, e.state, a.grant_id
         FROM actions a LEFT JOIN escalations e ON e.id = a.escalation WHERE a.id = $1",
        &[&id],
    )?;
    let Some(r) = row else {
        return Ok(None);
    };
    let escalation: Option<String> = r.try_get(4)?;
    let state: Option<&str> = r.try_get(5)?;
    if let (Some(esc), Some("unreadable")) = (&escalation, state) {
        return Ok(Some(StoredAction {
            agent: r.try_get(0)?,
            effect: Effect::Deny,
            rule: r.try_get(2)?,
            reason: format!(
                "escalation {esc} could not be read when the server started, so it was denied"
            ),
            escalation: None,
            grant: None,
        }));
    }
    Ok(Some(StoredAction {
        agent: r.try_get(0)?,
        effect: effect("actions", id, r.try_get(1)?)?,
        rule: r.try_get(2)?,
        reason: r.try_get(3)?,
        escalation,
        grant: r.try_get(6)?,
    }))
}

/// Rows of (key, JSON body), each parsed; the first unreadable one is an error.
fn keyed_rows<T: DeserializeOwned>(
    c: &mut Conn,
    table: &'static str,
    sql: &'static str,
    params: Params,
) -> Result<Vec<(String, T)>, StoreError> {
    c.query(sql, params)?
        .iter()
        .map(|r| {
            let key: String = r.try_get(0)?;
            let value = parse(table, &key, r.try_get(1)?)?;
            Ok((key, value))
        })
        .collect()
}

fn parse_rows<T: DeserializeOwned>(
    c: &mut Conn,
    table: &'static str,
    sql: &'static str,
    params: Params,
) -> Result<Vec<T>, StoreError> {
    Ok(keyed_rows(c, table, sql, params)?
        .into_iter()
        .map(|(_, v)| v)
        .collect())
}

/// An escalation and its plan, from a row of (id, body, plan).
fn escalation_row(r: &Row) -> Result<(Escalation, ExpiryPlan), StoreError> {
    let id: &str = r.try_get(0)?;
    Ok((
        parse("escalations", id, r.try_get(1)?)?,
        parse("escalations", id, r.try_get(2)?)?,
    ))
}

pub fn load_escalation(
    c: &mut Conn,
    id: &str,
) -> Result<Option<(Escalation, ExpiryPlan)>, StoreError> {
    let row = c.query_opt(
        "SELECT id, body, plan, state FROM escalations WHERE id = $1",
        &[&id],
    )?;
    let Some(r) = row else {
        return Ok(None);
    };
    if r.try_get::<_, &str>(3)? == "unreadable" {
        return Err(unreadable(
            "escalations",
            id,
            "it could not be read when the server started and was denied then",
        ));
    }
    escalation_row(&r).map(Some)
}

/// Pending escalations. Rows that cannot be loaded were denied at start (`Op::DenyUnreadable`),
/// so any met here is an error.
pub fn pending_escalations(c: &mut Conn) -> Result<Vec<(Escalation, ExpiryPlan)>, StoreError> {
    c.query(
        "SELECT id, body, plan FROM escalations WHERE state = 'pending'",
        &[],
    )?
    .iter()
    .map(escalation_row)
    .collect()
}

/// SQLite sorts NULL first, so last when descending: said here, as PostgreSQL does the
/// opposite.
pub fn recent_resolved(c: &mut Conn, limit: u32) -> Result<Vec<Escalation>, StoreError> {
    parse_rows(
        c,
        "escalations",
        "SELECT id, body FROM escalations WHERE state NOT IN ('pending', 'unreadable')
         ORDER BY resolved_at DESC NULLS LAST LIMIT $1",
        &[&i64::from(limit)],
    )
}

pub fn killswitches(c: &mut Conn) -> Result<Vec<KillSwitch>, StoreError> {
    let rows: Vec<(String, KillSwitch)> = keyed_rows(
        c,
        "killswitches",
        r#"SELECT scope, body FROM killswitches ORDER BY scope COLLATE "C""#,
        &[],
    )?;
    // The row's key is what lookups use; a body for another scope is corrupt, not a switch.
    rows.into_iter()
        .map(|(scope, k)| {
            if k.scope == scope {
                Ok(k)
            } else {
                Err(unreadable(
                    "killswitches",
                    &scope,
                    format!("its body is for {}", k.scope),
                ))
            }
        })
        .collect()
}

/// Unreviewed flagged actions first (newest first), then recently reviewed ones.
pub fn flagged(c: &mut Conn, limit: u32) -> Result<Vec<FlaggedAction>, StoreError> {
    parse_rows(
        c,
        "flagged",
        "SELECT action, body FROM flagged ORDER BY reviewed ASC, at DESC LIMIT $1",
        &[&i64::from(limit)],
    )
}

pub fn load_flagged(c: &mut Conn, action: &str) -> Result<Option<FlaggedAction>, StoreError> {
    Ok(parse_rows(
        c,
        "flagged",
        "SELECT action, body FROM flagged WHERE action = $1",
        &[&action],
    )?
    .into_iter()
    .next())
}

pub fn signature_used(c: &mut Conn, signature: &str) -> Result<bool, StoreError> {
    Ok(c.query_opt(
        "SELECT 1 FROM used_signatures WHERE signature = $1",
        &[&signature],
    )?
    .is_some())
}

pub fn recent_activity(c: &mut Conn, limit: u32) -> Result<Vec<ActionSummary>, StoreError> {
    c.query(
        "SELECT id, agent, tool, session, effect, rule, reason, at, grant_id
         FROM actions ORDER BY seq DESC LIMIT $1",
        &[&i64::from(limit)],
    )?
    .iter()
    .map(|r| {
        let id: String = r.try_get(0)?;
        Ok(ActionSummary {
            effect: effect("actions", &id, r.try_get(4)?)?,
            at: time("actions", &id, r.try_get(7)?)?,
            agent: r.try_get(1)?,
            tool: r.try_get(2)?,
            session: r.try_get(3)?,
            rule: r.try_get(5)?,
            reason: r.try_get(6)?,
            grant: r.try_get(8)?,
            id,
        })
    })
    .collect()
}

/// The live key `key` of `agent` at `now`, if any.
pub fn idempotency_key(
    c: &mut Conn,
    agent: &str,
    key: &str,
    now: Timestamp,
) -> Result<Option<StoredKey>, StoreError> {
    let row = c.query_opt(
        "SELECT fingerprint, action FROM idempotency_keys
         WHERE agent = $1 AND key = $2 AND created_at >= $3",
        &[&agent, &key, &key_cutoff(now)],
    )?;
    row.map(|r| {
        Ok(StoredKey {
            fingerprint: r.try_get(0)?,
            action: r.try_get(1)?,
        })
    })
    .transpose()
}
