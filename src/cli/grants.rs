//! `gavel grant`, `gavel grants`, `gavel revoke`: standing grants, as person commands.

use std::process::ExitCode;

use chrono::Utc;

use super::people::Connection;
use crate::client::GrantRequest;
use crate::protocol::{inert, inert_json_pretty, Grant};

#[derive(clap::Args, Debug)]
pub struct GrantArgs {
    /// The agent (its roster id) whose calls the grant allows
    #[arg(long)]
    pub agent: String,
    /// The tool, or a glob of tools as in policy rules (stripe.refund, stripe.*)
    #[arg(long)]
    pub tool: String,
    /// A CEL condition over the call, e.g. "args.currency == 'usd' && args.amount <= 1500.0"
    #[arg(long)]
    pub when: Option<String>,
    /// How long it stands: 90s, 30m, 1h, 2d… (at most 7d)
    #[arg(long = "for", value_name = "DURATION")]
    pub for_: String,
    /// Why (shown wherever the grant allows a call; recorded in the audit log)
    #[arg(long)]
    pub reason: String,
    #[command(flatten)]
    pub conn: Connection,
}

#[derive(clap::Args, Debug)]
pub struct GrantsArgs {
    /// Print the grants as JSON
    #[arg(long)]
    pub json: bool,
    /// Also list expired and revoked grants
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub conn: Connection,
}

#[derive(clap::Args, Debug)]
pub struct RevokeArgs {
    /// The grant's id (grt_…, from `gavel grants`)
    pub grant: String,
    /// Why (recorded in the audit log)
    #[arg(long)]
    pub reason: String,
    #[command(flatten)]
    pub conn: Connection,
}

pub async fn grant(args: GrantArgs) -> anyhow::Result<ExitCode> {
    if args.reason.trim().is_empty() {
        anyhow::bail!("a grant needs --reason TEXT");
    }
    let length = crate::duration::parse(&args.for_, crate::duration::GRANT_FOR)
        .map_err(|e| anyhow::anyhow!("--for: {e}"))?;
    let (client, key) = args.conn.open()?;
    let req = GrantRequest {
        agent: args.agent,
        tool: args.tool,
        when: args.when,
        for_secs: length.as_secs().max(1),
        reason: args.reason,
    };
    let g = client.create_grant(&key, &req).await?;
    println!(
        "granted {}: {} may call {}{} until {} (signed by {})",
        g.id,
        inert(&g.agent),
        inert(&g.tool),
        g.when
            .as_deref()
            .map(|w| format!(" when {}", inert(w)))
            .unwrap_or_default(),
        g.expires_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        g.by
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn grants(args: GrantsArgs) -> anyhow::Result<ExitCode> {
    let (client, key) = args.conn.open()?;
    let list = client.grants(&key, args.all).await?;
    if args.json {
        println!("{}", inert_json_pretty(&list)?);
        return Ok(ExitCode::SUCCESS);
    }
    let now = Utc::now();
    for g in &list {
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{} uses\t{}",
            g.id,
            inert(&g.agent),
            inert(&g.tool),
            inert(g.when.as_deref().unwrap_or("-")),
            g.by,
            g.expires_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            g.uses,
            state(g, now)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn state(g: &Grant, now: chrono::DateTime<Utc>) -> String {
    match &g.revoked {
        Some(r) => format!("revoked by {}", r.by),
        None if g.is_live(now) => "live".into(),
        None => "expired".into(),
    }
}

pub async fn revoke(args: RevokeArgs) -> anyhow::Result<ExitCode> {
    if args.reason.trim().is_empty() {
        anyhow::bail!("a revocation needs --reason TEXT");
    }
    let (client, key) = args.conn.open()?;
    let g = client.revoke_grant(&key, &args.grant, &args.reason).await?;
    println!(
        "revoked {}: {} may no longer call {} under it ({} uses)",
        g.id,
        inert(&g.agent),
        inert(&g.tool),
        g.uses
    );
    Ok(ExitCode::SUCCESS)
}
