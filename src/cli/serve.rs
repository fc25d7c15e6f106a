use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct ServeArgs {}

pub async fn run(_args: ServeArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not built yet")
}
