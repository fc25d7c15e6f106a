//! `gavel demo`: embedded server, simulated agents and the console, one command.

use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct DemoArgs {}

pub fn run(_args: DemoArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("the demo is not built yet")
}
