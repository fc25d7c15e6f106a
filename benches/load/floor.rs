//! The floor: a static nginx responder (one worker, `return 200 '{"verdict":"allow"}'`), started
//! from the distribution's package for the run and stopped with it. It parses the same HTTP/1.1
//! requests over the same loopback and answers the same bytes gavel's allow answer starts with,
//! but decides nothing and writes nothing, so the ratio to it is what gavel's work costs.

use std::path::Path;
use std::process::{Command, Stdio};

use super::common::process::{free_port, Process};

/// Where Debian's `nginx-light` (or `nginx`) package puts the binary.
const NGINX: &[&str] = &["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"];

pub struct Floor {
    pub url: String,
    _process: Process,
}

/// Starts nginx under `dir` on a free loopback port and waits until it answers.
pub async fn start(dir: &Path) -> Floor {
    let Some(nginx) = NGINX.iter().find(|p| Path::new(p).exists()) else {
        eprintln!(
            "the floor needs nginx: `sudo apt-get install nginx-light` (Debian's package), then run again"
        );
        std::process::exit(2);
    };
    let port = free_port();
    for sub in ["logs", "tmp"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let conf = dir.join("nginx.conf");
    std::fs::write(&conf, config(port, dir)).unwrap();
    let child = Command::new(nginx)
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("nginx starts");
    let floor = Floor {
        url: format!("http://127.0.0.1:{port}"),
        _process: Process(child),
    };
    super::target::wait_until_up(&format!("{}/", floor.url)).await;
    floor
}

fn config(port: u16, dir: &Path) -> String {
    let d = dir.display();
    format!(
        r#"daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/logs/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {d}/tmp;
    proxy_temp_path {d}/tmp;
    fastcgi_temp_path {d}/tmp;
    uwsgi_temp_path {d}/tmp;
    scgi_temp_path {d}/tmp;
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            default_type application/json;
            return 200 '{{"verdict":"allow"}}';
        }}
    }}
}}
"#
    )
}
