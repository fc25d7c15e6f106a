//! `gavel audit verify` over a real data dir: records per second, against the goal of 200,000.
//!
//! A real server runs in this process on a loopback port and SQLite file; many agents submit
//! allowed calls concurrently (group commit: one signed checkpoint per write transaction), and
//! every 200th call escalates and is decided by a signed approval, so the log holds the kinds a
//! server writes (`action` mostly, `escalation_created`, `decision`, `escalation_resolved`).
//! Then the real binary verifies the stopped server's data dir several times.
//!
//! cargo bench --bench verify                          # 200,000 records, 5 runs
//! cargo bench --bench verify -- --records 50000 --runs 3
//! cargo bench --bench verify -- --keep /tmp/verify-data  # made once, reused by later runs
//! cargo bench --bench verify -- --pruned              # then again on a copy whose action rows
//!                                                     # are all past keep_actions

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "load/prune.rs"]
mod prune;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gavel::client::Client;
use gavel::protocol::{Verdict, Vote};
use serde_json::json;

const GOAL: f64 = 200_000.0;
const WORKERS: u64 = 64;
/// One call in this many escalates (and is decided).
const REVIEW_EVERY: u64 = 200;

const POLICY: &str = r#"
[[rule]]
id = "reads"
tools = ["orders.get"]
effect = "allow"
reason = "reads"

[[rule]]
id = "refund-large"
tools = ["stripe.refund"]
effect = "review"
reason = "Refunds need a finance approver"
approvers = "finance"
timeout = "10m"
"#;

struct Args {
    records: u64,
    runs: usize,
    keep: Option<PathBuf>,
    pruned: bool,
}

fn parse_args() -> Args {
    let mut a = Args {
        records: 200_000,
        runs: 5,
        keep: None,
        pruned: false,
    };
    let argv: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < argv.len() {
        let next = argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--records" => a.records = next.parse().unwrap_or(a.records),
            "--runs" => a.runs = next.parse().unwrap_or(a.runs),
            "--keep" => a.keep = Some(PathBuf::from(next)),
            "--pruned" => {
                a.pruned = true;
                i += 1;
                continue;
            }
            _ => {
                i += 1;
                continue; // cargo passes --bench
            }
        }
        i += 2;
    }
    a
}

/// One agent's share of the calls; returns the records they wrote (approximately: a retried
/// call writes one more).
async fn agent(env: Arc<common::Env>, next: Arc<AtomicU64>, calls: u64) {
    let token = env.token("refund-bot").to_string();
    let client = Client::new(&env.url());
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= calls {
            return;
        }
        if i % REVIEW_EVERY != REVIEW_EVERY - 1 {
            let req = common::request("orders.get", json!({"id": format!("o-{i}")}), "s");
            let out = client.submit(&token, &req).await.expect("submit");
            assert_eq!(out.verdict, Verdict::Allow, "{out:?}");
            continue;
        }
        let req = common::request(
            "stripe.refund",
            json!({"amount": 2000 + i}),
            &format!("s-{i}"),
        );
        let out = client.submit(&token, &req).await.expect("submit");
        let id = out.escalation.expect("escalated");
        let key = env.key("alice");
        let esc = client.escalation(key, &id).await.expect("escalation");
        let vote = if i.is_multiple_of(2) {
            Vote::Approve
        } else {
            Vote::Deny
        };
        let signed = Client::sign_decision(key, &esc, vote, "bench");
        client.decide(&signed).await.expect("decision");
    }
}

/// A stopped server's data dir with about `records` audit records.
async fn make_log(dir: &Path, records: u64) {
    let mut env = common::Env::sqlite(POLICY);
    env.data = dir.to_path_buf();
    env.boot().await;
    let env = Arc::new(env);
    // An allowed call writes one record; a decided escalation four (action, created, decision,
    // resolved).
    let calls = records * REVIEW_EVERY / (REVIEW_EVERY + 3);
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..WORKERS)
        .map(|_| tokio::spawn(agent(env.clone(), next.clone(), calls)))
        .collect();
    for t in tasks {
        t.await.expect("agent");
    }
    println!(
        "made the log: {calls} calls in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    let mut env = Arc::try_unwrap(env).ok().expect("agents done");
    env.stop().await;
}

/// One run of the real binary: (records verified, checkpoints, wall time).
fn verify_once(data: &Path) -> (u64, u64, Duration) {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(["audit", "verify", "--data"])
        .arg(data)
        .output()
        .expect("gavel runs");
    let took = start.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "verify failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // "ok: N records, M signed checkpoints, …"
    let words: Vec<&str> = stdout.split_whitespace().collect();
    let number = |i: usize| {
        words[i]
            .trim_end_matches(',')
            .parse::<u64>()
            .expect("a count")
    };
    (number(1), number(3), took)
}

fn main() {
    let args = parse_args();
    let temp = tempfile::tempdir().expect("temp dir");
    let data = match &args.keep {
        Some(dir) => dir.clone(),
        None => temp.path().join("data"),
    };
    if !data.join("gavel.db").exists() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(make_log(&data, args.records));
    }
    measure(&data, args.runs, "every action row kept");
    if args.pruned {
        let copy = temp.path().join("pruned");
        std::fs::create_dir_all(&copy).expect("a copy");
        for file in ["gavel.db", "gavel.db-wal", "server.key"] {
            if data.join(file).exists() {
                std::fs::copy(data.join(file), copy.join(file)).expect("copying the data dir");
            }
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(prune::prune_all(&copy, None));
        measure(&copy, args.runs, "every plain call's row past keep_actions");
    }
}

/// `runs` runs of verify on `data`: each, then the median and the worst against the goal.
fn measure(data: &Path, runs: usize, what: &str) {
    println!(
        "gavel audit verify --data {} ({what}), {runs} runs, {} cores (shared machine)",
        data.display(),
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    let mut rates = Vec::new();
    for run in 1..=runs {
        let (records, checkpoints, took) = verify_once(data);
        let rate = records as f64 / took.as_secs_f64();
        println!(
            "run {run}: {records} records, {checkpoints} checkpoints in {:.3} s = {rate:.0} records/s",
            took.as_secs_f64()
        );
        rates.push(rate);
    }
    rates.sort_by(f64::total_cmp);
    let median = rates[rates.len() / 2];
    let worst = rates[0];
    let verdict = |r: f64| if r >= GOAL { "meets" } else { "misses" };
    println!(
        "records/s: median {median:.0} ({} the goal of {GOAL:.0}), worst {worst:.0} ({})",
        verdict(median),
        verdict(worst)
    );
}
