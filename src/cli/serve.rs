use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::config::ConfigFile;
use crate::server::store::postgres::redacted;
use crate::server::{start, ServerConfig, TlsFiles};

/// Flags win over their `GAVEL_*` environment variables, which win over the config file.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:7878]
    #[arg(long, env = "GAVEL_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Data directory (SQLite store, server key)
    #[arg(long, env = "GAVEL_DATA")]
    pub data: Option<PathBuf>,
    /// Keep the records in PostgreSQL (`postgres://…`), shared by every replica, instead of
    /// the SQLite file in --data (which still holds the server key)
    #[arg(long, env = "GAVEL_STORE", value_name = "URL")]
    pub store: Option<String>,
    /// Policy file (TOML)
    #[arg(long, env = "GAVEL_POLICY")]
    pub policy: Option<PathBuf>,
    /// Roster file (TOML)
    #[arg(long, env = "GAVEL_ROSTER")]
    pub roster: Option<PathBuf>,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key)
    #[arg(
        long,
        env = "GAVEL_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert
    #[arg(
        long,
        env = "GAVEL_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// How long the rows of allowed and denied calls are kept for retries, governance windows
    /// and figures; the audit log keeps every call's record for good [default: 31d; at least
    /// 25h, and never less than the policy's longest window]
    #[arg(long, env = "GAVEL_KEEP_ACTIONS", value_name = "DURATION", value_parser = keep_actions)]
    pub keep_actions: Option<std::time::Duration>,
    /// A gavel.toml whose top-level keys give listen, data, store, policy, roster, tls_cert,
    /// tls_key and keep_actions,
    /// and whose `[[webhook]]` tables page on-call people
    #[arg(long, env = crate::config::ENV_CONFIG)]
    pub config: Option<PathBuf>,
}

fn resolve(args: ServeArgs) -> anyhow::Result<ServerConfig> {
    let file = match &args.config {
        None => ConfigFile::default(),
        Some(path) => ConfigFile::load(path)?,
    };
    let need = |flag: &str| anyhow::anyhow!("missing --{flag} (or `{flag} = …` in --config)");
    let tls = match (
        args.tls_cert.or(file.tls_cert),
        args.tls_key.or(file.tls_key),
    ) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        (None, None) => None,
        (Some(_), None) => return Err(need("tls-key")),
        (None, Some(_)) => return Err(need("tls-cert")),
    };
    Ok(ServerConfig {
        listen: args
            .listen
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:7878".parse().expect("valid address")),
        data: args.data.or(file.data).ok_or_else(|| need("data"))?,
        store: args.store.or(file.store),
        policy: args.policy.or(file.policy).ok_or_else(|| need("policy"))?,
        roster: args.roster.or(file.roster).ok_or_else(|| need("roster"))?,
        tls,
        limits: Default::default(),
        webhooks: file.webhooks,
        keep_actions: args
            .keep_actions
            .or(file.keep_actions)
            .unwrap_or(crate::server::prune::DEFAULT_KEEP),
    })
}

fn keep_actions(text: &str) -> Result<std::time::Duration, String> {
    crate::duration::parse(text, crate::duration::KEEP_ACTIONS).map_err(|e| e.to_string())
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
    let mut signals = Signals::new().context("listening for shutdown signals")?;
    let mut server = start(cfg.clone()).await?;
    let records = match &cfg.store {
        Some(url) => format!("store {}, key in {}", redacted(url), cfg.data.display()),
        None => format!("data {}", cfg.data.display()),
    };
    eprintln!(
        "gavel serving on {} ({records}, policy {}, roster {}, action rows kept {})",
        server.url(),
        cfg.policy.display(),
        cfg.roster.display(),
        crate::duration::format(cfg.keep_actions)
    );
    tokio::select! {
        _ = server.wait() => anyhow::bail!("the server stopped unexpectedly"),
        r = signals.next() => { r.context("waiting for a shutdown signal")?; }
    }
    eprintln!("gavel: shutting down (a second Ctrl-C or SIGTERM exits at once)");
    tokio::select! {
        _ = server.shutdown() => Ok(ExitCode::SUCCESS),
        r = signals.next() => {
            let signal = r.context("waiting for a second signal")?;
            // Whatever was acknowledged is durable already; what is in flight was not
            // acknowledged. Leave now, as the operator asked.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "gavel: {}: exiting at once, before the shutdown finished",
                signal.name
            );
            std::process::exit(signal.exit_code)
        }
    }
}

struct Signal {
    name: &'static str,
    /// 128 + the signal number, as a shell reports a process the signal ended.
    exit_code: i32,
}

/// SIGINT (Ctrl-C) and SIGTERM, as many times as they come.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Signals> {
        Ok(Signals {
            #[cfg(unix)]
            term: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?,
        })
    }

    async fn next(&mut self) -> std::io::Result<Signal> {
        let int = Signal {
            name: "SIGINT",
            exit_code: 130,
        };
        #[cfg(unix)]
        {
            tokio::select! {
                r = tokio::signal::ctrl_c() => r.map(|()| int),
                Some(()) = self.term.recv() => Ok(Signal { name: "SIGTERM", exit_code: 143 }),
            }
        }
        #[cfg(not(unix))]
        tokio::signal::ctrl_c().await.map(|()| int)
    }
}
