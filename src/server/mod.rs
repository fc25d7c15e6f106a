//! The escalation server: enforcement point, escalation queue, audit log, store.

mod app;
mod arrivals;
pub mod audit;
pub mod datadir;
mod enforce;
mod error;
mod flags;
mod governance;
mod grants;
mod http;
mod killswitch;
pub mod listener;
mod metrics;
pub mod policy;
pub mod prune;
mod queue;
mod refusals;
mod replicas;
pub mod roster;
mod shutdown;
mod signed;
pub mod store;
mod stream;
mod stream_bound;
mod tls;
pub mod webhooks;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use tokio::sync::watch;

use self::audit::{AuditEvent, ServerStart};
use self::datadir::DataDirLock;
use self::policy::Policy;
use self::roster::Roster;
use self::store::{Op, Reply, Store};
use crate::config::webhook::WebhookEntry;
use crate::config::SourceFile;
use crate::protocol::{PersonKey, ServerInfo};

use self::app::App;
use self::shutdown::stopped;

pub use crate::config::ConfigError;
pub use listener::Limits;
pub use tls::TlsFiles;

/// Where the server listens and what it loads.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub data: PathBuf,
    /// `postgres://…`: the records live there, shared with other replicas; `None` keeps them
    /// in SQLite in `data`. The data dir holds the server key either way.
    pub store: Option<String>,
    pub policy: PathBuf,
    pub roster: PathBuf,
    /// Serve HTTPS with this certificate and key.
    pub tls: Option<TlsFiles>,
    pub limits: Limits,
    /// The `[[webhook]]`s of the config file, checked; their secrets are read at start.
    pub webhooks: Vec<WebhookEntry>,
    /// How long the rows of allowed and denied calls are kept ([`prune`]).
    pub keep_actions: std::time::Duration,
}

/// Loads and checks the roster and policy; the error names file, entry and position.
pub fn load_config(policy: &Path, roster: &Path) -> Result<(Policy, Roster), ConfigError> {
    let roster = Roster::load(roster)?;
    let policy = Policy::parse(&SourceFile::read(policy)?, &roster)?;
    Ok((policy, roster))
}

pub struct RunningServer {
    addr: SocketAddr,
    scheme: &'static str,
    app: Arc<App>,
    stop: watch::Sender<bool>,
    serve: tokio::task::JoinHandle<()>,
    lock: DataDirLock,
    webhooks: webhooks::Webhooks,
}

impl RunningServer {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }
    /// Stops accepting, lets in-flight requests finish, writes the last refusal counts and
    /// checkpoint, then releases the data dir.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.serve.await;
        flush_refusals(&self.app).await;
        self.webhooks.stopped().await;
        self.app.store.shutdown().await;
        drop(self.lock);
    }
    /// Resolves when the server stops on its own (it does not, short of an error).
    pub async fn wait(&mut self) {
        let _ = (&mut self.serve).await;
    }
}

/// This process among the replicas sharing a store: its pid and a random tag, so a restarted
/// replica is a new one.
fn replica_id() -> String {
    let mut tag = [0u8; 4];
    getrandom::fill(&mut tag).expect("the OS random source");
    format!("{}-{}", std::process::id(), hex::encode(tag))
}

fn server_key(data: &Path) -> anyhow::Result<PersonKey> {
    let path = data.join("server.key");
    if path.exists() {
        Ok(PersonKey::read(&path)?)
    } else {
        let key = PersonKey::generate("server");
        key.write_new(&path)?;
        Ok(key)
    }
}

