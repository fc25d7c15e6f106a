//! A small HTTP client for gavel's API, shared by the CLI, the console and the adapters.
//! Speaks only the protocol; knows nothing of the server's internals. Speaks HTTPS with the
//! system's roots and an optional private CA ([`tls`]), and never follows a redirect: an answer
//! that points elsewhere is an error, so a call cannot be steered to another origin. Takes one
//! server or several replicas ([`Servers`]) and fails over between them ([`failover`]).

mod failover;
mod figures;
mod governance;
mod grants;
mod handling;
mod servers;
mod tls;

pub use failover::Tried;
pub use servers::{host_port, Servers};
pub use tls::client_config as tls_client_config;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Serialize;

pub use grants::GrantRequest;

use failover::Repeat;

use crate::protocol::signing::Purpose;
use crate::protocol::{
    now_rfc3339, ActionOutcome, ActionRequest, DecisionAck, DecisionBody, ErrorBody, Escalation,
    FlagReviewBody, FlaggedAction, FlipAck, KillSwitch, KillSwitchBody, PersonKey, SignedDecision,
    SignedFlagReview, SignedKillSwitch, SignedRequest, Vote, HEADER_IDEMPOTENCY_KEY, HEADER_PERSON,
    HEADER_SIGNATURE, HEADER_TIME,
};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an API error.
    #[error("{message} ({code})")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    /// No connection to the server: nothing was sent.
    #[error("cannot reach gavel at {url}: {message}")]
    Unreachable { url: String, message: String },
    /// The request was sent and no answer came (a timeout, a reset): the server may have
    /// recorded it. A request that is not safe to repeat is then sent nowhere else
    /// (`held_back`: there were other servers it was not sent to).
    #[error(
        "sent to gavel at {url} but no answer came ({message}): it may or may not have been \
         recorded{}",
        if *held_back { ", so it was not sent to another server" } else { "" }
    )]
    Unanswered {
        url: String,
        message: String,
        held_back: bool,
    },
    /// Several servers, and none could take the request: each one and what it did.
    #[error(
        "cannot reach gavel at any of its {} servers: {}",
        tried.len(),
        tried.iter().map(Tried::to_string).collect::<Vec<_>>().join("; ")
    )]
    NoServer { tried: Vec<Tried> },
    #[error("unexpected answer from gavel: {0}")]
    Protocol(String),
    #[error(
        "gavel at {url} answered with a redirect ({status}) to {location}; redirects are never \
         followed: use the right server URL"
    )]
    Redirect {
        url: String,
        status: u16,
        location: String,
    },
    /// The client's own settings are wrong (a bad CA file, a malformed server URL).
    #[error("{0}")]
    Config(String),
}

impl ClientError {
    pub fn code(&self) -> &str {
        match self {
            ClientError::Api { code, .. } => code,
            ClientError::Unreachable { .. } | ClientError::NoServer { .. } => "unreachable",
            ClientError::Unanswered { .. } => "no_answer",
            ClientError::Protocol(_) => "protocol",
            ClientError::Redirect { .. } => "redirect",
            ClientError::Config(_) => "config",
        }
    }

    /// No server gave an answer (none reachable, or no answer came): what a waiting adapter
    /// rides out and every adapter denies on. A refusal is an answer, so not this.
    pub fn no_answer(&self) -> bool {
        matches!(
            self,
            ClientError::Unreachable { .. }
                | ClientError::Unanswered { .. }
                | ClientError::NoServer { .. }
        )
    }

    /// The request may have been recorded though no answer said so: a server went quiet after
    /// it was sent.
    pub fn maybe_recorded(&self) -> bool {
        match self {
            ClientError::Unanswered { .. } => true,
            ClientError::NoServer { tried } => tried.iter().any(|t| t.maybe_received),
            _ => false,
        }
    }
}

/// How long any request may take, unless it says otherwise (a long poll).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Clones share the servers and which one answered last, so the console's stream, its REST
/// calls and an adapter's polls all start where the last answer came from.
#[derive(Clone, Debug)]
pub struct Client {
    servers: Arc<Servers>,
    /// The index of the server that answered last: requests start there.
    current: Arc<AtomicUsize>,
    http: reqwest::Client,
    tls: Arc<rustls::ClientConfig>,
}

