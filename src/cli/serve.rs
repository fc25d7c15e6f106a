use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use serde::Deserialize;

use crate::server::{start, ServerConfig};

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Data directory (SQLite store, server key)
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Policy file (TOML)
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Roster file (TOML)
    #[arg(long)]
    pub roster: Option<PathBuf>,
    /// A gavel.toml with listen, data, policy and roster (flags win)
    #[arg(long)]
    pub config: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data: Option<PathBuf>,
    policy: Option<PathBuf>,
    roster: Option<PathBuf>,
}

fn resolve(args: ServeArgs) -> anyhow::Result<ServerConfig> {
    let file = match &args.config {
        None => FileConfig::default(),
        Some(path) => {
            let src = crate::server::config_error::SourceFile::read(path)?;
            let mut cfg: FileConfig = src.deserialize()?;
            // Paths in the config file are relative to it.
            let base = path.parent().map(|p| p.to_path_buf()).unwrap_or_default();
            for p in [&mut cfg.data, &mut cfg.policy, &mut cfg.roster]
                .into_iter()
                .flatten()
            {
                if p.is_relative() {
                    *p = base.join(&*p);
                }
            }
            cfg
        }
    };
    let need = |flag: &str| anyhow::anyhow!("missing --{flag} (or `{flag} = …` in --config)");
    Ok(ServerConfig {
        listen: args
            .listen
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:7878".parse().expect("valid address")),
        data: args.data.or(file.data).ok_or_else(|| need("data"))?,
        policy: args.policy.or(file.policy).ok_or_else(|| need("policy"))?,
        roster: args.roster.or(file.roster).ok_or_else(|| need("roster"))?,
    })
}

pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "gavel=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cfg = resolve(args)?;
    let mut server = start(cfg.clone()).await?;
    eprintln!(
        "gavel serving on {} (data {}, policy {}, roster {})",
        server.url(),
        cfg.data.display(),
        cfg.policy.display(),
        cfg.roster.display()
    );
    tokio::select! {
        _ = server.wait() => anyhow::bail!("the server stopped unexpectedly"),
        r = shutdown_signal() => r.context("waiting for a shutdown signal")?,
    }
    eprintln!("gavel: shutting down");
    server.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await
}
