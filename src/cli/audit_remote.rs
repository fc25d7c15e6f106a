//! `gavel audit query` and `gavel audit export`: the audit log read through a server, as a
//! person with the `auditor` or `lead` role (signed reads), for the auditor's questions and a
//! SIEM.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{json, Value};

use super::people::Connection;
use crate::client::Client;
use crate::protocol::{inert, inert_json_pretty, AuditRecord, PersonKey};

/// The most records the server returns in one answer.
const PAGE: usize = 10_000;
/// Longest value shown for one field of a record's body in the table.
const SHOWN: usize = 80;

#[derive(clap::Args, Debug)]
pub struct QueryArgs {
    /// Only records about this agent
    #[arg(long)]
    pub agent: Option<String>,
    /// Only records at or after this time (RFC 3339, or a date: midnight UTC)
    #[arg(long, value_parser = parse_time)]
    pub since: Option<DateTime<Utc>>,
    /// Only records before this time (RFC 3339, or a date: midnight UTC)
    #[arg(long, value_parser = parse_time)]
    pub until: Option<DateTime<Utc>>,
    /// Only records of this kind (action, decision, escalation_resolved, retried, killswitch…)
    #[arg(long)]
    pub kind: Option<String>,
    /// Print the records as JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub conn: Connection,
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// jsonl (one record per line, then the checkpoint) or csv
    #[arg(long, value_parser = ["jsonl", "csv"])]
    pub format: String,
    /// Only the records after this sequence number (the last one a previous export held)
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub since_seq: u64,
    #[command(flatten)]
    pub conn: Connection,
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc())
        .map_err(|_| "expected an RFC 3339 time (2026-12-06T10:00:00Z) or a date".to_string())
}

pub async fn query(args: QueryArgs) -> anyhow::Result<ExitCode> {
    let (client, key) = args.conn.open()?;
    let mut filter: Vec<(&str, String)> = Vec::new();
    if let Some(agent) = &args.agent {
        filter.push(("agent", agent.clone()));
    }
    if let Some(kind) = &args.kind {
        filter.push(("kind", kind.clone()));
    }
    for (name, time) in [("since", args.since), ("until", args.until)] {
        if let Some(t) = time {
            filter.push((name, t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)));
        }
    }
    let records = all_records(&client, &key, &filter, 0, u64::MAX).await?;
    if args.json {
        println!("{}", inert_json_pretty(&records)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    for r in &records {
        writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}",
            r.seq,
            r.time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            inert(&r.kind),
            inert(&r.actor),
            summary(&r.body)
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The body's plain fields as `key=value` (nested ones, such as an action's args, are left to
/// `--json`), each shown inert and cut with an ellipsis.
fn summary(body: &Value) -> String {
    let Some(fields) = body.as_object() else {
        return inert(&body.to_string()).into_owned();
    };
    let mut parts = Vec::new();
    for (name, value) in fields {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => continue,
        };
        let cut: String = text.chars().take(SHOWN).collect();
        let more = if cut.len() < text.len() { "…" } else { "" };
        parts.push(format!("{}={}{more}", inert(name), inert(&cut)));
    }
    parts.join(" ")
}

pub async fn export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let (client, key) = args.conn.open()?;
    // The checkpoint first: the export ends exactly at the record it signs, so the export
    // alone proves its chain up to that head.
    let checkpoint = client
        .audit_checkpoint(&key)
        .await
        .context("fetching the latest signed checkpoint")?;
    let upto = checkpoint["seq"]
        .as_u64()
        .context("the server's checkpoint has no seq")?;
    let records = all_records(&client, &key, &[], args.since_seq, upto).await?;
    let mut out = std::io::stdout().lock();
    if args.format == "jsonl" {
        for r in &records {
            writeln!(out, "{}", serde_json::to_string(r)?)?;
        }
        writeln!(out, "{}", json!({ "checkpoint": checkpoint }))?;
    } else {
        let mut csv = csv::Writer::from_writer(out);
        csv.write_record(["seq", "time", "kind", "actor", "body", "prev_hash", "hash"])?;
        for r in &records {
            csv.write_record([
                r.seq.to_string(),
                r.time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                r.kind.clone(),
                r.actor.clone(),
                r.body.to_string(),
                r.prev_hash.clone(),
                r.hash.clone(),
            ])?;
        }
        // The signed checkpoint as the last row: kind `checkpoint`, its head as the hash.
        let head = checkpoint["head"].as_str().unwrap_or_default().to_string();
        csv.write_record([
            upto.to_string(),
            checkpoint["time"].as_str().unwrap_or_default().to_string(),
            "checkpoint".to_string(),
            "server".to_string(),
            checkpoint.to_string(),
            String::new(),
            head,
        ])?;
        csv.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Every record matching `filter` with `after < seq <= upto`, page by page.
async fn all_records(
    client: &Client,
    key: &PersonKey,
    filter: &[(&str, String)],
    after: u64,
    upto: u64,
) -> anyhow::Result<Vec<AuditRecord>> {
    let mut records = Vec::new();
    let mut after = after;
    loop {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in filter {
            query.append_pair(name, value);
        }
        query.append_pair("after_seq", &after.to_string());
        query.append_pair("limit", &PAGE.to_string());
        let page = client.audit(key, &query.finish()).await?;
        let full = page.len() == PAGE;
        for r in page {
            if r.seq > upto {
                return Ok(records);
            }
            after = after.max(r.seq);
            records.push(r);
        }
        if !full {
            return Ok(records);
        }
    }
}
