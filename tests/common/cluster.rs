//! Several replicas of the server on one PostgreSQL database: each on its own loopback port
//! with its own data dir, all holding the same server key, as the README's Production section
//! provisions them.

use std::path::PathBuf;

use gavel::client::Client;
use gavel::config::webhook::WebhookEntry;
use gavel::server::{start, RunningServer, ServerConfig};

use super::postgres::fresh_database;
use super::Env;

pub struct Cluster {
    /// The roster, keys, tokens and policy every replica shares; `env.server` is unused.
    pub env: Env,
    /// The database every replica keeps its records in.
    pub store: String,
    pub replicas: Vec<Replica>,
    /// Every replica's `[[webhook]]`s.
    pub webhooks: Vec<WebhookEntry>,
}

pub struct Replica {
    pub data: PathBuf,
    /// Reaches the database at this URL instead of the cluster's (say, through a proxy).
    pub store: Option<String>,
    pub server: Option<RunningServer>,
    pub addr: std::net::SocketAddr,
    pub client: Client,
}

impl Replica {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Cluster {
    /// `n` replicas of a server with `policy` on a fresh database.
    pub async fn start(policy: &str, n: usize) -> Cluster {
        Self::start_with_webhooks(policy, n, Vec::new()).await
    }

    /// As [`Cluster::start`], every replica with these `[[webhook]]`s.
    pub async fn start_with_webhooks(
        policy: &str,
        n: usize,
        webhooks: Vec<WebhookEntry>,
    ) -> Cluster {
        let env = Env::new(policy);
        let store = fresh_database();
        std::fs::create_dir_all(&env.data).unwrap();
        let key = gavel::protocol::PersonKey::generate("server");
        let mut replicas = Vec::new();
        for i in 0..n {
            let data = env.dir.path().join(format!("replica-{i}"));
            std::fs::create_dir_all(&data).unwrap();
            key.write_new(&data.join("server.key")).unwrap();
            replicas.push(Replica {
                data,
                store: None,
                server: None,
                addr: "127.0.0.1:0".parse().unwrap(),
                client: Client::new("http://127.0.0.1:1"),
            });
        }
        let mut cluster = Cluster {
            env,
            store,
            replicas,
            webhooks,
        };
        for i in 0..n {
            cluster.boot(i).await;
        }
        cluster
    }

    pub fn config(&self, i: usize) -> ServerConfig {
        let r = &self.replicas[i];
        ServerConfig {
            listen: r.addr,
            data: r.data.clone(),
            store: Some(r.store.clone().unwrap_or_else(|| self.store.clone())),
            policy: self.env.policy.clone(),
            roster: self.env.roster.clone(),
            tls: None,
            limits: Default::default(),
            webhooks: self.webhooks.clone(),
            keep_actions: gavel::server::prune::DEFAULT_KEEP,
        }
    }

    /// Starts replica `i` (on the port it had, if it ran before).
    pub async fn boot(&mut self, i: usize) {
        let server = start(self.config(i)).await.expect("replica starts");
        let r = &mut self.replicas[i];
        r.addr = server.addr();
        r.client = Client::new(&server.url());
        r.server = Some(server);
    }

    pub async fn stop(&mut self, i: usize) {
        if let Some(s) = self.replicas[i].server.take() {
            s.shutdown().await;
        }
    }

    pub fn client(&self, i: usize) -> &Client {
        &self.replicas[i].client
    }

    pub fn url(&self, i: usize) -> String {
        self.replicas[i].url()
    }

    pub fn token(&self, agent: &str) -> &str {
        self.env.token(agent)
    }

    pub fn key(&self, id: &str) -> &gavel::protocol::PersonKey {
        self.env.key(id)
    }
}
