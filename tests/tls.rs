//! HTTPS end to end: `gavel serve` with a certificate from a private CA, and every client (the
//! library client, the CLI, the console's WebSocket, the Claude Code hook) trusting it exactly
//! when given that CA. No client follows a redirect, so a call cannot be steered elsewhere.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{Env, POLICY};
use gavel::client::{Client, ClientError};
use gavel::console::driver::Driver;
use gavel::console::state::{Connection, State};
use gavel::protocol::Verdict;
use gavel::server::TlsFiles;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

const WAIT: Duration = Duration::from_secs(15);

/// A private CA and a certificate it issued for localhost and 127.0.0.1, as PEM files.
struct Pki {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn pki() -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let dir = tempfile::tempdir().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "gavel test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    let write = |name: &str, text: String| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    Pki {
        ca: write("ca.pem", ca_cert.pem()),
        cert: write("server.pem", cert.pem()),
        key: write("server.key", key.serialize_pem()),
        _dir: dir,
    }
}

const EDITS: &str = r#"
[[rule]]
id = "edits"
tools = ["Edit", "Write"]
effect = "allow"
reason = "Edits in the working tree are fine"
"#;

/// The standard harness, served over HTTPS with the test CA's certificate.
async fn https(policy: &str, pki: &Pki) -> (Env, gavel::server::RunningServer) {
    let env = Env::new(policy);
    let mut cfg = env.config();
    cfg.tls = Some(TlsFiles {
        cert: pki.cert.clone(),
        key: pki.key.clone(),
    });
    let server = gavel::server::start(cfg).await.expect("server starts");
    assert!(server.url().starts_with("https://"), "{}", server.url());
    (env, server)
}

fn trusting(url: &str, pki: &Pki) -> Client {
    Client::with_ca_cert(url, Some(&pki.ca)).unwrap()
}

#[tokio::test]
async fn clients_trust_a_private_ca_only_when_given_it() {
    let pki = pki();
    let (env, server) = https(POLICY, &pki).await;
    let url = server.url();

    let client = trusting(&url, &pki);
    let out = client
        .submit(
            env.token("refund-bot"),
            &common::request("orders.get", json!({}), "s"),
        )
        .await
        .expect("an agent call over https");
    assert_eq!(out.verdict, Verdict::Allow);
    client
        .escalations(env.key("alice"))
        .await
        .expect("a signed person read over https");

    // Without the CA: the certificate is not trusted, nothing is sent.
    let err = Client::with_ca_cert(&url, None)
        .unwrap()
        .submit(
            env.token("refund-bot"),
            &common::request("orders.get", json!({}), "s"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Unreachable { .. }) && err.to_string().contains("certificate"),
        "{err}"
    );

    // A CA file that is not one is a clear error before anything is sent.
    let not_pem = env.dir.path().join("not.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    for bad in [not_pem.as_path(), Path::new("/nonexistent/ca.pem")] {
        let e = Client::with_ca_cert(&url, Some(bad)).unwrap_err();
        assert!(matches!(e, ClientError::Config(_)), "{e}");
        assert!(e.to_string().contains("CA certificate"), "{e}");
    }
    for bad in ["127.0.0.1:7878", "ftp://h", "https://h/?x=1", "not a url"] {
        assert!(
            matches!(Client::with_ca_cert(bad, None), Err(ClientError::Config(_))),
            "{bad}"
        );
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_streams_over_wss() {
    let pki = pki();
    let (env, server) = https(POLICY, &pki).await;
    let url = server.url();
    let pending = trusting(&url, &pki)
        .submit(
            env.token("refund-bot"),
            &common::request("stripe.refund", json!({"amount": 2000.0}), "s"),
        )
        .await
        .unwrap();
    let key = gavel::protocol::PersonKey::read(&env.key_file("carol")).unwrap();
    let state = State::new(&url, "carol", chrono::Utc::now());
    let mut d = Driver::with_client(trusting(&url, &pki), key, state);
    d.wait_for("live over wss with the escalation", WAIT, |s| {
        s.connection == Connection::Live
            && s.pending
                .iter()
                .any(|e| Some(&e.id) == pending.escalation.as_ref())
    })
    .await
    .unwrap();
    server.shutdown().await;
}

fn gavel(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gavel"));
    cmd.args(args)
        .env_remove("GAVEL_SERVER")
        .env_remove("GAVEL_KEY")
        .env_remove("GAVEL_CA_CERT")
        .env("GAVEL_CONFIG", "/dev/null");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).trim().to_string()
}

/// Runs the Claude Code hook on an Edit call; returns (decision, reason).
async fn hook(server: &str, token: &str, extra: &[&str]) -> (String, String) {
    let input = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/claude-code/edit.json"),
    )
    .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(["hook", "claude-code", "--timeout", "20", "--server", server])
        .args(extra)
        .env("GAVEL_AGENT_TOKEN", token)
        .env("GAVEL_CONFIG", "/dev/null")
        .env_remove("GAVEL_SERVER")
        .env_remove("GAVEL_CA_CERT")
        .env_remove("GAVEL_ON_BEHALF_OF")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&input).await.unwrap();
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(25), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let h = &v["hookSpecificOutput"];
    (
        h["permissionDecision"].as_str().unwrap().to_string(),
        h["permissionDecisionReason"].as_str().unwrap().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_and_the_hook_take_a_ca_cert() {
    let pki = pki();
    let (env, server) = https(EDITS, &pki).await;
    let url = server.url();
    let ca = pki.ca.display().to_string();
    let carol = env.key_file("carol").display().to_string();

    let run = {
        let url = url.clone();
        move |extra: Vec<String>, envs: Vec<(String, String)>| {
            let url = url.clone();
            let carol = carol.clone();
            tokio::task::spawn_blocking(move || {
                let mut args = vec!["pending", "--server", url.as_str(), "--key", carol.as_str()];
                args.extend(extra.iter().map(String::as_str));
                let envs: Vec<(&str, &str)> =
                    envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                gavel(&args, &envs)
            })
        }
    };
    let ok = run(vec!["--ca-cert".into(), ca.clone()], vec![])
        .await
        .unwrap();
    assert!(ok.status.success(), "{}", stderr(&ok));
    let ok = run(vec![], vec![("GAVEL_CA_CERT".into(), ca.clone())])
        .await
        .unwrap();
    assert!(ok.status.success(), "GAVEL_CA_CERT: {}", stderr(&ok));
    let refused = run(vec![], vec![]).await.unwrap();
    assert!(!refused.status.success());
    let err = stderr(&refused);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("certificate"), "{err}");

    let token = env.token("refund-bot");
    let (decision, reason) = hook(&url, token, &["--ca-cert", &ca]).await;
    assert_eq!(decision, "allow", "{reason}");
    let (decision, reason) = hook(&url, token, &[]).await;
    assert_eq!(decision, "deny");
    assert!(reason.contains("certificate"), "{reason}");
    server.shutdown().await;
}

