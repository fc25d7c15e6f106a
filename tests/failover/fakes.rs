//! Servers that are not gavel, on real loopback sockets: a port where nothing listens, and a
//! listener that reads each whole request and then answers it with a fixed status (a replica
//! that is up but not ready answers 503) or drops the connection without an answer (a replica
//! that died while the request was in flight). Each counts the requests that reached it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A loopback URL where nothing listens (bound, then released).
pub fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}")
}

#[derive(Clone, Copy, Debug)]
pub enum Answer {
    /// This status with gavel's error body `{"error": {"code", "message"}}`.
    Status(u16, &'static str),
    /// Read the request, then close the connection without a word.
    Hangup,
}

pub struct Fake {
    pub url: String,
    requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Fake {
    /// Starts on an ephemeral loopback port, on the test's runtime.
    pub async fn start(answer: Answer) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let requests = Arc::new(AtomicUsize::new(0));
        let counted = requests.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                let counted = counted.clone();
                tokio::spawn(async move {
                    let mut socket = socket;
                    if read_request(&mut socket).await {
                        // Counted before the answer, so a client that has it sees the count.
                        counted.fetch_add(1, Ordering::SeqCst);
                        reply(socket, answer).await;
                    }
                });
            }
        });
        Fake {
            url,
            requests,
            task,
        }
    }

    /// How many whole requests reached it.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one request (headers, then a `content-length` body): true when a whole one came.
async fn read_request(socket: &mut TcpStream) -> bool {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = find(&got, b"\r\n\r\n") {
            break i + 4;
        }
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&got[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while got.len() < head_end + length {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    true
}

async fn reply(mut socket: TcpStream, answer: Answer) {
    match answer {
        Answer::Hangup => drop(socket),
        Answer::Status(status, code) => {
            let body = format!(
                r#"{{"error":{{"code":"{code}","message":"the fake replica says {status}"}}}}"#
            );
            let reply = format!(
                "HTTP/1.1 {status} Fake\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(reply.as_bytes()).await;
            let _ = socket.shutdown().await;
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
