//! The console with several replicas: its stream goes live on the first that answers, moves to
//! the next when that one goes away, and the status bar says which replica it is on.

use std::time::Duration;

use gavel::client::Client;
use gavel::console::driver::Driver;
use gavel::console::state::{Connection, State};
use gavel::protocol::PersonKey;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use crate::common::{Env, POLICY};
use crate::fakes::{dead_url, Answer, Fake};
use crate::twin;

const WAIT: Duration = Duration::from_secs(20);

fn console(env: &Env, servers: &str) -> Driver {
    let client = Client::with_ca_cert(servers, None).expect("client");
    let state = State::new(client.base(), "alice", chrono::Utc::now());
    let key = PersonKey::read(&env.key_file("alice")).expect("key");
    Driver::with_client(client, key, state)
}

/// The status bar (the screen's last line) at 140 columns.
fn status_bar(s: &State) -> String {
    let mut term = Terminal::new(TestBackend::new(140, 30)).expect("terminal");
    term.draw(|f| gavel::console::views::render(f, s))
        .expect("draw");
    let b = term.backend().buffer();
    let y = b.area.height - 1;
    (0..b.area.width).map(|x| b[(x, y)].symbol()).collect()
}

fn port(url: &str) -> &str {
    url.trim_start_matches("http://")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_goes_live_on_the_first_replica_that_answers_and_says_which() {
    let env = Env::start(POLICY).await;
    let unready = Fake::start(Answer::Status(503, "shutting_down")).await;
    let servers = format!("{},{},{}", dead_url(), unready.url, env.url());
    let mut d = console(&env, &servers);
    d.wait_for("a live stream", WAIT, |s| {
        s.connection == Connection::Live && s.me.is_some()
    })
    .await
    .expect("live");
    assert_eq!((d.state.replica, d.state.replicas), (2, 3));
    assert_eq!(d.state.server_url, env.url());
    let bar = status_bar(&d.state);
    assert!(
        bar.contains(&format!("│ replica 3 of 3: {} ", port(&env.url()))),
        "{bar}"
    );
    assert!(bar.contains("● live"), "{bar}");
    // Its REST calls go where the stream is.
    assert_eq!(d.client.base(), env.url());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_its_replica_goes_away_the_stream_moves_to_the_next() {
    let mut a = Env::start(POLICY).await;
    let b = twin(&a, POLICY).await;
    let mut d = console(&a, &format!("{},{}", a.url(), b.url()));
    d.wait_for("live on the first", WAIT, |s| {
        s.connection == Connection::Live && s.me.is_some()
    })
    .await
    .expect("live");
    assert_eq!(d.state.replica, 0);
    assert!(status_bar(&d.state).contains(&format!("replica 1 of 2: {}", port(&a.url()))));

    // Stopping closes the stream: the next replica is tried at once (no backoff before every
    // replica was), so the drop and the new snapshot may arrive in one batch.
    a.stop().await;
    d.wait_for("live on the second", WAIT, |s| {
        s.connection == Connection::Live && s.replica == 1
    })
    .await
    .expect("live again");
    assert_eq!(d.state.server_url, b.url());
    let bar = status_bar(&d.state);
    assert!(
        bar.contains(&format!("replica 2 of 2: {}", port(&b.url()))),
        "{bar}"
    );
    assert_eq!(d.client.base(), b.url());
}
