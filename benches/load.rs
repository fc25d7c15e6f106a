//! Load on the HTTP allow path over loopback: throughput and latency percentiles at fixed request
//! rates (open loop: latency counts from when a request was due, so a stall is not hidden) and at
//! saturation (closed loop, many concurrent agents). Every answer is durable before it is sent.
//!
//! cargo bench --bench load                      # defaults: rates 500,1000,2000 for 5 s; 64 workers
//! cargo bench --bench load -- --rates 1000 --seconds 10 --workers 128
//! cargo bench --bench load -- --governed          # the same calls under limits, breakers and
//!                                                 # anomaly flags that never trip
//! cargo bench --bench load -- --stores sqlite      # one backend only (default: sqlite,postgres)
//!
//! The server runs in this process on a real loopback port, first on a real SQLite file, then on
//! a fresh database of the test PostgreSQL (`GAVEL_TEST_POSTGRES`, default the local one), so
//! both backends are measured in the same run; the load generator shares the machine, so
//! saturation figures are a floor.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use gavel::client::Client;
use gavel::protocol::Verdict;
use serde_json::json;

const POLICY: &str = r#"
[[rule]]
id = "reads"
tools = ["orders.get"]
when = "args.id.startsWith('o-')"
effect = "allow"
reason = "reads"
"#;

/// Governance on the same calls, never tripped: what limits, a breaker and the new-tool
/// baseline add to the allow path (lookups, not writes).
const GOVERNANCE: &str = r#"
[[limit]]
id = "reads-per-session"
agents = ["refund-bot"]
tools = ["orders.*"]
per = "session"
window = "1h"
max_calls = 1000000000
max_cost = 1000000000.0
warn_at = 0.99

[[limit]]
id = "reads-per-agent"
tools = ["orders.*"]
window = "1d"
max_calls = 1000000000

[[breaker]]
id = "fatigue"
window = "10m"
max_escalations = 1000
max_denied_share = 0.9
min_calls = 100
cooldown = "1m"

[anomaly]
new_tool = true
"#;

struct Args {
    governed: bool,
    stores: Vec<String>,
    rates: Vec<u64>,
    seconds: u64,
    workers: usize,
}

fn parse_args() -> Args {
    let mut a = Args {
        governed: false,
        stores: vec!["sqlite".into(), "postgres".into()],
        rates: vec![500, 1000, 2000],
        seconds: 5,
        workers: 64,
    };
    let argv: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < argv.len() {
        let next = argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--governed" => {
                a.governed = true;
                i += 1;
                continue;
            }
            "--stores" => a.stores = next.split(',').map(str::to_string).collect(),
            "--rates" => a.rates = next.split(',').filter_map(|r| r.parse().ok()).collect(),
            "--seconds" => a.seconds = next.parse().unwrap_or(a.seconds),
            "--workers" => a.workers = next.parse().unwrap_or(a.workers),
            _ => {
                i += 1;
                continue; // cargo passes --bench; ignore what we do not know
            }
        }
        i += 2;
    }
    a
}

fn report(label: &str, mut lat_us: Vec<u64>, errors: usize, elapsed: Duration) {
    lat_us.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat_us.is_empty() {
            return 0.0;
        }
        let idx = ((p / 100.0) * (lat_us.len() - 1) as f64).round() as usize;
        lat_us[idx] as f64 / 1000.0
    };
    println!(
        "{label:<22} {:>8.0} req/s  n={:<7} errors={:<4} p50={:>7.2}ms p99={:>7.2}ms p99.9={:>7.2}ms max={:>7.2}ms",
        lat_us.len() as f64 / elapsed.as_secs_f64(),
        lat_us.len(),
        errors,
        pct(50.0),
        pct(99.0),
        pct(99.9),
        pct(100.0)
    );
}

async fn one(client: &Client, token: &str, i: u64) -> bool {
    let req = common::request(
        "orders.get",
        json!({"id": format!("o-{i}")}),
        &format!("s-{}", i % 97),
    );
    matches!(client.submit(token, &req).await, Ok(o) if o.verdict == Verdict::Allow)
}

async fn fixed_rate(client: &Client, token: &str, rate: u64, seconds: u64) {
    let total = rate * seconds;
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = start + Duration::from_secs_f64(i as f64 / rate as f64);
        tokio::time::sleep_until(due).await;
        let (client, token) = (client.clone(), token.to_string());
        tasks.push(tokio::spawn(async move {
            let ok = one(&client, &token, i).await;
            (ok, due.elapsed())
        }));
    }
    let mut lat = Vec::with_capacity(tasks.len());
    let mut errors = 0;
    for t in tasks {
        match t.await {
            Ok((true, d)) => lat.push(d.as_micros() as u64),
            _ => errors += 1,
        }
    }
    report(&format!("fixed {rate}/s"), lat, errors, start.elapsed());
}

async fn saturation(client: &Client, token: &str, workers: usize, seconds: u64) {
    let stop = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let mut handles = Vec::new();
    for w in 0..workers {
        let (client, token) = (client.clone(), token.to_string());
        handles.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0;
            let mut i = w as u64 * 1_000_000;
            while Instant::now() < stop {
                let t = Instant::now();
                if one(&client, &token, i).await {
                    lat.push(t.elapsed().as_micros() as u64);
                } else {
                    errors += 1;
                }
                i += 1;
            }
            (lat, errors)
        }));
    }
    let mut lat = Vec::new();
    let mut errors = 0;
    for h in handles {
        if let Ok((l, e)) = h.await {
            lat.extend(l);
            errors += e;
        }
    }
    report(
        &format!("saturation {workers} conc"),
        lat,
        errors,
        start.elapsed(),
    );
}

fn main() {
    let args = parse_args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let policy = if args.governed {
            format!("{POLICY}{GOVERNANCE}")
        } else {
            POLICY.to_string()
        };
        for store in &args.stores {
            run(&args, &policy, store).await;
        }
    });
}

/// The load on one backend.
async fn run(args: &Args, policy: &str, store: &str) {
    let mut env = common::Env::new(policy);
    env.store = match store {
        "postgres" => Some(common::postgres::fresh_database()),
        "sqlite" => None,
        other => panic!("--stores: {other} is neither sqlite nor postgres"),
    };
    env.boot().await;
    let env = Arc::new(env);
    let client = Client::new(&env.url());
    let token = env.token("refund-bot").to_string();
    // Warm up connections and the page cache.
    for i in 0..200 {
        one(&client, &token, i).await;
    }
    println!(
        "gavel load: allow path over loopback, {}, {}{} cores",
        if store == "postgres" {
            "PostgreSQL synchronous_commit=on"
        } else {
            "SQLite synchronous=FULL"
        },
        if args.governed {
            "under two limits, a breaker and the new-tool baseline, "
        } else {
            ""
        },
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    for &rate in &args.rates {
        fixed_rate(&client, &token, rate, args.seconds).await;
    }
    saturation(&client, &token, args.workers, args.seconds).await;
    let text = reqwest::get(format!("{}/metrics", env.url())).await.ok();
    if let Some(resp) = text {
        let body = resp.text().await.unwrap_or_default();
        let get = |name: &str| {
            body.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().last())
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        let (commits, ops) = (
            get("gavel_store_commits_total"),
            get("gavel_store_ops_total"),
        );
        println!(
            "group commit: {ops:.0} writes in {commits:.0} transactions ({:.1} per fsync)",
            ops / commits.max(1.0)
        );
    }
    if let Ok(mut env) = Arc::try_unwrap(env) {
        env.stop().await;
    }
}
