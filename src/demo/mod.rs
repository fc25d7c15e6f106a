//! `gavel demo`: one command, nothing to set up. Starts the server in-process on a loopback port
//! with a temporary data dir and the example policy, creates demo identities (you and a
//! colleague), starts simulated agents, and opens the console as you. Quitting the console stops
//! everything. `--headless --duration 5s` runs without a terminal and prints a summary.

pub mod agents;
mod runaway;
pub mod world;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context as _;
use crossterm::event::KeyCode;

use crate::console::driver::Driver;
use crate::console::settings::Notifications;
use crate::console::state::Connection;
use crate::console::{theme::Theme, Options};

use agents::{Pace, Simulation};
use world::World;

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Run without a terminal for --duration, then print a summary (for tests and CI)
    #[arg(long)]
    pub headless: bool,
    /// How long a headless run lasts, e.g. 5s, 2m (1s to 1d)
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Console theme: dark, light, high-contrast, or a file
    #[arg(long)]
    pub theme: Option<String>,
    /// Desktop notifications and the terminal bell (off by default in the demo)
    #[arg(long)]
    pub notify: bool,
}

/// `--duration`: the program's one duration grammar (`crate::duration`), 1s to 1d.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    crate::duration::parse(s, crate::duration::DEMO_RUN).map_err(|e| e.to_string())
}

/// A temporary directory removed when dropped (tempfile is only a dev-dependency).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> anyhow::Result<TempDir> {
        let dir = std::env::temp_dir().join(format!(
            "gavel-demo-{}-{:08x}",
            std::process::id(),
            agents::rand_below(u32::MAX as u64)
        ));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
        }
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let theme = match &args.theme {
        Some(t) => Theme::load(t, &crate::config::config_dir())?,
        None => Theme::default(),
    };
    let keymap = crate::console::keymap_file::load(&crate::config::config_dir())?;
    if !args.headless {
        // Before starting anything: without a terminal there is nothing to show it on.
        crate::console::require_terminal()?;
    }
    crate::console::init_log("demo.log");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = rt.block_on(async {
        let tmp = TempDir::new()?;
        let world = World::create(&tmp.0, "127.0.0.1:0".parse()?)?;
        let server = crate::server::start(world.config.clone())
            .await
            .context("starting the demo server")?;
        let url = server.url();
        let pace = if args.headless {
            Pace::fast()
        } else {
            Pace::interactive()
        };
        let sim = Simulation::start(&url, &world, pace)?;
        let outcome = if args.headless {
            headless(&url, &world, &sim, args.duration).await
        } else {
            let opts = Options {
                client: crate::client::Client::new(&url),
                key: world.your_key()?,
                theme,
                keymap,
                notifications: Notifications {
                    desktop: args.notify,
                    bell: args.notify,
                },
            };
            crate::console::run_terminal(opts).await.map(|_| ())
        };
        tracing::info!("demo stopping: agents, then the server");
        sim.stop();
        // Aborted long polls close their connections; don't let a straggler hold the exit.
        if tokio::time::timeout(Duration::from_secs(5), server.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("demo server did not stop within 5s; exiting anyway");
        }
        drop(tmp);
        tracing::info!("demo stopped; temporary files removed");
        if args.headless && outcome.is_ok() {
            println!("shut down cleanly");
        }
        outcome
    });
    rt.shutdown_timeout(Duration::from_millis(500));
    result.map(|_| ExitCode::SUCCESS)
}

/// The console's state machine as you, without a terminal: watch the stream for `duration`,
/// approve one escalation through the same keys a person would press, print what happened.
async fn headless(
    url: &str,
    world: &World,
    sim: &Simulation,
    duration: Duration,
) -> anyhow::Result<()> {
    let state = crate::console::state::State::new(url, world::YOU, chrono::Utc::now());
    let mut console = Driver::start(url, world.your_key()?, state);
    let until = tokio::time::Instant::now() + duration;
    let mut seen = std::collections::HashSet::new();
    let mut approved = false;
    let mut first_selected = None;
    let mut most_pending = 0;
    while tokio::time::Instant::now() < until {
        console.step(Duration::from_millis(200)).await;
        console.tick();
        let s = &console.state;
        most_pending = most_pending.max(s.pending.len());
        if first_selected.is_none() {
            first_selected = s.selected_escalation().map(|e| match s.not_mine(e) {
                None => format!("{} (yours to decide)", e.id),
                Some(why) => format!("{} (NOT yours: {why})", e.id),
            });
        }
        for e in console
            .state
            .pending
            .iter()
            .map(|e| &**e)
            .chain(console.state.history.iter())
        {
            seen.insert(e.id.clone());
        }
        if !approved && console.state.dialog.is_none() && console.state.in_flight.is_empty() {
            let rows = console.state.queue_rows();
            let target = rows.iter().position(|&i| {
                let e = &console.state.pending[i];
                e.approvals_required == 1 && console.state.not_mine(e).is_none()
            });
            if let Some(pos) = target {
                console.press(KeyCode::Home);
                for _ in 0..pos {
                    console.press(KeyCode::Down);
                }
                console.press(KeyCode::Char('a'));
                console.type_text("headless demo: approved");
                console.press(KeyCode::Enter);
                approved = true;
            }
        }
    }
    // Let the last reply land.
    let _ = console
        .wait_for("the decision's answer", Duration::from_secs(5), |s| {
            s.in_flight.is_empty()
        })
        .await;
    let s = &console.state;
    let st = &sim.stats;
    let n = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    println!(
        "gavel demo (headless) ran {:.1}s against {url}",
        duration.as_secs_f64()
    );
    println!(
        "actions: {} submitted: {} allowed, {} denied, {} escalated, {} flagged",
        n(&st.submitted),
        n(&st.allowed),
        n(&st.denied),
        n(&st.escalated),
        n(&st.flagged)
    );
    println!(
        "escalations seen by the console: {} ({} pending, {} resolved); colleague votes: {}",
        seen.len(),
        s.pending.len(),
        s.history.len(),
        n(&st.colleague_votes)
    );
    println!(
        "first selected escalation: {}",
        first_selected.as_deref().unwrap_or("none")
    );
    println!(
        "pending at most: {most_pending} (bound: {} per agent, {} agents); withdrawn by \
         agents that stopped waiting: {}",
        agents::MAX_HELD_PER_AGENT,
        world.tokens.len(),
        n(&st.withdrawn)
    );
    println!(
        "your decision: {}",
        s.message
            .as_ref()
            .map(|m| m.text.as_str())
            .unwrap_or("none made")
    );
    let usage = crate::client::Client::new(url)
        .usage(&world.your_key()?, Some(runaway::RUNAWAY))
        .await
        .unwrap_or_default();
    let breakers: Vec<String> = usage
        .breakers
        .iter()
        .map(|b| format!("{} ({})", b.breaker, b.reason))
        .collect();
    println!(
        "runaway {}: {} calls, {} held for review, {} denied; breakers open: {}",
        runaway::RUNAWAY,
        n(&st.runaway_calls),
        n(&st.runaway_held),
        n(&st.runaway_denied),
        if breakers.is_empty() {
            "none".to_string()
        } else {
            breakers.join("; ")
        }
    );
    let live = s.connection == Connection::Live;
    println!(
        "console connection: {}",
        if live { "live" } else { "NOT live" }
    );
    if !live {
        anyhow::bail!("the console never got a live stream from the demo server");
    }
    Ok(())
}
