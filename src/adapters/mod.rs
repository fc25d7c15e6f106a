//! Adapters that put real agents behind gavel unchanged.

use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct ClaudeCodeArgs {}

#[derive(clap::Args, Debug)]
pub struct GateArgs {
    /// Server URL (default: GAVEL_SERVER)
    #[arg(long)]
    pub server: Option<String>,
    /// The MCP server command and its arguments
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

pub fn run_claude_code(_args: ClaudeCodeArgs) -> ExitCode {
    println!(
        r#"{{"hookSpecificOutput":{{"hookEventName":"PreToolUse","permissionDecision":"deny","permissionDecisionReason":"gavel hook not built yet"}}}}"#
    );
    ExitCode::SUCCESS
}

pub fn run_gate(_args: GateArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("the gate is not built yet")
}
