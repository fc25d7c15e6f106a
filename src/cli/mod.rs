//! The `gavel` command line. Every failure is one line on stderr and a non-zero exit.

mod audit;
mod audit_remote;
mod breakers;
mod grants;
mod handling;
mod keys;
mod people;
mod serve;
mod usage;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "gavel",
    version,
    about = "A human in the loop for AI agents' tool calls"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the escalation server (policy enforcement point, queue, audit log)
    Serve(serve::ServeArgs),
    /// Open the terminal approval console
    Console(crate::console::ConsoleArgs),
    /// Run everything at once: server, simulated agents and the console
    Demo(crate::demo::DemoArgs),
    /// Create a person's Ed25519 key pair; prints the public key for the roster
    Keygen(keys::KeygenArgs),
    /// Print a new random agent bearer token, then its token_sha256 for the roster
    AgentToken,
    /// List pending escalations you can see, one per line
    Pending(people::PendingArgs),
    /// Approve or deny an escalation with a signed decision
    Decide(people::DecideArgs),
    /// Move an escalation's deadline within its rule's `extend` allowance (signed, audited)
    Extend(handling::ExtendArgs),
    /// Turn a kill switch on or off (global, agent:ID, tool:NAME)
    Kill(people::KillArgs),
    /// Circuit breakers: `gavel breaker reset agent:ID --reason TEXT [--breaker ID]`
    Breaker {
        #[command(subcommand)]
        command: breakers::BreakerCommand,
    },
    /// Allow calls like one you would approve, for a while: a signed standing grant
    Grant(grants::GrantArgs),
    /// List standing grants (live ones; --all for every one)
    Grants(grants::GrantsArgs),
    /// Revoke a standing grant (its signer or an operator)
    Revoke(grants::RevokeArgs),
    /// Each limit's use per agent or session, and the breakers that are open
    Usage(usage::UsageArgs),
    /// Audit log tools
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
    /// Agent-side hooks
    Hook {
        #[command(subcommand)]
        command: HookCommand,
    },
    /// Transparent MCP proxy: gavel gate [--server URL] -- CMD ARGS…, or gavel gate --http
    /// --upstream URL --name NAME for a remote (Streamable HTTP) server
    Gate(crate::adapters::GateArgs),
}

#[derive(Subcommand, Debug)]
pub enum HookCommand {
    /// Claude Code PreToolUse hook: reads the hook JSON on stdin, prints the decision
    ClaudeCode(crate::adapters::ClaudeCodeArgs),
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            // stderr may be gone (a closed terminal); failing to report must not panic.
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "gavel: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error chain as one line: "outer: inner: root".
pub fn one_line(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let s = cause.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
    }
    parts.join(": ").replace('\n', " ")
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => runtime()?.block_on(serve::run(args)),
        Command::Console(args) => crate::console::run(args),
        Command::Demo(args) => crate::demo::run(args),
        Command::Keygen(args) => keys::keygen(args),
        Command::AgentToken => keys::agent_token(),
        Command::Pending(args) => runtime()?.block_on(people::pending(args)),
        Command::Decide(args) => runtime()?.block_on(people::decide(args)),
        Command::Extend(args) => runtime()?.block_on(handling::extend(args)),
        Command::Kill(args) => runtime()?.block_on(people::kill(args)),
        Command::Breaker { command } => runtime()?.block_on(breakers::run(command)),
        Command::Grant(args) => runtime()?.block_on(grants::grant(args)),
        Command::Grants(args) => runtime()?.block_on(grants::grants(args)),
        Command::Revoke(args) => runtime()?.block_on(grants::revoke(args)),
        Command::Usage(args) => runtime()?.block_on(usage::usage(args)),
        Command::Audit { command } => audit::run(command),
        Command::Hook {
            command: HookCommand::ClaudeCode(args),
        } => Ok(crate::adapters::run_claude_code(args)),
        Command::Gate(args) => crate::adapters::run_gate(args),
    }
}
