//! `gavel gate --http` spoken to byte by byte: hostile POST bodies (the stdio gate's corpus,
//! tests/peers/hostile.rs, plus what only HTTP has), a client that hangs up on a held call,
//! and the headers that must and must not cross. The upstream is a real Streamable HTTP server
//! on the official Python SDK that records every call it runs.

mod common;
#[path = "peers/hostile.rs"]
mod hostile;
#[path = "peers/http.rs"]
mod http;
#[path = "peers/support.rs"]
mod support;

use std::path::PathBuf;
use std::time::Duration;

use gavel::protocol::{EscalationState, Vote};
use hostile::Target;
use http::{answer, call, Gate, Raw, Upstream, STEP};
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::Gavel;

const POLICY: &str = r#"
[[rule]]
id = "harmless"
tools = ["mcp.remote.shout", "mcp.remote.whoami"]
effect = "allow"
reason = "Harmless"

[[rule]]
id = "no-notes"
tools = ["mcp.remote.append_note"]
effect = "deny"
reason = "No notes today"

[[rule]]
id = "counts"
tools = ["mcp.remote.count"]
effect = "review"
reason = "Counts are checked by ops"
approvers = "ops"
timeout = "1m"
"#;

async fn parts() -> (Gavel, tempfile::TempDir, Upstream, Gate) {
    let g = Gavel::start(POLICY).await;
    let dir = tempfile::tempdir().expect("tmp");
    let up = Upstream::start(dir.path()).await;
    let gate = Gate::start(&g.url(), &g.token(), &up.url).await;
    (g, dir, up, gate)
}

