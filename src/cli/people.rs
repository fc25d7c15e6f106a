use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct PendingArgs {}
#[derive(clap::Args, Debug)]
pub struct DecideArgs {}
#[derive(clap::Args, Debug)]
pub struct KillArgs {}

pub async fn pending(_args: PendingArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not built yet")
}
pub async fn decide(_args: DecideArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not built yet")
}
pub async fn kill(_args: KillArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not built yet")
}