impl Client {
    /// A client for `base` that trusts the system's roots. For tests and in-process use; commands
    /// build theirs with [`Client::with_ca_cert`], which checks the URL and the CA file.
    pub fn new(base: &str) -> Self {
        let tls = tls::client_config(None)
            .unwrap_or_else(|e| panic!("the TLS client configuration cannot be built: {e}"));
        Self::build(Servers::one(base), tls)
    }

    /// A client for `servers` (one `http://` or `https://` URL, or several separated by commas;
    /// see [`Servers::parse`]) that also trusts the CA certificates in `ca_cert` (PEM), for a
    /// server whose certificate a private CA issued.
    pub fn with_ca_cert(servers: &str, ca_cert: Option<&Path>) -> Result<Self, ClientError> {
        Self::for_servers(Servers::parse(&[servers])?, ca_cert)
    }

    /// A client for checked `servers`, trusting `ca_cert` beside the system's roots.
    pub fn for_servers(servers: Servers, ca_cert: Option<&Path>) -> Result<Self, ClientError> {
        Ok(Self::build(servers, tls::client_config(ca_cert)?))
    }

    fn build(servers: Servers, tls: rustls::ClientConfig) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            // No call waits forever on a server that accepted it and went quiet; long polls
            // set their own, longer, limit.
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .use_preconfigured_tls(tls.clone())
            .build()
            .unwrap_or_else(|e| panic!("the HTTP client cannot be built: {e}"));
        Client {
            servers: Arc::new(servers),
            current: Arc::new(AtomicUsize::new(0)),
            http,
            tls: Arc::new(tls),
        }
    }

    /// The TLS configuration, for the console's WebSocket (`wss://`).
    pub fn tls_config(&self) -> Arc<rustls::ClientConfig> {
        self.tls.clone()
    }

    /// The server requests start at: the one that answered last.
    pub fn base(&self) -> &str {
        &self.servers.urls()[self.current_index()]
    }

    /// Every server, in the order given.
    pub fn servers(&self) -> &Servers {
        &self.servers
    }

    /// The index in [`Client::servers`] of the server that answered last.
    pub fn current_index(&self) -> usize {
        self.current.load(Ordering::Relaxed) % self.servers.len()
    }

    /// Makes the server at `index` the one requests start at (the console, once its stream is
    /// live on it, so its REST calls go to the same replica).
    pub fn stick_to(&self, index: usize) {
        self.current
            .store(index % self.servers.len(), Ordering::Relaxed);
    }

    /// `ws://…/v1/stream` for the server requests start at.
    pub fn stream_url(&self) -> String {
        stream_url(self.base())
    }

    /// Submit an action with an agent's bearer token.
    pub async fn submit(
        &self,
        token: &str,
        action: &ActionRequest,
    ) -> Result<ActionOutcome, ClientError> {
        self.submit_with_key(token, action, None).await
    }

    /// Submit an action with an `Idempotency-Key` (one per logical call, see
    /// [`new_idempotency_key`]; `None` makes a fresh one): sending it again after a lost answer
    /// gets the first call's outcome, never a second action.
    pub async fn submit_with_key(
        &self,
        token: &str,
        action: &ActionRequest,
        key: Option<&str>,
    ) -> Result<ActionOutcome, ClientError> {
        self.submit_waiting(token, action, key, None).await
    }

    /// [`Client::submit_with_key`], saying how long the caller will wait for the outcome
    /// (`wait_budget_secs`, see [`crate::protocol::budget_secs`]), so approvers see when it
    /// gives up.
    pub async fn submit_waiting(
        &self,
        token: &str,
        action: &ActionRequest,
        key: Option<&str>,
        wait_budget_secs: Option<f64>,
    ) -> Result<ActionOutcome, ClientError> {
        #[derive(Serialize)]
        struct Body<'a> {
            #[serde(flatten)]
            action: &'a ActionRequest,
            #[serde(skip_serializing_if = "Option::is_none")]
            wait_budget_secs: Option<f64>,
        }
        let body = Body {
            action,
            wait_budget_secs,
        };
        // Every submission carries a key: it is what makes sending it to another replica,
        // after one went quiet, safe (the second gets the first's outcome, never a second
        // action).
        let key = key.map_or_else(new_idempotency_key, str::to_string);
        self.call(Repeat::Safe, |base| {
            self.http
                .post(format!("{base}/v1/actions"))
                .bearer_auth(token)
                .header(HEADER_IDEMPOTENCY_KEY, format!("\"{key}\""))
                .json(&body)
        })
        .await
    }

    /// Long-poll an action's outcome for up to `wait`.
    pub async fn outcome(
        &self,
        token: &str,
        id: &str,
        wait: Duration,
    ) -> Result<ActionOutcome, ClientError> {
        self.call(Repeat::Safe, |base| {
            self.http
                .get(format!("{base}/v1/actions/{id}?wait={}", wait.as_secs()))
                .bearer_auth(token)
                .timeout(wait + Duration::from_secs(10))
        })
        .await
    }

    /// Withdraws the agent's own pending call: its escalation is cancelled. Returns the final
    /// outcome (unchanged if it was already final).
    pub async fn withdraw(&self, token: &str, id: &str) -> Result<ActionOutcome, ClientError> {
        self.call(Repeat::Safe, |base| {
            self.http
                .post(format!("{base}/v1/actions/{id}/withdraw"))
                .bearer_auth(token)
                .timeout(Duration::from_secs(5))
        })
        .await
    }

    /// Waits for a final outcome until `until`, re-polling across long-poll windows.
    pub async fn wait_final(
        &self,
        token: &str,
        id: &str,
        until: tokio::time::Instant,
    ) -> Result<ActionOutcome, ClientError> {
        loop {
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            let window = left
                .min(Duration::from_secs(30))
                .max(Duration::from_secs(1));
            let out = self.outcome(token, id, window).await?;
            if out.verdict != crate::protocol::Verdict::Pending
                || tokio::time::Instant::now() >= until
            {
                return Ok(out);
            }
        }
    }

    /// A signed read of `path_and_query` (people-only endpoints), signed afresh for each server
    /// it goes to.
    async fn read<T: serde::de::DeserializeOwned>(
        &self,
        key: &PersonKey,
        path_and_query: &str,
    ) -> Result<T, ClientError> {
        self.call(Repeat::Safe, |base| {
            self.signed(base, key, Method::GET, path_and_query)
        })
        .await
    }

    /// A request to `base` signed by a person (people-only endpoints).
    fn signed(
        &self,
        base: &str,
        key: &PersonKey,
        method: Method,
        path_and_query: &str,
    ) -> reqwest::RequestBuilder {
        let req = SignedRequest {
            method: method.as_str().to_string(),
            path: path_and_query.to_string(),
            person: key.id.clone(),
            time: now_rfc3339(),
        };
        let sig = key.sign(Purpose::Request, &req);
        self.http
            .request(method, format!("{base}{path_and_query}"))
            .header(HEADER_PERSON, &req.person)
            .header(HEADER_TIME, &req.time)
            .header(HEADER_SIGNATURE, sig)
    }

    pub async fn escalations(&self, key: &PersonKey) -> Result<Vec<Escalation>, ClientError> {
        self.read(key, "/v1/escalations").await
    }

    pub async fn escalation(&self, key: &PersonKey, id: &str) -> Result<Escalation, ClientError> {
        self.read(key, &format!("/v1/escalations/{id}")).await
    }

    pub async fn killswitches(&self, key: &PersonKey) -> Result<Vec<KillSwitch>, ClientError> {
        self.read(key, "/v1/killswitches").await
    }

    pub async fn flagged(&self, key: &PersonKey) -> Result<Vec<FlaggedAction>, ClientError> {
        self.read(key, "/v1/flagged").await
    }

    /// `GET /v1/audit?…` with the query already encoded.
    /// `GET /v1/audit/checkpoint`: the latest signed checkpoint, as the server wrote it.
    pub async fn audit_checkpoint(
        &self,
        key: &PersonKey,
    ) -> Result<serde_json::Value, ClientError> {
        self.read(key, "/v1/audit/checkpoint").await
    }

    pub async fn audit(
        &self,
        key: &PersonKey,
        query: &str,
    ) -> Result<Vec<crate::protocol::AuditRecord>, ClientError> {
        let path = if query.is_empty() {
            "/v1/audit".to_string()
        } else {
            format!("/v1/audit?{query}")
        };
        self.read(key, &path).await
    }

    /// `GET /v1/history?…` (the query already encoded): one page of a history search.
    pub async fn history(
        &self,
        key: &PersonKey,
        query: &str,
    ) -> Result<crate::protocol::HistoryPage, ClientError> {
        let path = match query {
            "" => "/v1/history".to_string(),
            q => format!("/v1/history?{q}"),
        };
        self.read(key, &path).await
    }

    /// Build and sign a decision on the escalation as the caller saw it.
    pub fn sign_decision(
        key: &PersonKey,
        esc: &Escalation,
        vote: Vote,
        reason: &str,
    ) -> SignedDecision {
        let body = DecisionBody {
            escalation: esc.id.clone(),
            digest: esc.digest.clone(),
            verdict: vote,
            reason: reason.to_string(),
            approver: key.id.clone(),
            issued_at: now_rfc3339(),
        };
        let signature = key.sign(Purpose::Decision, &body);
        SignedDecision { body, signature }
    }

    /// Safe to send to another replica after one went quiet: the same signed decision again is
    /// acknowledged with `recorded: false`.
    pub async fn decide(&self, decision: &SignedDecision) -> Result<DecisionAck, ClientError> {
        let escalation = &decision.body.escalation;
        self.call(Repeat::Safe, |base| {
            self.http
                .post(format!("{base}/v1/escalations/{escalation}/decisions"))
                .json(decision)
        })
        .await
    }

    pub async fn flip(
        &self,
        key: &PersonKey,
        scope: &str,
        on: bool,
        reason: &str,
    ) -> Result<FlipAck, ClientError> {
        let body = KillSwitchBody {
            scope: scope.to_string(),
            on,
            reason: reason.to_string(),
            operator: key.id.clone(),
            issued_at: now_rfc3339(),
        };
        let signature = key.sign(Purpose::KillSwitch, &body);
        let signed = SignedKillSwitch { body, signature };
        self.call(Repeat::Once, |base| {
            self.http
                .post(format!("{base}/v1/killswitches"))
                .json(&signed)
        })
        .await
    }

    pub async fn review_flag(
        &self,
        key: &PersonKey,
        action: &str,
        review: crate::protocol::FlagVerdict,
        note: &str,
    ) -> Result<FlaggedAction, ClientError> {
        let body = FlagReviewBody {
            action: action.to_string(),
            review,
            note: note.to_string(),
            reviewer: key.id.clone(),
            issued_at: now_rfc3339(),
        };
        let signature = key.sign(Purpose::FlagReview, &body);
        let signed = SignedFlagReview { body, signature };
        self.call(Repeat::Once, |base| {
            self.http
                .post(format!("{base}/v1/flagged/{action}/review"))
                .json(&signed)
        })
        .await
    }

    /// Raw request for tests and tools, to the server requests start at (no failover): returns
    /// status and body.
    pub async fn raw<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<&B>,
    ) -> Result<(StatusCode, serde_json::Value), ClientError> {
        let base = self.base();
        let mut req = self.http.request(method, format!("{base}{path}"));
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| ClientError::Unreachable {
            url: base.to_string(),
            message: root_cause(&e),
        })?;
        let status = resp.status();
        let bytes = resp.bytes().await.unwrap_or_default();
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        ))
    }
}