/// A server that answers every request with `status` and `location`, counting the requests.
async fn answering(status: u16, location: Option<String>) -> (String, Arc<AtomicUsize>) {
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let app = axum::Router::new().fallback(move || {
        let hits = counted.clone();
        let location = location.clone();
        async move {
            hits.fetch_add(1, Ordering::SeqCst);
            let status = StatusCode::from_u16(status).unwrap();
            // What a hostile origin would say: "allow".
            let body = json!({"id": "act_x", "verdict": "allow", "reason": "allowed elsewhere"});
            match location {
                Some(l) => (status, [(header::LOCATION, l)], axum::Json(body)).into_response(),
                None => (status, axum::Json(body)).into_response(),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_client_follows_a_redirect_to_another_origin() {
    let (elsewhere, elsewhere_hits) = answering(200, None).await;
    for status in [301, 302, 307, 308] {
        let (redirector, hits) = answering(status, Some(format!("{elsewhere}/v1/actions"))).await;
        let (decision, reason) = hook(&redirector, "tok", &[]).await;
        assert_eq!(decision, "deny", "{status}: {reason}");
        assert!(reason.contains("redirect"), "{reason}");
        assert_eq!(hits.load(Ordering::SeqCst), 1);

        let key = tempfile::tempdir().unwrap();
        let key_path = key.path().join("k.key");
        gavel::protocol::PersonKey::generate("carol")
            .write_new(&key_path)
            .unwrap();
        let out = tokio::task::spawn_blocking({
            let redirector = redirector.clone();
            move || {
                gavel(
                    &[
                        "pending",
                        "--server",
                        &redirector,
                        "--key",
                        key_path.to_str().unwrap(),
                    ],
                    &[],
                )
            }
        })
        .await
        .unwrap();
        assert!(!out.status.success());
        assert!(stderr(&out).contains("redirect"), "{}", stderr(&out));
    }
    assert_eq!(
        elsewhere_hits.load(Ordering::SeqCst),
        0,
        "the redirect target never heard from a client"
    );
}

#[tokio::test]
async fn serve_speaks_https_from_the_command_line_and_refuses_bad_tls_files() {
    let pki = pki();
    let env = Env::new(POLICY);
    let (policy, roster) = (
        env.policy.display().to_string(),
        env.roster.display().to_string(),
    );
    let data = env.dir.path().join("data-cli").display().to_string();
    let (cert, key) = (
        pki.cert.display().to_string(),
        pki.key.display().to_string(),
    );
    let base = [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data",
        &data,
        "--policy",
        &policy,
        "--roster",
        &roster,
    ];

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(base)
        .args(["--tls-cert", &cert, "--tls-key", &key])
        .env_remove("GAVEL_CONFIG")
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let url = tokio::time::timeout(WAIT, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(rest) = line.strip_prefix("gavel serving on ") {
                return rest.split_whitespace().next().unwrap().to_string();
            }
        }
        panic!("the server exited before serving");
    })
    .await
    .unwrap();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let out = trusting(&url, &pki)
        .submit(
            env.token("refund-bot"),
            &common::request("orders.get", json!({}), "s"),
        )
        .await
        .unwrap();
    assert_eq!(out.verdict, Verdict::Allow);
    child.kill().await.unwrap();

    let missing = env.dir.path().join("missing.pem").display().to_string();
    for (args, names) in [
        (
            vec!["--tls-cert", missing.as_str(), "--tls-key", key.as_str()],
            &missing,
        ),
        (
            vec!["--tls-cert", cert.as_str(), "--tls-key", cert.as_str()],
            &cert,
        ),
        (vec!["--tls-cert", cert.as_str()], &"--tls-key".to_string()),
    ] {
        let mut all: Vec<&str> = base.to_vec();
        all.extend(args);
        let out = tokio::task::spawn_blocking({
            let all: Vec<String> = all.iter().map(|s| s.to_string()).collect();
            move || {
                let a: Vec<&str> = all.iter().map(String::as_str).collect();
                gavel(&a, &[])
            }
        })
        .await
        .unwrap();
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(err.contains(names.as_str()), "{err}");
        assert!(
            err.lines().count() == 1 || err.contains("Usage"),
            "one line: {err}"
        );
    }
}
