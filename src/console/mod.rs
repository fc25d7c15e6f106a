//! The terminal approval console: the queue of escalations, their detail, flagged actions, kill
//! switches and history, live over the server's WebSocket stream.
//!
//! `update` is the only place state changes; views are pure functions of `&State`; the network,
//! the keyboard and the clock are tasks that send typed events into one loop, which never awaits
//! I/O and redraws only when something changed.

mod asks;
pub mod audit_query;
pub mod batch;
pub mod batch_form;
mod breaker_reset;
pub mod budget_state;
pub mod budgets;
mod clock;
pub mod command;
pub mod dialog;
mod dialog_keys;
pub mod driver;
pub mod event;
pub mod event_loop;
mod fields;
mod figures;
pub mod figures_state;
pub mod grant_form;
mod grant_keys;
pub mod handling;
pub mod history_search;
mod key_names;
pub mod keymap;
pub mod keymap_file;
mod keys;
pub mod lookups;
mod mouse;
mod needle;
pub mod net;
pub mod notify;
pub mod palette;
mod prior;
pub mod query_form;
pub mod queue_cache;
pub mod queue_index;
mod replies;
pub mod rows;
mod scroll;
mod selection;
mod server_events;
pub mod settings;
pub mod state;
mod terminal;
mod text_field;
pub mod theme;
pub mod update;
mod view_keys;
pub mod views;
pub mod words;
pub mod workflow;
pub mod zone;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use crossterm::event::{Event as TermEvent, EventStream};
use futures_util::StreamExt;

use crate::client::Client;
use crate::protocol::PersonKey;

use driver::Driver;
use event::Event;
use keymap::Keymap;
use settings::Notifications;
use state::State;
use theme::Theme;

#[derive(clap::Args, Debug)]
pub struct ConsoleArgs {
    /// Server URL; repeat it (or separate URLs with commas) for replicas: the stream moves to
    /// the next when one drops, and the status bar says which it is on (default: GAVEL_SERVER,
    /// the config file, then http://127.0.0.1:7878)
    #[arg(long, value_name = "URL")]
    pub server: Vec<String>,
    /// Your private key file (default: GAVEL_KEY, the config file, or the only key in the keys dir)
    #[arg(long)]
    pub key: Option<std::path::PathBuf>,
    /// Theme: a built-in (dark, light, high-contrast), NAME for <config dir>/themes/NAME.toml, or a file
    #[arg(long)]
    pub theme: Option<String>,
    /// A private CA certificate (PEM) to trust for an https:// server (default: GAVEL_CA_CERT,
    /// then the config file)
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// Turn desktop notifications and the bell off for this run
    #[arg(long)]
    pub quiet: bool,
}

/// Everything the console needs, resolved and loaded.
pub struct Options {
    /// The client for the servers, with its TLS trust settled.
    pub client: Client,
    pub key: PersonKey,
    pub theme: Theme,
    pub keymap: Keymap,
    pub notifications: Notifications,
}

impl Options {
    /// Settings from flags, environment and the `[console]` table of `gavel.toml`; files read and checked up front so
    /// a mistake is one clear line before the terminal changes.
    pub fn load(args: ConsoleArgs) -> anyhow::Result<Options> {
        let file = crate::config::ConfigFile::load_user()?;
        let s = settings::resolve(
            &args.server,
            args.key,
            args.theme,
            args.ca_cert,
            file.console,
        )?;
        let client = Client::for_servers(s.person.servers, s.person.ca_cert.as_deref())?;
        let key = PersonKey::read(&s.person.key)?;
        let theme = Theme::load(&s.theme, &s.config_dir)?;
        let keymap = keymap_file::load(&s.config_dir)?;
        let mut notifications = s.notifications;
        if args.quiet {
            notifications = Notifications {
                desktop: false,
                bell: false,
            };
        }
        Ok(Options {
            client,
            key,
            theme,
            keymap,
            notifications,
        })
    }
}

