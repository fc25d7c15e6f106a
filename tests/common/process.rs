//! Real `gavel serve` processes: a guard that SIGKILLs its process when dropped (so no server
//! outlives a failed test, and dropping it is the SIGKILL a test wants), and a free port.

use std::process::Child;

pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port nobody listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