/// Loads the config, takes the data dir, opens the store, restores pending escalations and
/// starts serving.
pub async fn start(cfg: ServerConfig) -> anyhow::Result<RunningServer> {
    let (policy, roster) = load_config(&cfg.policy, &cfg.roster)?;
    let hooks = webhooks::resolve(&cfg.webhooks)?;
    let tls = cfg.tls.as_ref().map(tls::tls_acceptor).transpose()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    std::fs::create_dir_all(&cfg.data)
        .with_context(|| format!("creating data dir {}", cfg.data.display()))?;
    let mut lock = DataDirLock::acquire(&cfg.data)?;
    let key = server_key(&cfg.data)?;
    let public_key = key.public().to_string();
    let origin = replica_id();
    let store = match &cfg.store {
        None => Store::open(&cfg.data, key)
            .with_context(|| format!("opening the store in {}", cfg.data.display()))?,
        Some(url) => Store::open_postgres(url, key, &origin)
            .with_context(|| format!("opening the store at {}", store::postgres::redacted(url)))?,
    };

    let (stop, shutdown) = watch::channel(false);
    let info = ServerInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        policy_version: policy.version.clone(),
    };
    let start = server_start(&info, &policy, &roster, public_key, &cfg);
    store.write(Op::Audit, vec![start]).await?;
    deny_unreadable(&store).await?;
    // Other replicas' changes are followed from here on: the state below is read after it.
    let head = match cfg.store {
        Some(_) => store.read(store::latest_anchor).await?.map_or(0, |a| a.seq),
        None => 0,
    };
    let switches = store.read(store::killswitches).await?;
    let grants = store.read(store::grants).await?;
    let app = Arc::new(App::new(
        policy, roster, store, switches, grants, info, shutdown,
    ));
    app.queue.restore().await?;
    app.governance
        .restore(&app.store, chrono::Utc::now())
        .await?;
    if let Some(url) = &cfg.store {
        replicas::follow(app.clone(), url, &origin, head, stop.subscribe())
            .context("following the other replicas' changes")?;
    }
    let webhooks = webhooks::start(
        hooks,
        &cfg.data,
        cfg.store.as_deref(),
        &app.store,
        &app.bus,
        stop.subscribe(),
    )
    .await?;

    let tcp = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.listen))?;
    let addr = tcp.local_addr()?;
    if let Err(e) = lock.describe(&format!("listening on {scheme}://{addr}")) {
        tracing::warn!("cannot name this server in {}: {e}", lock.path().display());
    }
    let router = http::router(app.clone());
    let serve = tokio::spawn(listener::serve(
        tcp,
        router,
        tls,
        cfg.limits.clone(),
        stop.subscribe(),
    ));
    tracing::info!("gavel listening on {scheme}://{addr}");
    spawn_refusal_flusher(app.clone());
    prune::spawn(app.clone(), cfg.keep_actions);
    Ok(RunningServer {
        addr,
        scheme,
        app,
        stop,
        serve,
        lock,
        webhooks,
    })
}

/// The audit record of a start: what this server runs with.
fn server_start(
    info: &ServerInfo,
    policy: &Policy,
    roster: &Roster,
    server_public_key: String,
    cfg: &ServerConfig,
) -> AuditEvent {
    AuditEvent::ServerStart(ServerStart {
        version: info.version.clone(),
        policy_digest: policy.digest.clone(),
        policy_version: policy.version.clone(),
        roster_digest: roster.digest.clone(),
        server_public_key,
        policy_file: cfg.policy.display().to_string(),
        roster_file: cfg.roster.display().to_string(),
    })
}

/// Pending escalations whose rows cannot be loaded are denied (and audited) before the queue
/// is restored, so the rest of the server never meets them.
async fn deny_unreadable(store: &Store) -> anyhow::Result<()> {
    if let Reply::Denied(denied) = store.write(Op::DenyUnreadable, vec![]).await? {
        for (id, problem) in denied {
            tracing::error!("escalation {id} cannot be loaded ({problem}); denied and audited");
        }
    }
    Ok(())
}

/// Writes the refusal counts once per window until the server stops.
fn spawn_refusal_flusher(app: Arc<App>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(refusals::WINDOW);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await; // the first tick is now
        loop {
            tokio::select! {
                _ = tick.tick() => flush_refusals(&app).await,
                _ = stopped(app.shutdown.clone()) => return,
            }
        }
    });
}

/// One audit record with the window's refusal counts; kept for the next window if not written.
async fn flush_refusals(app: &App) {
    if let Some(window) = app.refusals.take() {
        if app
            .store
            .write(Op::Audit, vec![window.event()])
            .await
            .is_err()
        {
            app.refusals.put_back(window);
        }
    }
}
