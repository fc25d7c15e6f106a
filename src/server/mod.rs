//! The escalation server: enforcement point, escalation queue, audit log, store.

pub mod audit;
pub mod config_error;
mod error;
mod http;
mod pep;
pub mod policy;
mod queue;
pub mod roster;
pub mod store;
mod stream;
mod stream_bound;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};

use anyhow::Context as _;
use serde_json::json;
use tokio::sync::{broadcast, watch, Mutex};

use self::audit::AuditEntry;
use self::config_error::SourceFile;
use self::policy::Policy;
use self::roster::Roster;
use self::store::{ExpiryPlan, Op, Store};
use crate::protocol::{Escalation, KillSwitch, PersonKey, ServerInfo, ServerMessage};

pub use self::config_error::ConfigError;

/// Where the server listens and what it loads.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub data: PathBuf,
    pub policy: PathBuf,
    pub roster: PathBuf,
}

/// Loads and checks the roster and policy; the error names file, entry and position.
pub fn load_config(policy: &Path, roster: &Path) -> Result<(Policy, Roster), ConfigError> {
    let roster = Roster::load(roster)?;
    let policy = Policy::parse(&SourceFile::read(policy)?, &roster)?;
    Ok((policy, roster))
}

#[derive(Default)]
pub(crate) struct Metrics {
    pub actions_allow: AtomicU64,
    pub actions_deny: AtomicU64,
    pub actions_review: AtomicU64,
    pub actions_flag: AtomicU64,
    pub decisions: AtomicU64,
    pub refused: AtomicU64,
}

/// Pending escalations: the only mutable queue state, behind one lock so transitions serialise.
#[derive(Default)]
pub(crate) struct Core {
    pub pending: HashMap<String, (Escalation, ExpiryPlan)>,
}

pub(crate) struct App {
    pub policy: Policy,
    pub roster: Roster,
    pub store: Store,
    pub core: Mutex<Core>,
    /// Kill switches by scope; read on every action, so a plain RwLock, never held across await.
    pub kill: RwLock<BTreeMap<String, KillSwitch>>,
    pub bus: broadcast::Sender<ServerMessage>,
    pub info: ServerInfo,
    pub metrics: Metrics,
    pub shutdown: watch::Receiver<bool>,
}

pub struct RunningServer {
    addr: SocketAddr,
    app: Arc<App>,
    stop: watch::Sender<bool>,
    serve: tokio::task::JoinHandle<()>,
}

impl RunningServer {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    /// Stops accepting, lets in-flight requests finish, writes the last checkpoint.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.serve.await;
        self.app.store.shutdown().await;
    }
    /// Resolves when the server stops on its own (it does not, short of an error).
    pub async fn wait(&mut self) {
        let _ = (&mut self.serve).await;
    }
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

/// Loads the config, opens the store, restores pending escalations and starts serving.
pub async fn start(cfg: ServerConfig) -> anyhow::Result<RunningServer> {
    let (policy, roster) = load_config(&cfg.policy, &cfg.roster)?;
    std::fs::create_dir_all(&cfg.data)
        .with_context(|| format!("creating data dir {}", cfg.data.display()))?;
    let key = server_key(&cfg.data)?;
    let public_key = key.public().to_string();
    let store = Store::open(&cfg.data, key)
        .with_context(|| format!("opening the store in {}", cfg.data.display()))?;

    let switches = store.read(store::killswitches).await?;
    let kill = switches.into_iter().map(|k| (k.scope.clone(), k)).collect();
    let (bus, _) = broadcast::channel(4096);
    let (stop, shutdown) = watch::channel(false);
    let info = ServerInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        policy_version: policy.version.clone(),
    };
    let start_entry = AuditEntry::new(
        "server_start",
        "server",
        json!({
            "version": info.version, "policy_digest": policy.digest, "policy_version": policy.version,
            "roster_digest": roster.digest, "server_public_key": public_key,
            "policy_file": cfg.policy.display().to_string(), "roster_file": cfg.roster.display().to_string(),
        }),
    );
    store.write(Op::Audit, vec![start_entry]).await?;

    let app = Arc::new(App {
        policy,
        roster,
        store,
        core: Mutex::new(Core::default()),
        kill: RwLock::new(kill),
        bus,
        info,
        metrics: Metrics::default(),
        shutdown,
    });
    queue::restore(&app).await?;

    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    let router = http::router(app.clone());
    let mut stop_rx = stop.subscribe();
    let serve = tokio::spawn(async move {
        let result = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = stop_rx.wait_for(|s| *s).await;
        })
        .await;
        if let Err(e) = result {
            tracing::error!("server stopped: {e}");
        }
    });
    tracing::info!("gavel listening on http://{addr}");
    Ok(RunningServer {
        addr,
        app,
        stop,
        serve,
    })
}

/// Resolves once the server is asked to stop.
pub(crate) async fn stopped(mut rx: watch::Receiver<bool>) {
    loop {
        let stop = *rx.borrow_and_update();
        if stop || rx.changed().await.is_err() {
            return;
        }
    }
}
