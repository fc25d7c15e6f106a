//! `gavel usage`: each limit's use per agent or session and the open breakers, as a table that
//! reads at 80 columns or as the server's JSON (`GET /v1/usage`).

use std::process::ExitCode;

use chrono::Utc;

use super::people::Connection;
use crate::protocol::{
    inert, inert_json_pretty, BreakerState, LimitState, LimitUse, Timestamp, UsageReport,
};

#[derive(clap::Args, Debug)]
pub struct UsageArgs {
    /// Only this agent's limits and breakers
    #[arg(long)]
    pub agent: Option<String>,
    /// Print the report as JSON (the server's UsageReport)
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub conn: Connection,
}

pub async fn usage(args: UsageArgs) -> anyhow::Result<ExitCode> {
    let (client, key) = args.conn.open()?;
    let report = client.usage(&key, args.agent.as_deref()).await?;
    if args.json {
        println!("{}", inert_json_pretty(&report)?);
    } else {
        print!("{}", text(&report, Utc::now()));
    }
    Ok(ExitCode::SUCCESS)
}

/// Longest a name column gets: the numbers after it stay on an 80-column line.
const LIMIT_MAX: usize = 12;
const WHO_MAX: usize = 16;
const NAME_MAX: usize = 16;

/// The report as people read it: the limits, then the breakers.
pub fn text(r: &UsageReport, now: Timestamp) -> String {
    let mut out = String::new();
    if r.limits.is_empty() {
        out.push_str("No limit is in use.\n");
    } else {
        let mut rows = vec![[
            "LIMIT", "AGENT", "CALLS", "COST", "SHARE", "STATE", "RESETS",
        ]
        .map(String::from)];
        let mut grace = Vec::new();
        for l in &r.limits {
            rows.push([
                clip(&inert(&l.limit), LIMIT_MAX),
                clip(&who(l), WHO_MAX),
                calls(l),
                cost(l),
                percent(l.share),
                state(l.state).into(),
                at(l.resets_at, now),
            ]);
            grace.push(grace_note(l));
        }
        let lines = columns(&rows);
        out.push_str(&lines[0]);
        for (line, note) in lines[1..].iter().zip(grace) {
            out.push_str(line);
            out.push_str(&note);
        }
    }
    if r.omitted > 0 {
        out.push_str(&format!(
            "({} more limits in use are not listed: these are the fullest)\n",
            r.omitted
        ));
    }
    if r.breakers.is_empty() {
        out.push_str("No breaker is open.\n");
        return out;
    }
    out.push('\n');
    let mut rows = vec![["AGENT", "BREAKER", "STATE", "SINCE", "UNTIL"].map(String::from)];
    for b in &r.breakers {
        rows.push([
            clip(&inert(&b.agent), NAME_MAX),
            clip(&inert(&b.breaker), NAME_MAX),
            match b.state {
                BreakerState::Open => "open".into(),
                BreakerState::HalfOpen => "half-open".into(),
            },
            at(b.since, now),
            at(b.until, now),
        ]);
    }
    let lines = columns(&rows);
    out.push_str(&lines[0]);
    for (line, b) in lines[1..].iter().zip(&r.breakers) {
        out.push_str(line);
        out.push_str(&format!("  why: {}\n", inert(&b.reason)));
    }
    out
}

/// Rows padded to their columns' widths, a space apart, each ending in a newline.
fn columns<const N: usize>(rows: &[[String; N]]) -> Vec<String> {
    let mut w = [0usize; N];
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            w[i] = w[i].max(cell.chars().count());
        }
    }
    rows.iter()
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{c:<width$}", width = w[i]))
                .collect();
            format!("{}\n", cells.join(" ").trim_end())
        })
        .collect()
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn who(l: &LimitUse) -> String {
    match &l.session {
        Some(sess) => format!("{}/{}", inert(&l.agent), inert(sess)),
        None => inert(&l.agent).into_owned(),
    }
}

fn money(v: f64) -> String {
    if v.is_finite() {
        format!("${v:.2}")
    } else {
        "$?".into()
    }
}

/// Calls against the maximum with grace (`-` when the limit counts no calls).
fn calls(l: &LimitUse) -> String {
    match l.max_calls {
        Some(max) => format!("{}/{}", l.calls, max.saturating_add(l.grace_calls)),
        None => l.calls.to_string(),
    }
}

