//! The load generator, the same for gavel and its floor: HTTP/1.1 keep-alive POSTs of an agent's
//! allowed call, open loop at a fixed rate (latency counts from when a request was due, so a
//! stall is not hidden) and closed loop with many connections at saturation.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// One run's latencies in microseconds, sorted, and how long it took.
pub struct Sample {
    pub lat_us: Vec<u64>,
    pub errors: usize,
    /// How the first failed call failed.
    pub first_error: Option<String>,
    pub elapsed: Duration,
}

impl Sample {
    pub fn rate(&self) -> f64 {
        self.lat_us.len() as f64 / self.elapsed.as_secs_f64()
    }

    /// The `p`th percentile in milliseconds.
    pub fn pct(&self, p: f64) -> f64 {
        if self.lat_us.is_empty() {
            return f64::NAN;
        }
        let idx = ((p / 100.0) * (self.lat_us.len() - 1) as f64).round() as usize;
        self.lat_us[idx] as f64 / 1000.0
    }
}

type Conn = SendRequest<Full<Bytes>>;

/// Where the calls go and as whom, and the keep-alive connections not in use.
#[derive(Clone)]
pub struct Target {
    addr: Arc<str>,
    auth: Arc<str>,
    /// Keep-alive connections, each with when it was last used.
    idle: Arc<Mutex<Vec<(Instant, Conn)>>>,
    first_error: Arc<Mutex<Option<String>>>,
}

/// What an allowed answer says, from gavel and from the floor alike.
const ALLOW: &[u8] = br#""verdict":"allow""#;
/// A pooled connection idle longer than this is not reused (gavel closes one idle for 10 s).
const POOL_IDLE: Duration = Duration::from_secs(5);

impl Target {
    /// `base` is `http://host:port`.
    pub fn new(base: &str, token: &str) -> Target {
        Target {
            addr: base.trim_start_matches("http://").into(),
            auth: format!("Bearer {token}").into(),
            idle: Arc::default(),
            first_error: Arc::default(),
        }
    }

    async fn connection(&self) -> Option<Conn> {
        // A connection the server has closed since is dropped, as any pooling client does,
        // and so is one idle long enough (while another target was measured) that the server
        // may be closing it as it is used: gavel closes a connection idle for 10 s.
        while let Some((since, c)) = self.idle.lock().unwrap().pop() {
            if !c.is_closed() && since.elapsed() < POOL_IDLE {
                return Some(c);
            }
        }
        let tcp = TcpStream::connect(&*self.addr).await.ok()?;
        tcp.set_nodelay(true).ok()?;
        let (send, conn) = http1::handshake(TokioIo::new(tcp)).await.ok()?;
        tokio::spawn(conn);
        Some(send)
    }

    /// One allowed call on a keep-alive connection; true when answered 200 with an allow.
    async fn call(&self, i: u64) -> bool {
        match self.try_call(i).await {
            Ok(()) => true,
            Err(e) => {
                let mut first = self.first_error.lock().unwrap();
                first.get_or_insert(e);
                false
            }
        }
    }

    /// The first call that failed since last asked, and how.
    fn take_first_error(&self) -> Option<String> {
        self.first_error.lock().unwrap().take()
    }

    async fn try_call(&self, i: u64) -> Result<(), String> {
        let body = format!(
            r#"{{"tool":"orders.get","args":{{"id":"o-{i}"}},"session":"s-{}","context":{{}}}}"#,
            i % 97
        );
        let mut conn = self.connection().await.ok_or("no connection")?;
        let req = Request::post("/v1/actions")
            .header(HOST, &*self.addr)
            .header(AUTHORIZATION, &*self.auth)
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let resp = conn
            .send_request(req)
            .await
            .map_err(|e| format!("request {i}: {e}"))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("answer to {i}: {e}"))?
            .to_bytes();
        self.idle.lock().unwrap().push((Instant::now(), conn));
        if status.is_success() && body.windows(ALLOW.len()).any(|w| w == ALLOW) {
            Ok(())
        } else {
            Err(format!("{i}: {status} {}", String::from_utf8_lossy(&body)))
        }
    }
}

fn finish(target: &Target, mut lat_us: Vec<u64>, errors: usize, elapsed: Duration) -> Sample {
    lat_us.sort_unstable();
    Sample {
        lat_us,
        errors,
        first_error: target.take_first_error(),
        elapsed,
    }
}

/// `rate` calls a second for `seconds`, each sent when it is due whatever the others are doing.
pub async fn fixed_rate(target: &Target, rate: u64, seconds: f64, first: u64) -> Sample {
    let total = (rate as f64 * seconds) as u64;
    let start = Instant::now();
    // The pacer is a thread of its own sleeping to each due time (tokio's timer rounds up to
    // the next millisecond, which would add up to 1 ms to every figure, the floor's too), and
    // it starts each call on this runtime when due, whatever the others are doing.
    let runtime = tokio::runtime::Handle::current();
    let pacer_target = target.clone();
    let tasks = tokio::task::spawn_blocking(move || {
        let mut tasks = Vec::with_capacity(total as usize);
        for i in 0..total {
            let due = start + Duration::from_secs_f64(i as f64 / rate as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let target = pacer_target.clone();
            tasks.push(runtime.spawn(async move {
                let ok = target.call(first + i).await;
                (ok, due.elapsed())
            }));
        }
        tasks
    })
    .await
    .expect("the pacer");
    let (mut lat, mut errors) = (Vec::with_capacity(tasks.len()), 0);
    for t in tasks {
        match t.await {
            Ok((true, d)) => lat.push(d.as_micros() as u64),
            _ => errors += 1,
        }
    }
    finish(target, lat, errors, start.elapsed())
}

/// `connections` agents each calling again as soon as answered, for `seconds`.
pub async fn saturated(target: &Target, connections: usize, seconds: f64, first: u64) -> Sample {
    let start = Instant::now();
    let stop = start + Duration::from_secs_f64(seconds);
    let mut handles = Vec::new();
    for w in 0..connections as u64 {
        let target = target.clone();
        handles.push(tokio::spawn(async move {
            let (mut lat, mut errors) = (Vec::new(), 0);
            let mut i = first + w * 10_000_000;
            while Instant::now() < stop {
                let t = Instant::now();
                if target.call(i).await {
                    lat.push(t.elapsed().as_micros() as u64);
                } else {
                    errors += 1;
                }
                i += 1;
            }
            (lat, errors)
        }));
    }
    let (mut lat, mut errors) = (Vec::new(), 0);
    for h in handles {
        if let Ok((l, e)) = h.await {
            lat.extend(l);
            errors += e;
        }
    }
    finish(target, lat, errors, start.elapsed())
}
