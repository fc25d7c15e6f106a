//! The allow path against a static floor, in one run: a real `gavel serve` on SQLite and on
//! PostgreSQL, and nginx answering a fixed allow, each taking the same open-loop load at the same
//! rates and the same saturating load, over loopback; every gavel answer is durable before it is
//! sent. Each figure is printed beside the floor's and the ratio, then the storage per allowed
//! action.
//!
//! cargo bench --bench load                      # rates 500,1000,2000 for 5 s; 32 connections
//! cargo bench --bench load -- --rates 2000 --seconds 10 --connections 64
//! cargo bench --bench load -- --stores sqlite   # one backend (default: sqlite,postgres)
//! cargo bench --bench load -- --governed        # under limits, a breaker and anomaly flags
//!                                               # that never trip
//! cargo bench --bench load -- --keep DIR        # leave the SQLite store in DIR/gavel.db, to
//!                                               # see where its bytes go
//!
//! Needs nginx (Debian: `apt-get install nginx-light`) and, for the PostgreSQL figures, the
//! test PostgreSQL (`GAVEL_TEST_POSTGRES`, default the local one; `.ci/postgres` provides one).
//! The generator, gavel, nginx and PostgreSQL share the machine's cores.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "load/drive.rs"]
mod drive;
#[path = "load/floor.rs"]
mod floor;
#[path = "load/prune.rs"]
mod prune;
#[path = "load/report.rs"]
mod report;
#[path = "load/storage.rs"]
mod storage;
#[path = "load/target.rs"]
mod target;

use drive::Target;

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
    seconds: f64,
    connections: usize,
    keep: Option<std::path::PathBuf>,
}

fn parse_args() -> Args {
    let mut a = Args {
        governed: false,
        stores: vec!["sqlite".into(), "postgres".into()],
        rates: vec![500, 1000, 2000],
        seconds: 5.0,
        connections: 32,
        keep: None,
    };
    let argv: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < argv.len() {
        let next = argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--governed" => a.governed = true,
            "--stores" => a.stores = next.split(',').map(str::to_string).collect(),
            "--rates" => a.rates = next.split(',').filter_map(|r| r.parse().ok()).collect(),
            "--seconds" => a.seconds = next.parse().unwrap_or(a.seconds),
            "--connections" => a.connections = next.parse().unwrap_or(a.connections),
            "--keep" => a.keep = Some(next.into()),
            _ => {} // cargo passes --bench; ignore what we do not know
        }
        i += if argv[i].starts_with("--") && argv[i] != "--governed" && argv[i] != "--bench" {
            2
        } else {
            1
        };
    }
    a
}

/// A gavel under load, and what it needs to be measured after.
struct Backend {
    name: &'static str,
    env: common::Env,
    gavel: target::Gavel,
    target: Target,
    allowed: u64,
}

fn main() {
    let args = parse_args();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(args));
}

async fn run(args: Args) {
    let policy = if args.governed {
        format!("{POLICY}{GOVERNANCE}")
    } else {
        POLICY.to_string()
    };
    let nginx_dir = tempfile::tempdir().unwrap();
    let nginx = floor::start(nginx_dir.path()).await;
    let floor = Target::new(&nginx.url, "-");
    let mut backends = Vec::new();
    for store in &args.stores {
        backends.push(start(store, &policy).await);
    }
    println!(
        "gavel load: the allow path{} over loopback, {} cores; floor: nginx, one worker, a static allow",
        if args.governed { " under limits, a breaker and anomaly flags" } else { "" },
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    );
    // Warm up connections, caches and the page cache on every target.
    warm(&floor, 0).await;
    for b in &mut backends {
        b.allowed += warm(&b.target, 0).await;
    }
    let mut at_2000 = None;
    let mut next = 1_000_000u64;
    for &rate in &args.rates {
        let mut samples = vec![(
            "nginx",
            drive::fixed_rate(&floor, rate, args.seconds, 0).await,
        )];
        for b in &mut backends {
            let s = drive::fixed_rate(&b.target, rate, args.seconds, next).await;
            next += 10_000_000;
            b.allowed += s.lat_us.len() as u64;
            samples.push((b.name, s));
        }
        report::phase(
            &format!("open loop, {rate} req/s for {} s", args.seconds),
            &samples,
        );
        if rate == 2000 {
            at_2000 = Some(samples);
        }
    }
    let mut samples = vec![(
        "nginx",
        drive::saturated(&floor, args.connections, args.seconds, 0).await,
    )];
    for b in &mut backends {
        let s = drive::saturated(&b.target, args.connections, args.seconds, next).await;
        next += 1_000_000_000;
        b.allowed += s.lat_us.len() as u64;
        samples.push((b.name, s));
    }
    report::phase(
        &format!(
            "saturated, {} connections for {} s",
            args.connections, args.seconds
        ),
        &samples,
    );
    println!("goals");
    if let Some(at) = &at_2000 {
        for (name, s) in &at[1..] {
            let f = &at[0].1;
            report::goal(
                &format!("{name} p50 at 2,000 req/s, × floor"),
                s.pct(50.0) / f.pct(50.0),
                2.0,
                true,
            );
            report::goal(
                &format!("{name} p99 at 2,000 req/s, × floor"),
                s.pct(99.0) / f.pct(99.0),
                2.0,
                true,
            );
        }
    }
    for (name, s) in &samples[1..] {
        report::goal(
            &format!("{name} saturated req/s, × floor"),
            s.rate() / samples[0].1.rate(),
            0.5,
            false,
        );
    }
    for b in backends {
        let (name, allowed) = (b.name, b.allowed);
        let (kept, pruned) = stop(b, args.keep.as_deref()).await;
        report::figure(
            &format!("{name} bytes per allowed action while its row is kept ({allowed} actions, {kept} bytes)"),
            kept as f64 / allowed as f64,
        );
        report::goal(
            &format!("{name} bytes per allowed action past keep_actions ({pruned} bytes)"),
            pruned as f64 / allowed as f64,
            400.0,
            true,
        );
    }
}

async fn start(store: &str, policy: &str) -> Backend {
    let (name, env) = match store {
        "sqlite" => ("SQLite", common::Env::sqlite(policy)),
        "postgres" => ("PostgreSQL", common::Env::postgres(policy)),
        other => panic!("--stores: {other} is neither sqlite nor postgres"),
    };
    let gavel = target::Gavel::start(&env).await;
    let target = Target::new(&gavel.url, env.token("refund-bot"));
    Backend {
        name,
        env,
        gavel,
        target,
        allowed: 0,
    }
}

async fn warm(target: &Target, first: u64) -> u64 {
    let s = drive::saturated(target, 8, 1.0, first).await;
    s.lat_us.len() as u64
}

/// Stops a backend and returns the bytes its store holds; a SQLite store is copied into
/// `keep` first when asked.
/// Stops gavel; the bytes its store holds, and then once every row is past `keep_actions`.
async fn stop(b: Backend, keep: Option<&std::path::Path>) -> (u64, u64) {
    b.gavel.stop();
    let url = b.env.store.as_deref();
    let kept = match url {
        None => {
            if let Some(dir) = keep {
                std::fs::create_dir_all(dir).expect("--keep DIR");
                std::fs::copy(b.env.data.join("gavel.db"), dir.join("gavel.db"))
                    .expect("copying the store");
            }
            storage::sqlite_bytes(&b.env.data)
        }
        Some(url) => storage::postgres_bytes(url, false),
    };
    (kept, storage::pruned_bytes(&b.env.data, url).await)
}
