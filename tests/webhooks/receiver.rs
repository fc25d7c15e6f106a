//! A real local HTTP receiver for webhook tests: an axum server on a loopback port that records
//! every request and answers as scripted (a status, or never).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use tokio::sync::Notify;

/// How the receiver answers its next request.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    Status(u16),
    /// Never answers.
    Hang,
}

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub id: String,
    pub timestamp: String,
    pub signature: Option<String>,
    pub body: Bytes,
    pub answered: Option<u16>,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

#[derive(Default)]
struct Inner {
    log: Mutex<Vec<Received>>,
    script: Mutex<VecDeque<Answer>>,
    /// Answers once the script is used up (200 unless set).
    then: Mutex<Option<Answer>>,
    notify: Notify,
}

pub struct Receiver {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
    task: tokio::task::JoinHandle<()>,
}

async fn record(
    State(inner): State<Arc<Inner>>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let answer = inner
        .script
        .lock()
        .unwrap()
        .pop_front()
        .or(*inner.then.lock().unwrap())
        .unwrap_or(Answer::Status(200));
    let answered = match answer {
        Answer::Status(s) => Some(s),
        Answer::Hang => None,
    };
    inner.log.lock().unwrap().push(Received {
        path,
        id: header("webhook-id").unwrap_or_default(),
        timestamp: header("webhook-timestamp").unwrap_or_default(),
        signature: header("webhook-signature"),
        body,
        answered,
    });
    inner.notify.notify_waiters();
    match answer {
        Answer::Status(s) => StatusCode::from_u16(s).unwrap(),
        Answer::Hang => std::future::pending().await,
    }
}

impl Receiver {
    pub async fn start() -> Receiver {
        Self::start_on("127.0.0.1:0".parse().unwrap()).await
    }

    pub async fn start_on(addr: SocketAddr) -> Receiver {
        let inner = Arc::new(Inner::default());
        let app = axum::Router::new()
            .route("/{*path}", axum::routing::post(record))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver { addr, inner, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.addr)
    }

    /// The next answers, in order; `then` afterwards.
    pub fn script(&self, answers: &[Answer], then: Answer) {
        self.inner.script.lock().unwrap().extend(answers);
        *self.inner.then.lock().unwrap() = Some(then);
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.log.lock().unwrap().clone()
    }

    /// The first request that `pred` accepts, waiting up to 20 s for it.
    pub async fn wait_for(&self, what: &str, pred: impl Fn(&Received) -> bool) -> Received {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(r) = self.received().into_iter().find(|r| pred(r)) {
                return r;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("no {what} within 20 s; received: {:#?}", self.received());
            }
        }
    }

    /// Stops listening (the port refuses connections until something binds it again).
    pub async fn stop(self) -> SocketAddr {
        self.task.abort();
        let _ = self.task.await;
        self.addr
    }
}

/// Verifies a request as docs/PROTOCOL.md tells receivers to: base64-decode the secret after
/// `whsec_`, HMAC-SHA256 over `id.timestamp.body`, compare with each `v1,` signature.
pub fn verifies(secret: &str, r: &Received, body: &[u8]) -> bool {
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = b64.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let Some(header) = &r.signature else {
        return false;
    };
    header.split(' ').any(|sig| {
        let Some(tag) = sig.strip_prefix("v1,").and_then(|s| b64.decode(s).ok()) else {
            return false;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(format!("{}.{}.", r.id, r.timestamp).as_bytes());
        mac.update(body);
        mac.verify_slice(&tag).is_ok()
    })
}
