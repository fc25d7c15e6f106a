//! The console with 10,000 pending escalations: how long a frame takes (the event that caused it
//! applied, then the whole screen drawn) on a 200×50 TestBackend, over a script of the common
//! interactions: moving the selection, paging, jumping to the ends, escalations arriving and
//! resolving, the clock ticking, typing a filter and clearing it, opening the detail.
//!
//! `cargo bench --bench console`; prints n, p50, p99 and max, and whether the goal (p99 of a
//! frame ≤ 2 ms) was met. Figures vary with what else the machine runs.

#[path = "../tests/console_fixtures/mod.rs"]
mod console_fixtures;

use std::time::{Duration, Instant};

use crossterm::event::KeyCode;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use console_fixtures::{apply, at, escalation, key, live_state};
use gavel::console::event::Event;
use gavel::console::state::State;
use gavel::console::views;
use gavel::protocol::{Escalation, EscalationState, ServerMessage, Snapshot};

const PENDING: usize = 10_000;
const FRAMES: usize = 2_000;
const WIDTH: u16 = 200;
const HEIGHT: u16 = 50;
const GOAL: Duration = Duration::from_millis(2);

const AGENTS: [&str; 5] = ["refund-bot", "db-agent", "deployer", "mailer", "crm-sync"];
const TOOLS: [&str; 5] = [
    "stripe.refund",
    "postgres.execute",
    "deploy.release",
    "email.send",
    "crm.update",
];
const GROUPS: [&str; 4] = ["finance", "dba", "release", "comms"];

/// The `n`th of the bench's escalations: agents, tools, groups and deadlines spread, so some
/// are the viewer's to decide and some are not.
fn nth(n: usize) -> Escalation {
    let mut e = escalation(
        &format!("esc-{n:06}"),
        AGENTS[n % AGENTS.len()],
        TOOLS[(n / 3) % TOOLS.len()],
        60 + (n as i64 * 7) % 86_400,
    );
    e.group = GROUPS[n % GROUPS.len()].into();
    e.rule.id = format!("rule-{}", n % 17);
    e
}

fn big_state() -> State {
    let mut s = live_state();
    let snapshot = Snapshot {
        escalations: (0..PENDING).map(nth).collect(),
        flagged: vec![],
        killswitches: vec![],
        history: vec![],
        agents: vec![],
        activity: vec![],
        grants: vec![],
        part: 1,
        parts: 1,
    };
    apply(
        &mut s,
        Event::Server(ServerMessage::Snapshot(Box::new(snapshot))),
    );
    assert_eq!(s.pending.len(), PENDING);
    s
}

/// What happens before a frame is drawn.
#[derive(Clone, Copy, Debug)]
enum Step {
    Key(KeyCode),
    Arrive,
    Resolve,
    Tick,
    /// Nothing changed: a redraw of the same state.
    Redraw,
}

fn script() -> Vec<Step> {
    use KeyCode::*;
    use Step::*;
    let mut v = Vec::new();
    v.extend([Key(Down); 12]);
    v.push(Arrive);
    v.extend([Key(Up); 4]);
    v.push(Tick);
    v.push(Key(PageDown));
    v.push(Key(PageDown));
    v.push(Resolve);
    v.push(Key(Char('/')));
    v.extend("db-agent".chars().map(|c| Key(Char(c))));
    v.push(Key(Enter));
    v.extend([Key(Down); 5]);
    v.push(Arrive);
    v.push(Key(Esc));
    v.push(Key(End));
    v.push(Key(Up));
    v.push(Key(Home));
    v.push(Key(Enter));
    v.push(Key(Down));
    v.push(Key(Esc));
    v.push(Redraw);
    v.push(Tick);
    v
}

fn apply_step(s: &mut State, step: Step, n: &mut usize) {
    match step {
        Step::Key(code) => key(s, code),
        Step::Arrive => {
            *n += 1;
            let e = nth(*n);
            apply(
                s,
                Event::Server(ServerMessage::EscalationCreated {
                    escalation: Box::new(e),
                }),
            );
        }
        Step::Resolve => {
            // The one in the middle of the queue is approved elsewhere.
            let mut e = (*s.pending[s.pending.len() / 2]).clone();
            e.state = EscalationState::Approved;
            e.resolved_at = Some(s.now);
            apply(
                s,
                Event::Server(ServerMessage::EscalationResolved {
                    escalation: Box::new(e),
                }),
            );
        }
        Step::Tick => {
            let now = s.now + chrono::Duration::seconds(1);
            apply(s, Event::Tick(now));
        }
        Step::Redraw => {}
    }
}

/// This thread's CPU time: a frame's own cost, without the time the scheduler gave other
/// processes while it ran (on a shared machine, a preempted frame loses a whole 4 ms tick).
fn cpu_now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call to write.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn report(what: &str, mut times: Vec<Duration>) -> Duration {
    times.sort();
    let p99 = percentile(&times, 0.99);
    println!(
        "{what}: n={} p50={:?} p99={:?} max={:?}",
        times.len(),
        percentile(&times, 0.50),
        p99,
        times[times.len() - 1]
    );
    p99
}

fn main() {
    // `cargo test --benches` runs this with `--bench` absent: one quick pass is enough there.
    let frames = if std::env::args().any(|a| a == "--bench") {
        FRAMES
    } else {
        50
    };
    let mut s = big_state();
    assert!(s.now >= at(0));
    let mut term = Terminal::new(TestBackend::new(WIDTH, HEIGHT)).unwrap();
    // Warm up: the first frames allocate the buffers.
    for _ in 0..20 {
        term.draw(|f| views::render(f, &s)).unwrap();
    }
    let steps = script();
    let mut arrived = PENDING;
    let mut updates = Vec::with_capacity(frames);
    let mut draws = Vec::with_capacity(frames);
    let mut whole = Vec::with_capacity(frames);
    let mut cpu = Vec::with_capacity(frames);
    let mut by_step: std::collections::BTreeMap<String, Vec<Duration>> = Default::default();
    for i in 0..frames {
        let step = steps[i % steps.len()];
        let c0 = cpu_now();
        let t0 = Instant::now();
        apply_step(&mut s, step, &mut arrived);
        let t1 = Instant::now();
        term.draw(|f| views::render(f, &s)).unwrap();
        let t2 = Instant::now();
        cpu.push(cpu_now() - c0);
        updates.push(t1 - t0);
        draws.push(t2 - t1);
        whole.push(t2 - t0);
        let name = match step {
            Step::Key(KeyCode::Char(_)) => "Key(typed)".to_string(),
            other => format!("{other:?}"),
        };
        by_step.entry(name).or_default().push(t2 - t0);
    }
    println!(
        "console, {} pending, {WIDTH}x{HEIGHT}, script of {} steps:",
        s.pending.len(),
        steps.len()
    );
    report("  update only ", updates);
    report("  draw only   ", draws);
    let over = whole.iter().filter(|t| **t > GOAL).count();
    let p99 = report("  frame (both)", whole);
    report("  frame CPU   ", cpu);
    println!("  frames over 2 ms (wall clock): {over} of {frames}");
    println!("  frames by what came before them:");
    for (name, times) in by_step {
        report(&format!("    {name:<16}"), times);
    }
    println!(
        "goal 2 ms (frame p99): {}",
        if p99 <= GOAL { "met" } else { "not met" }
    );
}
