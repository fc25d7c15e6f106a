//! Accepting connections, over TCP or TLS, with limits, so that slow, idle or flooding clients
//! can neither exhaust the server nor lock agents out (principle 7: bounded under abuse).
//!
//! - At most `max_connections` sockets at once, WebSockets included. When every slot is taken,
//!   the oldest connection with no request in flight is closed to make room: a flood of idle or
//!   half-sent connections cannot exhaust file descriptors, and cannot keep out an agent or a
//!   `/healthz` probe, whose fresh connection takes an idle attacker's place and whose request,
//!   once in flight, is never cut. Authenticated console streams are pinned.
//! - A TLS handshake must finish within `handshake`; request headers must arrive within
//!   `header_read` of the connection or of the previous response, so idle keep-alive connections
//!   close then; a request body must arrive within `body_read`. HTTP/1.1 only.
//! - On shutdown: stop accepting, let the requests in flight finish, close idle connections.

use std::collections::BTreeMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use futures_util::task::AtomicWaker;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;
use tower_http::timeout::RequestBodyTimeoutLayer;

/// How much a client may hold and for how long.
#[derive(Debug, Clone)]
pub struct Limits {
    /// `None`: derived from the process's file-descriptor limit (raised to its hard limit).
    pub max_connections: Option<usize>,
    pub handshake: Duration,
    pub header_read: Duration,
    pub body_read: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: None,
            handshake: Duration::from_secs(10),
            header_read: Duration::from_secs(10),
            body_read: Duration::from_secs(30),
        }
    }
}

/// File descriptors kept from connections: the store, logs, the runtime, outgoing calls.
const FD_RESERVE: u64 = 128;
const MAX_CONNECTIONS: u64 = 16_384;

impl Limits {
    fn connections(&self) -> usize {
        self.max_connections.unwrap_or_else(|| {
            // As servers do: raise the soft limit to the hard one, then leave room for the rest.
            let soft = rlimit::increase_nofile_limit(MAX_CONNECTIONS + FD_RESERVE).unwrap_or(1024);
            soft.saturating_sub(FD_RESERVE).clamp(16, MAX_CONNECTIONS) as usize
        })
    }
}

/// Serves `router` on `listener` until `stop` turns true and the requests in flight are done.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<TlsAcceptor>,
    limits: Limits,
    stop: watch::Receiver<bool>,
) {
    let router = router.layer(RequestBodyTimeoutLayer::new(limits.body_read));
    let registry = Arc::new(Registry::new(limits.connections()));
    // Every connection task holds a sender; when the last is gone, every connection is done.
    let (done, mut all_done) = mpsc::channel::<()>(1);
    let mut last_error_logged: Option<tokio::time::Instant> = None;
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = super::shutdown::stopped(stop.clone()) => break,
        };
        let tcp = match accepted {
            Ok((tcp, _peer)) => tcp,
            Err(e) => {
                // Out of descriptors or a transient network error: pause instead of spinning.
                if last_error_logged.is_none_or(|t| t.elapsed() > Duration::from_secs(5)) {
                    tracing::warn!("accepting a connection failed: {e}");
                    last_error_logged = Some(tokio::time::Instant::now());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(slot) = registry.admit() else {
            continue; // every slot has a request in flight: this connection is refused (closed)
        };
        let _ = tcp.set_nodelay(true);
        let io = Tracked {
            tcp,
            slot: slot.clone(),
            registry: registry.clone(),
        };
        let conn = Conn {
            slot,
            router: router.clone(),
            limits: limits.clone(),
            stop: stop.clone(),
            _done: done.clone(),
        };
        tokio::spawn(conn.run(io, tls.clone()));
    }
    drop(done);
    let _ = all_done.recv().await;
}

/// One connection's task.
struct Conn {
    slot: Arc<Slot>,
    router: Router,
    limits: Limits,
    stop: watch::Receiver<bool>,
    _done: mpsc::Sender<()>,
}

impl Conn {
    async fn run(self, io: Tracked, tls: Option<TlsAcceptor>) {
        match tls {
            None => self.http(io).await,
            Some(acceptor) => {
                match tokio::time::timeout(self.limits.handshake, acceptor.accept(io)).await {
                    Ok(Ok(stream)) => self.http(stream).await,
                    Ok(Err(e)) => tracing::debug!("TLS handshake failed: {e}"),
                    Err(_) => tracing::debug!("TLS handshake timed out"),
                }
            }
        }
    }

    async fn http<IO>(self, io: IO)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (slot, router) = (self.slot.clone(), self.router.clone());
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnSlot(slot.clone()));
            let in_flight = InFlight::enter(&slot);
            let call = router.clone().oneshot(req.map(axum::body::Body::new));
            async move {
                let response = call.await;
                drop(in_flight);
                response
            }
        });
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_read)
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        tokio::pin!(conn);
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!("connection ended: {e}");
                }
                return;
            }
            _ = super::shutdown::stopped(self.stop.clone()) => conn.as_mut().graceful_shutdown(),
        }
        let _ = conn.await;
    }
}