fn cost(l: &LimitUse) -> String {
    match l.max_cost {
        None if l.cost == 0.0 => "-".into(),
        Some(max) => format!("{}/{}", money(l.cost), money(max + l.grace_cost)),
        None => money(l.cost),
    }
}

fn percent(share: f64) -> String {
    if share.is_finite() {
        format!("{:.0}%", (share * 100.0).clamp(0.0, 99_999.0))
    } else {
        "?".into()
    }
}

fn state(s: LimitState) -> &'static str {
    match s {
        LimitState::Ok => "ok",
        LimitState::Warning => "warning",
        LimitState::Exceeded => "EXCEEDED",
    }
}

/// The grace in the maxima above, on its own line under the limit's row.
fn grace_note(l: &LimitUse) -> String {
    let mut parts = Vec::new();
    if l.grace_calls > 0 {
        parts.push(format!("+{} calls", l.grace_calls));
    }
    if l.grace_cost > 0.0 {
        parts.push(format!("+{}", money(l.grace_cost)));
    }
    if parts.is_empty() {
        return String::new();
    }
    format!(
        "  (maxima include {} of grace approved this window)\n",
        parts.join(", ")
    )
}

/// A time in UTC: `15:00:00Z` today, `12-07 15:00Z` another day.
fn at(t: Timestamp, now: Timestamp) -> String {
    if t.date_naive() == now.date_naive() {
        t.format("%H:%M:%SZ").to_string()
    } else {
        t.format("%m-%d %H:%MZ").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{BreakerStatus, LimitScope};
    use chrono::TimeZone;

    fn limit(name: &str, session: Option<&str>, calls: u64, cost: f64, st: LimitState) -> LimitUse {
        let start = Utc.with_ymd_and_hms(2026, 12, 6, 14, 0, 0).unwrap();
        LimitUse {
            limit: name.into(),
            per: if session.is_some() {
                LimitScope::Session
            } else {
                LimitScope::Agent
            },
            agent: "refund-bot".into(),
            session: session.map(String::from),
            window_secs: 3600,
            window_start: start,
            resets_at: start + chrono::Duration::hours(1),
            calls,
            max_calls: Some(100),
            cost,
            max_cost: Some(50.0),
            grace_calls: 0,
            grace_cost: 0.0,
            warn_at: Some(0.8),
            share: cost / 50.0,
            state: st,
        }
    }

    #[test]
    fn the_table_reads_at_80_columns_with_grace_omitted_uses_and_breakers() {
        let now = Utc.with_ymd_and_hms(2026, 12, 6, 14, 30, 0).unwrap();
        let mut graced = limit("hourly-spend", None, 83, 48.2, LimitState::Warning);
        graced.grace_calls = 20;
        graced.grace_cost = 10.0;
        graced.share = 48.2 / 60.0;
        let report = UsageReport {
            limits: vec![
                graced,
                limit(
                    "per-task-a-very-long-limit-name",
                    Some("sess-0123456789abcdef"),
                    100,
                    50.0,
                    LimitState::Exceeded,
                ),
            ],
            omitted: 7,
            breakers: vec![BreakerStatus {
                breaker: "escalation-storm".into(),
                agent: "refund-bot".into(),
                state: BreakerState::Open,
                reason: "6 escalations within 10m (max 5)".into(),
                since: now - chrono::Duration::minutes(2),
                until: now + chrono::Duration::days(1),
            }],
        };
        let out = text(&report, now);
        let expected = "\
LIMIT        AGENT            CALLS   COST          SHARE STATE    RESETS
hourly-spend refund-bot       83/120  $48.20/$60.00 80%   warning  15:00:00Z
  (maxima include +20 calls, +$10.00 of grace approved this window)
per-task-a-… refund-bot/sess… 100/100 $50.00/$50.00 100%  EXCEEDED 15:00:00Z
(7 more limits in use are not listed: these are the fullest)

AGENT      BREAKER          STATE SINCE     UNTIL
refund-bot escalation-storm open  14:28:00Z 12-07 14:30Z
  why: 6 escalations within 10m (max 5)
";
        assert_eq!(out, expected);
        for line in out.lines() {
            assert!(line.chars().count() <= 80, "{line}");
        }
    }

    #[test]
    fn an_empty_report_says_so() {
        assert_eq!(
            text(&UsageReport::default(), Utc::now()),
            "No limit is in use.\nNo breaker is open.\n"
        );
    }
}