/// A fresh `Idempotency-Key`: 128 random bits, so no two logical calls share one.
pub fn new_idempotency_key() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    format!("gk-{}", hex::encode(bytes))
}

/// `ws://…/v1/stream` (`wss://` for `https://`) for the server at `base`.
pub fn stream_url(base: &str) -> String {
    let rest = base
        .strip_prefix("https://")
        .map(|r| format!("wss://{r}"))
        .or_else(|| base.strip_prefix("http://").map(|r| format!("ws://{r}")))
        .unwrap_or_else(|| base.to_string());
    format!("{rest}/v1/stream")
}

fn redirect(url: &str, status: StatusCode, headers: &reqwest::header::HeaderMap) -> ClientError {
    let location = headers
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(|l| crate::protocol::inert(&l.chars().take(200).collect::<String>()).into_owned())
        .unwrap_or_else(|| "nowhere".into());
    ClientError::Redirect {
        url: url.to_string(),
        status: status.as_u16(),
        location,
    }
}

fn api_error(status: StatusCode, bytes: &[u8]) -> ClientError {
    match serde_json::from_slice::<ErrorBody>(bytes) {
        Ok(e) => ClientError::Api {
            status: status.as_u16(),
            code: e.error.code,
            message: e.error.message,
        },
        Err(_) => ClientError::Api {
            status: status.as_u16(),
            code: format!("http_{}", status.as_u16()),
            message: String::from_utf8_lossy(bytes).chars().take(200).collect(),
        },
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}
