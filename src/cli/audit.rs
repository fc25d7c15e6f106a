use std::path::PathBuf;
use std::process::ExitCode;

use crate::server::audit::verify;
use crate::server::store::db_path;

#[derive(clap::Subcommand, Debug)]
pub enum AuditCommand {
    /// Verify the audit chain and its signed checkpoints; names the first bad record
    Verify {
        /// The server's data directory
        #[arg(long)]
        data: PathBuf,
    },
}

pub fn run(command: AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Verify { data } => {
            let report = verify(&db_path(&data))?;
            println!(
                "ok: {} records, {} signed checkpoints, head {}",
                report.records, report.checkpoints, report.head
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
