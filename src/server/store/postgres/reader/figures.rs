//! The rows of a window the governance figures are counted from, as `sqlite::figures` reads
//! them: the window's calls (by `actions_by_time`), the escalations that ended in it (by
//! `escalations_by_state`) and their votes, and the kill switches turned on in it with each
//! one's first deny. Rows are streamed into [`FigureTally`], never collected.
//!
//! SQLite's `json_extract` becomes `jsonb` operators: a value that is not JSON text reads as
//! absent (an unparseable time, a vote without a person), which the tally skips.

use chrono::SecondsFormat;
use postgres::fallible_iterator::FallibleIterator;

use super::conn::Conn;
use crate::protocol::{Effect, GovernanceFigures, Timestamp, Vote, MAX_FIGURE_FLIPS};
use crate::server::store::figures::{secs_between, CallKind, FigureTally};
use crate::server::store::rows::{effect, time};
use crate::server::store::StoreError;

/// The figures of `from..=to`. `kill_prefix(scope)` is how a kill switch's deny reason starts
/// (`killswitch::kill_reason` with an empty reason), so its denies are told from the policy's.
pub fn governance_figures(
    c: &mut Conn,
    from: Timestamp,
    to: Timestamp,
    kill_prefix: fn(&str) -> String,
) -> Result<GovernanceFigures, StoreError> {
    let mut tally = FigureTally::new(from, to);
    calls(c, &mut tally, from, to, kill_prefix)?;
    ended(c, &mut tally, from, to)?;
    votes(c, &mut tally, from, to)?;
    flips(c, &mut tally, from, to, kill_prefix)?;
    Ok(tally.finish())
}

/// Action times are written by `to_rfc3339` in UTC, whose texts sort as the times do.
fn action_time(t: Timestamp) -> String {
    t.to_rfc3339()
}

/// Each call of the window. A deny with no rule whose reason is a kill switch's counts as
/// governance's: SQLite's `LIKE` (no escape character, ASCII case folded) is spelled out as
/// `lower` in the "C" collation, which folds ASCII alone.
fn calls(
    c: &mut Conn,
    tally: &mut FigureTally,
    from: Timestamp,
    to: Timestamp,
    kill_prefix: fn(&str) -> String,
) -> Result<(), StoreError> {
    // `%` as the scope: any kill switch's reason.
    let killed = format!("{}%", kill_prefix("%"));
    let mut rows = c.stream(
        r#"SELECT id, at, effect, governed IS NOT NULL,
                  rule IS NULL AND lower(reason COLLATE "C") LIKE lower($3::text COLLATE "C") ESCAPE ''
           FROM actions WHERE at >= $1 AND at <= $2"#,
        &[&action_time(from), &action_time(to), &killed],
    )?;
    while let Some(r) = rows.next()? {
        let id: &str = r.try_get(0)?;
        let at = time("actions", id, r.try_get(1)?)?;
        let eff = effect("actions", id, r.try_get(2)?)?;
        let governed: bool = r.try_get(3)?;
        let by_switch: bool = r.try_get(4)?;
        let kind = match eff {
            Effect::Deny if governed || by_switch => CallKind::GovernanceDeny,
            Effect::Deny => CallKind::PolicyDeny,
            other => CallKind::Other(other),
        };
        tally.call(at, kind);
    }
    Ok(())
}

/// Each escalation that ended in the window (`unreadable` is a deny no person made), oldest
/// resolution first.
fn ended(
    c: &mut Conn,
    tally: &mut FigureTally,
    from: Timestamp,
    to: Timestamp,
) -> Result<(), StoreError> {
    let mut rows = c.stream(
        r#"SELECT id, state, body::jsonb ->> 'created_at', resolved_at,
                  CASE WHEN jsonb_typeof(body::jsonb -> 'decisions') = 'array'
                       THEN jsonb_array_length(body::jsonb -> 'decisions') ELSE 0 END
           FROM escalations
           WHERE state IN ('approved', 'denied', 'unreadable', 'expired', 'cancelled')
             AND resolved_at >= $1 AND resolved_at <= $2
           ORDER BY resolved_at, id COLLATE "C""#,
        &[&action_time(from), &action_time(to)],
    )?;
    while let Some(r) = rows.next()? {
        let id: &str = r.try_get(0)?;
        let state: &str = r.try_get(1)?;
        let created = r
            .try_get::<_, Option<&str>>(2)?
            .and_then(|t| t.parse::<Timestamp>().ok());
        let resolved = time("escalations", id, r.try_get(3)?)?;
        let votes: i32 = r.try_get(4)?;
        let decided = matches!(state, "approved" | "denied") && votes > 0;
        tally.ended(created, resolved, decided, state == "expired");
    }
    Ok(())
}

