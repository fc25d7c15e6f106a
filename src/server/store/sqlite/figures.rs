//! The rows of a window the governance figures are counted from: the window's calls (by
//! `actions_by_time`), the escalations that ended in it (by `escalations_by_state`) and their
//! votes, and the kill switches turned on in it with each one's first deny. Rows are streamed
//! into [`FigureTally`], never collected.

use chrono::SecondsFormat;
use rusqlite::{params, Connection};

use super::read::{effect, time};
use crate::protocol::{GovernanceFigures, Timestamp, Vote, MAX_FIGURE_FLIPS};
use crate::server::store::figures::{secs_between, CallKind, FigureTally};
use crate::server::store::StoreError;

/// States an escalation ends in (`unreadable` is a deny no person made).
const ENDED: &str = "('approved', 'denied', 'unreadable', 'expired', 'cancelled')";

/// The figures of `from..=to`. `kill_prefix(scope)` is how a kill switch's deny reason starts
/// (`killswitch::kill_reason` with an empty reason), so its denies are told from the policy's.
pub(in crate::server::store) fn governance_figures(
    conn: &Connection,
    from: Timestamp,
    to: Timestamp,
    kill_prefix: fn(&str) -> String,
) -> Result<GovernanceFigures, StoreError> {
    let mut tally = FigureTally::new(from, to);
    calls(conn, &mut tally, from, to, kill_prefix)?;
    ended(conn, &mut tally, from, to)?;
    votes(conn, &mut tally, from, to)?;
    flips(conn, &mut tally, from, to, kill_prefix)?;
    Ok(tally.finish())
}

/// Action times are written by `to_rfc3339` in UTC, whose texts sort as the times do.
fn action_time(t: Timestamp) -> String {
    t.to_rfc3339()
}

fn calls(
    conn: &Connection,
    tally: &mut FigureTally,
    from: Timestamp,
    to: Timestamp,
    kill_prefix: fn(&str) -> String,
) -> Result<(), StoreError> {
    // `%` as the scope: any kill switch's reason.
    let killed = format!("{}%", kill_prefix("%"));
    let mut stmt = conn.prepare_cached(
        "SELECT id, at, effect, governed IS NOT NULL, rule IS NULL AND reason LIKE ?3
         FROM actions WHERE at >= ?1 AND at <= ?2",
    )?;
    let mut rows = stmt.query(params![action_time(from), action_time(to), killed])?;
    while let Some(r) = rows.next()? {
        let id: String = r.get(0)?;
        let at = time("actions", &id, &r.get::<_, String>(1)?)?;
        let eff = effect("actions", &id, &r.get::<_, String>(2)?)?;
        let governed: bool = r.get(3)?;
        let by_switch: bool = r.get(4)?;
        let kind = match eff {
            crate::protocol::Effect::Deny if governed || by_switch => CallKind::GovernanceDeny,
            crate::protocol::Effect::Deny => CallKind::PolicyDeny,
            other => CallKind::Other(other),
        };
        tally.call(at, kind);
    }
    Ok(())
}

fn ended(
    conn: &Connection,
    tally: &mut FigureTally,
    from: Timestamp,
    to: Timestamp,
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT id, state, json_extract(body, '$.created_at'), resolved_at,
                COALESCE(json_array_length(body, '$.decisions'), 0)
         FROM escalations
         WHERE state IN {ENDED} AND resolved_at >= ?1 AND resolved_at <= ?2"
    ))?;
    let mut rows = stmt.query(params![action_time(from), action_time(to)])?;
    while let Some(r) = rows.next()? {
        let id: String = r.get(0)?;
        let state: String = r.get(1)?;
        let created = r
            .get::<_, Option<String>>(2)?
            .and_then(|t| t.parse::<Timestamp>().ok());
        let resolved = time("escalations", &id, &r.get::<_, String>(3)?)?;
        let votes: i64 = r.get(4)?;
        let decided = matches!(&state[..], "approved" | "denied") && votes > 0;
        tally.ended(created, resolved, decided, state == "expired");
    }
    Ok(())
}

fn votes(
    conn: &Connection,
    tally: &mut FigureTally,
    from: Timestamp,
    to: Timestamp,
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT json_extract(d.value, '$.approver'), json_extract(d.value, '$.verdict'),
                json_extract(d.value, '$.issued_at'), json_extract(e.body, '$.created_at')
         FROM escalations e, json_each(e.body, '$.decisions') d
         WHERE e.state IN {ENDED} AND e.resolved_at >= ?1 AND e.resolved_at <= ?2"
    ))?;
    let mut rows = stmt.query(params![action_time(from), action_time(to)])?;
    while let Some(r) = rows.next()? {
        let (Some(person), Some(verdict)) = (
            r.get::<_, Option<String>>(0)?,
            r.get::<_, Option<String>>(1)?,
        ) else {
            continue;
        };
        let verdict = match &verdict[..] {
            "approve" => Vote::Approve,
            "deny" => Vote::Deny,
            _ => continue,
        };
        let parse = |t: Option<String>| t.and_then(|t| t.parse::<Timestamp>().ok());
        let issued = parse(r.get(2)?);
        let created = parse(r.get(3)?);
        let secs = created.zip(issued).map(|(c, i)| secs_between(c, i));
        tally.vote(&person, verdict, secs);
    }
    Ok(())
}

/// The kill switches turned on between two times, newest first (`kind <> 'action'` lets
/// SQLite use the index by kind, which leaves actions out).
pub(super) const SWITCHES_ON: &str = "SELECT seq, time, json_extract(body, '$.scope') FROM audit
     WHERE kind = 'killswitch' AND kind <> 'action' AND json_extract(body, '$.on') = 1
       AND time >= ?1 AND time <= ?2
     ORDER BY seq DESC LIMIT ?3";

fn flips(
    conn: &Connection,
    tally: &mut FigureTally,
    from: Timestamp,
    to: Timestamp,
    kill_prefix: fn(&str) -> String,
) -> Result<(), StoreError> {
    // Audit times are written with microseconds and `Z`, whose texts sort as the times do.
    let audit_time = |t: Timestamp| t.to_rfc3339_opts(SecondsFormat::Micros, true);
    let mut stmt = conn.prepare_cached(SWITCHES_ON)?;
    let found = stmt
        .query_map(
            params![audit_time(from), audit_time(to), MAX_FIGURE_FLIPS as i64],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                ))
            },
        )?
        .collect::<Result<Vec<_>, _>>()?;
    let mut first_deny = conn.prepare_cached(
        "SELECT at FROM actions
         WHERE at >= ?1 AND at <= ?2 AND effect = 'deny' AND rule IS NULL
           AND substr(reason, 1, length(?3)) = ?3
         ORDER BY at LIMIT 1",
    )?;
    for (seq, at, scope) in found {
        let Some(scope) = scope else { continue };
        let flipped = time("audit", &seq.to_string(), &at)?;
        let prefix = kill_prefix(&scope);
        let deny = first_deny
            .query_map(
                params![action_time(flipped), action_time(to), prefix],
                |r| r.get::<_, String>(0),
            )?
            .next()
            .transpose()?
            .map(|t| time("actions", "first deny", &t))
            .transpose()?;
        tally.flip(scope, flipped, deny);
    }
    Ok(())
}