/// One socket's place among the connections, shared by its IO, its requests and the registry.
#[derive(Debug)]
pub struct Slot {
    id: u64,
    in_flight: AtomicUsize,
    /// Has carried a request: a keep-alive connection a client may reuse at any moment.
    served: AtomicBool,
    pinned: AtomicBool,
    killed: AtomicBool,
    waker: AtomicWaker,
}

impl Slot {
    /// Never evicted from now on (an authenticated console's stream).
    pub fn pin(&self) {
        self.pinned.store(true, Ordering::Relaxed);
    }

    fn evictable(&self) -> bool {
        !self.pinned.load(Ordering::Relaxed) && self.in_flight.load(Ordering::Relaxed) == 0
    }

    fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// Registers the task to be woken on a kill, then says whether it happened.
    fn killed(&self, cx: &Context<'_>) -> bool {
        self.waker.register(cx.waker());
        self.killed.load(Ordering::Acquire)
    }
}

/// The connection's slot, as a request extension (the stream pins it once a person is known).
#[derive(Debug, Clone)]
pub struct ConnSlot(pub Arc<Slot>);

/// Marks a request in flight on its connection for as long as it lives.
struct InFlight(Arc<Slot>);

impl InFlight {
    fn enter(slot: &Arc<Slot>) -> Self {
        slot.in_flight.fetch_add(1, Ordering::Relaxed);
        slot.served.store(true, Ordering::Relaxed);
        InFlight(slot.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

struct Registry {
    slots: Mutex<BTreeMap<u64, Arc<Slot>>>,
    next: AtomicU64,
    max: usize,
}

impl Registry {
    fn new(max: usize) -> Self {
        tracing::info!(max_connections = max, "connection limit");
        Registry {
            slots: Mutex::new(BTreeMap::new()),
            next: AtomicU64::new(0),
            max: max.max(1),
        }
    }

    /// A slot for a new connection: when full, a connection with no request in flight is
    /// closed to make room: the oldest that never carried a request (what a flood of idle
    /// connections is made of), else the oldest idle keep-alive one (a client may be sending
    /// on it right now, so it goes last). `None` when every connection is busy or pinned.
    fn admit(&self) -> Option<Arc<Slot>> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if slots.len() >= self.max {
            let never_used = slots
                .values()
                .find(|s| s.evictable() && !s.served.load(Ordering::Relaxed));
            let victim = never_used
                .or_else(|| slots.values().find(|s| s.evictable()))
                .cloned()?;
            victim.kill();
            slots.remove(&victim.id);
        }
        let slot = Arc::new(Slot {
            id: self.next.fetch_add(1, Ordering::Relaxed),
            in_flight: AtomicUsize::new(0),
            served: AtomicBool::new(false),
            pinned: AtomicBool::new(false),
            killed: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        });
        slots.insert(slot.id, slot.clone());
        Some(slot)
    }

    fn release(&self, id: u64) {
        self.slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
    }
}

/// A TCP stream that holds its slot until it is dropped, and fails once evicted.
struct Tracked {
    tcp: TcpStream,
    slot: Arc<Slot>,
    registry: Arc<Registry>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.registry.release(self.slot.id);
    }
}

fn evicted() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "closed to make room for another connection",
    )
}

impl AsyncRead for Tracked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.slot.killed(cx) {
            return Poll::Ready(Err(evicted()));
        }
        Pin::new(&mut this.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.slot.killed(cx) {
            return Poll::Ready(Err(evicted()));
        }
        Pin::new(&mut this.tcp).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_registry_evicts_an_idle_connection_and_never_a_busy_or_pinned_one() {
        let killed = |s: &Arc<Slot>| s.killed.load(Ordering::Relaxed);
        let reg = Registry::new(3);
        let a = reg.admit().unwrap();
        let b = reg.admit().unwrap();
        let c = reg.admit().unwrap();
        let busy_a = InFlight::enter(&a); // a request in flight on the oldest
        b.pin(); // an authenticated console
        let d = reg.admit().expect("room is made");
        assert!(killed(&c), "the oldest idle one goes");
        assert!(!killed(&a) && !killed(&b));

        // a is now an idle keep-alive connection, d a never-used one: d goes first.
        drop(busy_a);
        let e = reg.admit().expect("room is made");
        assert!(killed(&d) && !killed(&a));
        let _busy_e = InFlight::enter(&e);
        let f = reg.admit().expect("room is made");
        assert!(killed(&a), "then the idle keep-alive one");
        assert!(!killed(&b) && !killed(&e));

        let _busy_f = InFlight::enter(&f);
        assert!(
            reg.admit().is_none(),
            "every slot is busy or pinned: refused"
        );
        reg.release(f.id);
        assert!(reg.admit().is_some());
    }
}
