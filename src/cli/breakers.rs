//! `gavel breaker reset agent:ID --reason TEXT [--breaker ID]`: an operator's signed reset of an
//! agent's open circuit breakers.

use std::process::ExitCode;

use super::people::Connection;
use crate::protocol::{inert, BreakerState};

#[derive(clap::Subcommand, Debug)]
pub enum BreakerCommand {
    /// Close an agent's open breakers now (operators; signed, audited)
    Reset(ResetArgs),
}

#[derive(clap::Args, Debug)]
pub struct ResetArgs {
    /// agent:ID
    pub scope: String,
    /// Only this breaker (its id in the policy); default: every breaker open for the agent
    #[arg(long)]
    pub breaker: Option<String>,
    /// Why (recorded in the audit log)
    #[arg(long)]
    pub reason: String,
    #[command(flatten)]
    pub conn: Connection,
}

pub async fn run(command: BreakerCommand) -> anyhow::Result<ExitCode> {
    let BreakerCommand::Reset(args) = command;
    let Some(agent) = args.scope.strip_prefix("agent:").filter(|a| !a.is_empty()) else {
        anyhow::bail!("scope must be agent:ID (got `{}`)", inert(&args.scope));
    };
    if args.reason.trim().is_empty() {
        anyhow::bail!("a breaker reset needs a reason: --reason TEXT");
    }
    let (client, key) = args.conn.open()?;
    let report = client
        .reset_breaker(&key, agent, args.breaker.as_deref(), &args.reason)
        .await?;
    match &args.breaker {
        Some(b) => println!("breaker {} reset for {}", inert(b), inert(agent)),
        None => println!("breakers reset for {}", inert(agent)),
    }
    if report.breakers.is_empty() {
        println!("no breaker is open for {}", inert(agent));
    }
    for b in &report.breakers {
        let state = match b.state {
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half-open",
        };
        println!(
            "still {state}: {} ({}) until {}",
            inert(&b.breaker),
            inert(&b.reason),
            b.until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
    }
    Ok(ExitCode::SUCCESS)
}
