use std::process::ExitCode;

#[derive(clap::Subcommand, Debug)]
pub enum AuditCommand {
    /// Verify the audit chain and its signed checkpoints
    Verify,
}

pub fn run(_c: AuditCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not built yet")
}
