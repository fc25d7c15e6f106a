//! The console without a terminal: state, the event channel, the stream task and the command
//! runner. The terminal loop wraps it; tests and the headless demo drive it directly.

use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use tokio::sync::mpsc;

use crate::client::Client;
use crate::protocol::PersonKey;

use super::command::Command;
use super::event::Event;
use super::net;
use super::state::State;
use super::update::update;

/// Bounded: a burst of server events applies back-pressure to the socket instead of memory.
pub const EVENT_QUEUE: usize = 4096;

pub struct Driver {
    pub state: State,
    pub client: Client,
    key: Arc<PersonKey>,
    tx: mpsc::Sender<Event>,
    rx: mpsc::Receiver<Event>,
    stream: tokio::task::JoinHandle<()>,
    /// When false, notification commands are recorded but not shown (tests, headless demo).
    pub notifications_live: bool,
    pub notifications_seen: Vec<Command>,
}

impl Driver {
    /// Starts the stream task; must run inside a tokio runtime.
    pub fn start(server: &str, key: PersonKey, state: State) -> Driver {
        Self::with_client(Client::new(server), key, state)
    }

    /// As [`Driver::start`], with a client whose TLS trust is already settled (and which may
    /// hold several replicas: the status bar then says which one the stream is on).
    pub fn with_client(client: Client, key: PersonKey, mut state: State) -> Driver {
        state.replicas = client.servers().len();
        let key = Arc::new(key);
        let (tx, rx) = mpsc::channel(EVENT_QUEUE);
        let stream = net::spawn_stream(client.clone(), key.clone(), tx.clone());
        Driver {
            state,
            client,
            key,
            tx,
            rx,
            stream,
            notifications_live: false,
            notifications_seen: Vec::new(),
        }
    }

    pub fn sender(&self) -> mpsc::Sender<Event> {
        self.tx.clone()
    }

    /// Apply one event and run what it asks for.
    pub fn apply(&mut self, event: Event) {
        for command in update(&mut self.state, event) {
            match command {
                Command::Decide { .. }
                | Command::Flip { .. }
                | Command::Review { .. }
                | Command::Grant { .. }
                | Command::Revoke { .. }
                | Command::Handle { .. }
                | Command::Fetch { .. }
                | Command::Audit { .. }
                | Command::History { .. }
                | Command::Usage { .. }
                | Command::ResetBreaker { .. }
                | Command::Figures { .. } => {
                    net::run_command(&self.client, &self.key, &self.tx, command)
                }
                Command::Notify { title, body } => {
                    if self.notifications_live {
                        super::notify::desktop(title, body, self.tx.clone());
                    } else {
                        self.notifications_seen
                            .push(Command::Notify { title, body });
                    }
                }
                Command::Bell => {
                    if self.notifications_live {
                        super::notify::bell();
                    } else {
                        self.notifications_seen.push(Command::Bell);
                    }
                }
                Command::Quit => {}
            }
        }
    }

    /// Apply everything already waiting, without blocking. Returns how many events there were.
    pub fn drain(&mut self) -> usize {
        let mut n = 0;
        while let Ok(ev) = self.rx.try_recv() {
            self.apply(ev);
            n += 1;
        }
        n
    }

    /// Wait for the next event (or `None` when `timeout` passes), apply it and everything behind it.
    pub async fn step(&mut self, timeout: Duration) -> bool {
        match tokio::time::timeout(timeout, self.rx.recv()).await {
            Ok(Some(ev)) => {
                self.apply(ev);
                self.drain();
                true
            }
            _ => false,
        }
    }

    /// Apply events until `pred` holds; errors after `timeout` with what we were waiting for.
    pub async fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&State) -> bool,
    ) -> anyhow::Result<()> {
        let until = tokio::time::Instant::now() + timeout;
        while !pred(&self.state) {
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                anyhow::bail!("timed out after {timeout:?} waiting for {what}");
            }
            self.step(left).await;
        }
        Ok(())
    }

    pub fn press(&mut self, code: KeyCode) {
        self.apply(Event::Key(KeyEvent::new(code, KeyModifiers::NONE)));
    }

    pub fn type_text(&mut self, text: &str) {
        for c in text.chars() {
            self.press(KeyCode::Char(c));
        }
    }

    /// Advance the clock the views and countdowns use.
    pub fn tick(&mut self) {
        self.apply(Event::Tick(chrono::Utc::now()));
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.stream.abort();
    }
}