/// Each vote on an escalation that ended in the window.
fn votes(
    c: &mut Conn,
    tally: &mut FigureTally,
    from: Timestamp,
    to: Timestamp,
) -> Result<(), StoreError> {
    let mut rows = c.stream(
        r#"SELECT d ->> 'approver', d ->> 'verdict', d ->> 'issued_at',
                  e.body::jsonb ->> 'created_at'
           FROM escalations e
           CROSS JOIN LATERAL jsonb_array_elements(
               CASE WHEN jsonb_typeof(e.body::jsonb -> 'decisions') = 'array'
                    THEN e.body::jsonb -> 'decisions' ELSE '[]' END) WITH ORDINALITY AS v(d, n)
           WHERE e.state IN ('approved', 'denied', 'unreadable', 'expired', 'cancelled')
             AND e.resolved_at >= $1 AND e.resolved_at <= $2
           ORDER BY e.resolved_at, e.id COLLATE "C", v.n"#,
        &[&action_time(from), &action_time(to)],
    )?;
    while let Some(r) = rows.next()? {
        let (Some(person), Some(verdict)) = (
            r.try_get::<_, Option<&str>>(0)?,
            r.try_get::<_, Option<&str>>(1)?,
        ) else {
            continue;
        };
        let verdict = match verdict {
            "approve" => Vote::Approve,
            "deny" => Vote::Deny,
            _ => continue,
        };
        let parse = |t: Option<&str>| t.and_then(|t| t.parse::<Timestamp>().ok());
        let issued = parse(r.try_get(2)?);
        let created = parse(r.try_get(3)?);
        let secs = created.zip(issued).map(|(c, i)| secs_between(c, i));
        tally.vote(person, verdict, secs);
    }
    Ok(())
}

/// The kill switches turned on between two times ($1, $2), newest first, at most $3: seq, time
/// and scope. `json_extract(body, '$.on') = 1`, as SQLite reads it, holds for JSON `true` and
/// for the number 1.
pub(super) const SWITCHES_ON: &str = "SELECT seq, time, body::jsonb ->> 'scope' FROM audit
    WHERE kind = 'killswitch' AND body::jsonb -> 'on' IN ('true', '1')
      AND time >= $1 AND time <= $2
    ORDER BY seq DESC LIMIT $3";

/// The kill switches turned on in the window (the newest [`MAX_FIGURE_FLIPS`]), each with the
/// first deny its reason names after it.
fn flips(
    c: &mut Conn,
    tally: &mut FigureTally,
    from: Timestamp,
    to: Timestamp,
    kill_prefix: fn(&str) -> String,
) -> Result<(), StoreError> {
    // Audit times are written with microseconds and `Z`, whose texts sort as the times do.
    let audit_time = |t: Timestamp| t.to_rfc3339_opts(SecondsFormat::Micros, true);
    let found = c.query(
        SWITCHES_ON,
        &[
            &audit_time(from),
            &audit_time(to),
            &(MAX_FIGURE_FLIPS as i64),
        ],
    )?;
    for r in found {
        let Some(scope) = r.try_get::<_, Option<String>>(2)? else {
            continue;
        };
        let seq: i64 = r.try_get(0)?;
        let flipped = time("audit", &seq.to_string(), r.try_get(1)?)?;
        let prefix = kill_prefix(&scope);
        let deny = c
            .query_opt(
                "SELECT at FROM actions
                 WHERE at >= $1 AND at <= $2 AND effect = 'deny' AND rule IS NULL
                   AND starts_with(reason, $3)
                 ORDER BY at LIMIT 1",
                &[&action_time(flipped), &action_time(to), &prefix],
            )?
            .map(|d| time("actions", "first deny", d.try_get(0)?))
            .transpose()?;
        tally.flip(scope, flipped, deny);
    }
    Ok(())
}
