//! gavel under test: a real `gavel serve` process (the release binary cargo built beside this
//! bench), on a fresh SQLite data dir or a fresh PostgreSQL database, as a user runs it.

use std::process::{Command, Stdio};
use std::time::Duration;

use super::common::process::{free_port, Process};
use super::common::Env;

pub struct Gavel {
    pub url: String,
    process: Process,
}

impl Gavel {
    /// Starts `gavel serve` with `env`'s policy and roster and waits until it is ready.
    pub async fn start(env: &Env) -> Gavel {
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gavel"));
        cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--data")
            .arg(&env.data)
            .arg("--policy")
            .arg(&env.policy)
            .arg("--roster")
            .arg(&env.roster)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if let Some(store) = &env.store {
            cmd.args(["--store", store]);
        }
        let gavel = Gavel {
            url: format!("http://127.0.0.1:{port}"),
            process: Process(cmd.spawn().expect("gavel serve starts")),
        };
        wait_until_up(&format!("{}/readyz", gavel.url)).await;
        gavel
    }

    /// Stops it as a user would (SIGTERM: finish, fold the WAL into the file) and waits.
    pub fn stop(mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.process.0.id() as i32, libc::SIGTERM) };
        let _ = self.process.0.wait();
    }
}

/// Polls `url` until it answers 200 (20 s at most).
pub async fn wait_until_up(url: &str) {
    for _ in 0..400 {
        if let Ok(r) = reqwest::get(url).await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} did not come up");
}
