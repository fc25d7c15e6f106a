//! Reads. A row that cannot be read is an error naming its table and row, never skipped and
//! never replaced by a default.

use rusqlite::{params, Connection, OptionalExtension};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::protocol::{
    ActionSummary, AuditRecord, Effect, Escalation, FlaggedAction, KillSwitch, PriorCall,
};
use crate::server::store::error::unreadable;
use crate::server::store::rows::parse;
pub(super) use crate::server::store::rows::{effect, resolution, time};
use crate::server::store::{AuditQuery, ExpiryPlan, StoreError, StoredAction};

/// The last `n` calls of a session before now, oldest first, each escalated one with its
/// escalation and, once resolved, how it ended: the approver sees what happened to the call,
/// not only that it was sent for review.
pub(super) fn last_calls(
    conn: &Connection,
    agent: &str,
    session: &str,
    n: u32,
) -> Result<Vec<PriorCall>, StoreError> {
    type Row = (
        String,
        String,
        String,
        String,
        String,
        Option<String>,
        Option<String>,
    );
    let mut stmt = conn.prepare_cached(
        "SELECT a.id, a.tool, a.args, a.effect, a.at, a.escalation, e.state
         FROM actions a LEFT JOIN escalations e ON e.id = a.escalation
         WHERE a.agent = ?1 AND a.session = ?2 ORDER BY a.seq DESC LIMIT ?3",
    )?;
    let rows = stmt
        .query_map(params![agent, session, n], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })?
        .collect::<Result<Vec<Row>, _>>()?;
    let mut calls = rows
        .into_iter()
        .map(|(id, tool, args, verdict, at, escalation, state)| {
            let args: Value = parse("actions", &id, &args)?;
            let resolution = match (&escalation, state.as_deref()) {
                (Some(esc), Some(state)) => resolution("escalations", esc, state)?,
                _ => None,
            };
            Ok(PriorCall {
                verdict: effect("actions", &id, &verdict)?,
                at: time("actions", &id, &at)?,
                action: id,
                tool,
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
pub(super) fn load_action(conn: &Connection, id: &str) -> Result<Option<StoredAction>, StoreError> {
    type Row = (
        String,
        String,
        Option<String>,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let row: Option<Row> = conn
        .query_row(
            "SELECT a.agent, a.effect, a.rule, a.reason, a.escalation, e.state, a.grant_id
             FROM actions a LEFT JOIN escalations e ON e.id = a.escalation WHERE a.id = ?1",
            [id],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            },
        )
        .optional()?;
    let Some((agent, effect_text, rule, reason, escalation, esc_state, grant)) = row else {
        return Ok(None);
    };
    if let (Some(esc), Some("unreadable")) = (&escalation, esc_state.as_deref()) {
        return Ok(Some(StoredAction {
            agent,
            effect: Effect::Deny,
            rule,
            reason: format!(
                "escalation {esc} could not be read when the server started, so it was denied"
            ),
            escalation: None,
            grant: None,
        }));
    }
    Ok(Some(StoredAction {
        agent,
        effect: effect("actions", id, &effect_text)?,
        rule,
        reason,
        escalation,
        grant,
    }))
}

/// Rows of (key, JSON body), each parsed; the first unreadable one is an error.
fn keyed_rows<T: DeserializeOwned>(
    conn: &Connection,
    table: &'static str,
    sql: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<(String, T)>, StoreError> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt
        .query_map(args, |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(key, body)| {
            let value = parse(table, &key, &body)?;
            Ok((key, value))
        })
        .collect()
}

fn parse_rows<T: DeserializeOwned>(
    conn: &Connection,
    table: &'static str,
    sql: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<T>, StoreError> {
    Ok(keyed_rows(conn, table, sql, args)?
        .into_iter()
        .map(|(_, v)| v)
        .collect())
}

pub(super) fn load_escalation(
    conn: &Connection,
    id: &str,
) -> Result<Option<(Escalation, ExpiryPlan)>, StoreError> {
    let row: Option<(String, String, String)> = conn
        .query_row(
            "SELECT state, body, plan FROM escalations WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((state, body, plan)) = row else {
        return Ok(None);
    };
    if state == "unreadable" {
        return Err(unreadable(
            "escalations",
            id,
            "it could not be read when the server started and was denied then",
        ));
    }
    Ok(Some((
        parse("escalations", id, &body)?,
        parse("escalations", id, &plan)?,
    )))
}

/// Pending escalations. Rows that cannot be loaded were denied at start (`Op::DenyUnreadable`),
/// so any met here is an error.
pub(super) fn pending_escalations(
    conn: &Connection,
) -> Result<Vec<(Escalation, ExpiryPlan)>, StoreError> {
    let mut stmt =
        conn.prepare("SELECT id, body, plan FROM escalations WHERE state = 'pending'")?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.iter()
        .map(|(id, b, p)| Ok((parse("escalations", id, b)?, parse("escalations", id, p)?)))
        .collect()
}

pub(super) fn recent_resolved(
    conn: &Connection,
    limit: u32,
) -> Result<Vec<Escalation>, StoreError> {
    parse_rows(
        conn,
        "escalations",
        "SELECT id, body FROM escalations WHERE state NOT IN ('pending', 'unreadable')
         ORDER BY resolved_at DESC LIMIT ?1",
        [limit],
    )
}

pub(super) fn killswitches(conn: &Connection) -> Result<Vec<KillSwitch>, StoreError> {
    let rows: Vec<(String, KillSwitch)> = keyed_rows(
        conn,
        "killswitches",
        "SELECT scope, body FROM killswitches ORDER BY scope",
        [],
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
pub(super) fn flagged(conn: &Connection, limit: u32) -> Result<Vec<FlaggedAction>, StoreError> {
    parse_rows(
        conn,
        "flagged",
        "SELECT action, body FROM flagged ORDER BY reviewed ASC, at DESC LIMIT ?1",
        [limit],
    )
}

pub(super) fn load_flagged(
    conn: &Connection,
    action: &str,
) -> Result<Option<FlaggedAction>, StoreError> {
    Ok(parse_rows(
        conn,
        "flagged",
        "SELECT action, body FROM flagged WHERE action = ?1",
        [action],
    )?
    .into_iter()
    .next())
}

pub(super) fn signature_used(conn: &Connection, signature: &str) -> Result<bool, StoreError> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM used_signatures WHERE signature = ?1",
            [signature],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

pub(super) fn recent_activity(
    conn: &Connection,
    limit: u32,
) -> Result<Vec<ActionSummary>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT id, agent, tool, session, effect, rule, reason, at, grant_id FROM actions ORDER BY seq DESC LIMIT ?1",
    )?;
    type Row = (
        String,
        String,
        String,
        String,
        String,
        Option<String>,
        String,
        String,
        Option<String>,
    );
    let rows = stmt
        .query_map([limit], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
            ))
        })?
        .collect::<Result<Vec<Row>, _>>()?;
    rows.into_iter()
        .map(|(id, agent, tool, session, eff, rule, reason, at, grant)| {
            Ok(ActionSummary {
                effect: effect("actions", &id, &eff)?,
                at: time("actions", &id, &at)?,
                id,
                agent,
                tool,
                session,
                rule,
                reason,
                grant,
            })
        })
        .collect()
}

pub(super) fn audit_records(
    conn: &Connection,
    q: &AuditQuery,
) -> Result<Vec<AuditRecord>, StoreError> {
    // Each record links to the hash of the one before it (the genesis for the first).
    let mut stmt = conn.prepare(
        "SELECT seq, time, kind, actor, body,
                COALESCE((SELECT p.hash FROM audit p WHERE p.seq = audit.seq - 1), zeroblob(32)),
                hash
         FROM audit
         WHERE (?1 IS NULL OR actor = ?1 OR agent = ?1)
           AND (?2 IS NULL OR time >= ?2)
           AND (?3 IS NULL OR time <= ?3)
           AND (?4 IS NULL OR kind = ?4)
           AND (?5 IS NULL OR verdict = ?5)
           AND seq > ?6
         ORDER BY seq LIMIT ?7",
    )?;
    type Row = (i64, String, String, String, String, Vec<u8>, Vec<u8>);
    let rows = stmt
        .query_map(
            params![
                q.agent,
                q.since,
                q.until,
                q.kind,
                q.verdict,
                q.after_seq.unwrap_or(0) as i64,
                q.limit()
            ],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            },
        )?
        .collect::<Result<Vec<Row>, _>>()?;
    rows.into_iter()
        .map(|(seq, t, kind, actor, body, prev_hash, hash)| {
            let row = seq.to_string();
            Ok(AuditRecord {
                seq: seq as u64,
                time: time("audit", &row, &t)?,
                body: parse::<Value>("audit", &row, &body)?,
                kind,
                actor,
                prev_hash: hex::encode(prev_hash),
                hash: hex::encode(hash),
            })
        })
        .collect()
}