#[tokio::test]
async fn hostile_bodies_are_refused_or_denied_and_never_forwarded() {
    let (g, _dir, up, gate) = parts().await;
    let raw = Raw::open(&gate.url).await;
    let target = Target {
        tool: "append_note".into(),
        args: Box::new(|marker| format!(r#"{{"text":"{marker}"}}"#)),
    };
    let mut bodies: Vec<(String, Vec<u8>)> = hostile::corpus(&target)
        .into_iter()
        .map(|h| (h.name, h.line))
        .collect();
    let shout = call("two-1", "shout", json!({"text": "first"}));
    let note = call("two-2", "append_note", json!({"text": "second"}));
    bodies.push((
        "two-messages".into(),
        [shout.clone(), note.clone()].concat(),
    ));
    bodies.push((
        "two-messages-newline".into(),
        [shout, b"\n".to_vec(), note].concat(),
    ));
    bodies.push((
        "dup-name-allowed-last".into(),
        br#"{"jsonrpc":"2.0","id":"d","method":"tools/call","params":{"name":"append_note","arguments":{"text":"dup"},"name":"shout"}}"#.to_vec(),
    ));
    for (name, body) in &bodies {
        if body.len() > 8 << 20 {
            // Refused unread (413); the gate may close before the client is done sending.
            let sent = raw.request(body.clone()).send().await;
            if let Ok(r) = sent {
                assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "{name}");
            }
            continue;
        }
        let (status, text) = raw.post(body.clone()).await;
        let reply = answer(&text);
        let denied = reply["result"]["isError"] == true
            && reply["result"]["content"][0]["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("Denied by gavel: "));
        let refused = status.is_client_error()
            && reply["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("gavel gate refused the message"));
        assert!(
            (status == StatusCode::OK && denied) || refused,
            "{name}: {status} {text:.300}"
        );
    }
    // Past the body limit: refused unread.
    let huge = call("huge", "append_note", json!({"text": "x".repeat(9 << 20)}));
    if let Ok(r) = raw.request(huge).send().await {
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
    http::eventually("the gate logs the refusals", || {
        let log = gate.log();
        log.contains("refused a POST body over")
            && log.contains("refused a POST body (a JSON-RPC batch")
    })
    .await;

    // The control: a plain allowed call on the same session does reach the upstream. Nothing
    // else did, whatever the upstream would have made of it.
    let (status, text) = raw
        .post(call("ok", "shout", json!({"text": "control"})))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer(&text)["result"]["content"][0]["text"], "CONTROL");
    assert_eq!(
        up.calls(),
        vec![json!({"tool": "shout", "args": {"text": "control"}})]
    );
    g.shutdown().await;
}

#[tokio::test]
async fn a_client_that_hangs_up_on_a_held_call_withdraws_it() {
    let (g, _dir, up, gate) = parts().await;
    let raw = Raw::open(&gate.url).await;
    let held = raw.request(call("c1", "count", json!({"n": 1})));
    let pending = tokio::spawn(async move { held.send().await.map(|r| r.status()) });
    let esc = g.escalation_for("mcp.remote.count", STEP).await;
    pending.abort(); // drops the request: its connection closes
    let until = tokio::time::Instant::now() + STEP;
    loop {
        let now = g
            .env
            .client
            .escalation(g.approver(), &esc.id)
            .await
            .expect("escalation");
        if now.state == EscalationState::Cancelled {
            break;
        }
        assert!(tokio::time::Instant::now() < until, "still {:?}", now.state);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let late = gavel::client::Client::sign_decision(g.approver(), &esc, Vote::Approve, "late");
    let refused = g.env.client.decide(&late).await.expect_err("refused");
    assert_eq!(refused.code(), "not_pending");
    assert!(up.ran("count").is_empty(), "{:?}", up.calls());

    // The same id again, approved this time: forwarded, so the withdraw above was the hang-up.
    let again = raw.request(call("c1", "count", json!({"n": 1})));
    let pending = tokio::spawn(async move { again.send().await.expect("POST").text().await });
    let esc = g.escalation_for("mcp.remote.count", STEP).await;
    g.decide(&esc, Vote::Approve, "fine").await;
    let text = pending.await.expect("join").expect("body");
    assert_eq!(
        answer(&text)["result"]["content"][0]["text"],
        "counted to 1"
    );
    assert_eq!(up.ran("count").len(), 1);
    g.shutdown().await;
}

#[tokio::test]
async fn end_to_end_headers_cross_hop_by_hop_ones_and_foreign_origins_do_not() {
    let (g, _dir, up, gate) = parts().await;
    let raw = Raw::open(&gate.url).await;
    let r = raw
        .request(call("w", "whoami", json!({})))
        .header("authorization", "Bearer for-the-upstream")
        .header("x-trace", "t-1")
        .header("connection", "keep-alive, x-hop")
        .header("x-hop", "for the gate only")
        .header("proxy-authorization", "Basic Z2F0ZTpvbmx5")
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let reply = answer(&r.text().await.expect("body"));
    let text = reply["result"]["content"][0]["text"]
        .as_str()
        .expect("text");
    let seen: Value = serde_json::from_str(text).expect("headers");
    assert_eq!(seen["authorization"], "Bearer for-the-upstream", "{seen}");
    assert_eq!(seen["x-trace"], "t-1", "{seen}");
    assert_eq!(seen["mcp-session-id"], raw.session.as_str(), "{seen}");
    for hop in ["x-hop", "proxy-authorization", "origin"] {
        assert!(seen.get(hop).is_none(), "{hop} crossed: {seen}");
    }

    // A page elsewhere cannot drive the gate (DNS rebinding): refused before anything runs.
    let r = raw
        .request(call("o", "shout", json!({"text": "from a page"})))
        .header("origin", "http://evil.example")
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let ok = raw
        .request(call("o2", "shout", json!({"text": "local page"})))
        .header("origin", "http://localhost:3000")
        .send()
        .await
        .expect("POST");
    assert_eq!(ok.status(), StatusCode::OK);
    let _ = ok.text().await;

    // Only the upstream's endpoint path is served; other methods are refused.
    let base = gate.url.trim_end_matches("/mcp");
    let other = raw
        .http
        .get(format!("{base}/other"))
        .send()
        .await
        .expect("GET");
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
    let put = raw.http.put(&gate.url).send().await.expect("PUT");
    assert_eq!(put.status(), StatusCode::METHOD_NOT_ALLOWED);

    // GET opens the server's own SSE stream, streamed: its headers arrive while it stays open.
    let get = raw
        .http
        .get(&gate.url)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &raw.session)
        .send()
        .await
        .expect("GET");
    assert_eq!(get.status(), StatusCode::OK);
    assert_eq!(get.headers()["content-type"], "text/event-stream");
    assert_eq!(get.headers()["mcp-session-id"], raw.session.as_str());
    drop(get);

    // DELETE ends the session at the upstream; the session id no longer works there.
    let del = raw
        .http
        .delete(&gate.url)
        .header("mcp-session-id", &raw.session)
        .send()
        .await
        .expect("DELETE");
    assert!(del.status().is_success(), "{}", del.status());
    let (status, _) = raw.post(call("after", "shout", json!({"text": "x"}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the upstream's own answer");
    let shouts: Vec<Value> = up
        .ran("shout")
        .into_iter()
        .map(|c| c["args"]["text"].clone())
        .collect();
    assert_eq!(shouts, vec![json!("local page")]);
    g.shutdown().await;
}

#[tokio::test]
async fn sigterm_withdraws_held_calls_before_the_gate_exits() {
    let (g, _dir, up, mut gate) = parts().await;
    let raw = Raw::open(&gate.url).await;
    let held = raw.request(call("c", "count", json!({"n": 1})));
    let pending = tokio::spawn(async move { held.send().await.map(|r| r.status()) });
    let esc = g.escalation_for("mcp.remote.count", STEP).await;
    // SAFETY: a plain kill(2) of the gate this test started.
    let sent = unsafe { libc::kill(gate.pid() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(sent, 0);
    let code = gate.wait_exit().await;
    assert_eq!(code, Some(128 + libc::SIGTERM), "exit code: 128 + SIGTERM");
    // Withdrawn before the exit, not later: checked once, now.
    let now = g
        .env
        .client
        .escalation(g.approver(), &esc.id)
        .await
        .expect("escalation");
    assert_eq!(now.state, EscalationState::Cancelled);
    pending.abort();
    assert!(up.ran("count").is_empty(), "{:?}", up.calls());
    g.shutdown().await;
}

/// A private CA and a certificate it issued for 127.0.0.1, as PEM files in `dir`.
fn pki(dir: &std::path::Path) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().expect("CA key");
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA cert");
    let issuer = Issuer::new(ca_params, ca_key);
    let params = CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("params");
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, &issuer).expect("cert");
    let write = |name: &str, text: String| {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write PEM");
        p
    };
    (
        write("ca.pem", ca_cert.pem()),
        write("upstream.pem", cert.pem()),
        write("upstream.key", key.serialize_pem()),
    )
}

#[tokio::test]
async fn an_https_upstream_is_reached_only_through_a_trusted_ca() {
    let g = Gavel::start(POLICY).await;
    let dir = tempfile::tempdir().expect("tmp");
    let (ca, cert, key) = pki(dir.path());
    let up = Upstream::start_with(dir.path(), Some((&cert, &key))).await;
    assert!(up.url.starts_with("https://"), "{}", up.url);

    let ca_arg = ca.display().to_string();
    let gate = Gate::start_with(&g.url(), &g.token(), &up.url, &["--ca-cert", &ca_arg]).await;
    let raw = Raw::open(&gate.url).await;
    let (status, text) = raw
        .post(call("t", "shout", json!({"text": "over tls"})))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer(&text)["result"]["content"][0]["text"], "OVER TLS");

    // Without the CA, the upstream's certificate is not trusted: nothing is sent to it.
    let untrusting = Gate::start(&g.url(), &g.token(), &up.url).await;
    let r = raw
        .http
        .post(&untrusting.url)
        .header("accept", "application/json, text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(answer(&r.text().await.expect("body"))["id"], 1);
    assert_eq!(up.calls().len(), 1, "{:?}", up.calls());
    g.shutdown().await;
}