pub fn run(args: ConsoleArgs) -> anyhow::Result<ExitCode> {
    let opts = Options::load(args)?;
    let log = init_log("console.log");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run_terminal(opts))?;
    rt.shutdown_timeout(Duration::from_millis(200));
    if let Some(p) = log {
        tracing::info!(log = %p.display(), "console closed");
    }
    Ok(ExitCode::SUCCESS)
}

/// The console's own logs go to a file in the user's state dir, never onto the screen.
pub fn init_log(name: &str) -> Option<PathBuf> {
    let dir = crate::config::state_dir();
    std::fs::create_dir_all(&dir).ok()?;
    let path = dir.join(name);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .ok()?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("GAVEL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init()
        .ok()?;
    Some(path)
}

pub fn new_state(opts: &Options) -> State {
    let mut state = State::new(opts.client.base(), &opts.key.id, chrono::Utc::now());
    // What this terminal can show (NO_COLOR, 16 or 256 colours) and where the viewer is.
    state.theme = opts
        .theme
        .clone()
        .for_terminal(palette::ColorSupport::from_env());
    state.zone = zone::Zone::from_env();
    state.keymap = opts.keymap.clone();
    state.notify_desktop = opts.notifications.desktop;
    state.notify_bell = opts.notifications.bell;
    state
}

/// The loop: take the terminal (restored on every exit path, panics included), then drain
/// events, apply them, draw once if anything changed, tick the countdowns once a second while
/// any are on screen (`event_loop`).
pub async fn run_terminal(opts: Options) -> anyhow::Result<()> {
    require_terminal()?;
    let mut terminal = terminal::take().context("cannot take over the terminal")?;
    let state = new_state(&opts);
    let mut driver = Driver::with_client(opts.client, opts.key, state);
    driver.notifications_live = true;
    if let Ok(size) = terminal.size() {
        driver.apply(Event::Screen {
            width: size.width,
            height: size.height,
        });
    }
    // Only once the terminal is ours: crossterm's reader needs a tty.
    let input = spawn_input(driver.sender());
    let mut stop = stop_signals();
    let result = event_loop::run(&mut driver, &mut terminal, &mut stop)
        .await
        .map(|_| ());
    terminal::close(terminal);
    input.abort();
    result
}

/// The console draws on stdout and reads keys from stdin: both must be a terminal.
pub fn require_terminal() -> anyhow::Result<()> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "the console needs a terminal; for scripts use `gavel pending` and `gavel decide` \
             (or `gavel demo --headless`)"
        );
    }
    Ok(())
}

/// SIGTERM, SIGHUP and SIGINT as one channel (SIGINT only arrives when raw mode is off).
fn stop_signals() -> tokio::sync::mpsc::Receiver<()> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        for kind in [
            SignalKind::terminate(),
            SignalKind::hangup(),
            SignalKind::interrupt(),
        ] {
            if let Ok(mut sig) = signal(kind) {
                let tx = tx.clone();
                tokio::spawn(async move {
                    if sig.recv().await.is_some() {
                        let _ = tx.send(()).await;
                    }
                });
            }
        }
    }
    #[cfg(not(unix))]
    {
        let tx = tx.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                let _ = tx.send(()).await;
            }
        });
    }
    drop(tx);
    rx
}

fn spawn_input(tx: tokio::sync::mpsc::Sender<Event>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut events = EventStream::new();
        while let Some(ev) = events.next().await {
            let ev = match ev {
                Ok(TermEvent::Key(k)) => Event::Key(k),
                Ok(TermEvent::Resize(width, height)) => Event::Screen { width, height },
                Ok(TermEvent::Mouse(m)) => Event::Mouse(m),
                Ok(TermEvent::Paste(text)) => Event::Paste(text),
                Ok(_) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "terminal input failed");
                    return;
                }
            };
            if tx.send(ev).await.is_err() {
                return;
            }
        }
    })
}
