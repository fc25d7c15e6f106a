//! The terminal approval console.

use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct ConsoleArgs {
    /// Server URL (default: GAVEL_SERVER, the config file, then http://127.0.0.1:7878)
    #[arg(long)]
    pub server: Option<String>,
    /// Your private key file (default: GAVEL_KEY, the config file, or the only key in the keys dir)
    #[arg(long)]
    pub key: Option<std::path::PathBuf>,
    /// Theme name (themes/NAME.toml or a built-in: dark, light, high-contrast)
    #[arg(long)]
    pub theme: Option<String>,
}

pub fn run(_args: ConsoleArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("the console is not built yet")
}
