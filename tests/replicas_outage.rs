//! A replica whose database goes away, through a real TCP proxy in front of the real
//! PostgreSQL: every call fails closed (503, never an allow), `/readyz` fails, and once the
//! database is reachable again the replica serves without a restart.

mod common;

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use common::postgres::{address, fresh_database};
use common::proxy::Proxy;
use common::{request, Env, POLICY};
use gavel::protocol::Verdict;

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_fails_closed_while_its_database_is_gone_and_serves_again_when_it_returns() {
    let db = fresh_database();
    let upstream = address(&db);
    let proxy = Proxy::start(upstream).await;
    let mut env = Env::new(POLICY);
    env.store = Some(db.replace(&upstream.to_string(), &proxy.addr.to_string()));
    env.boot().await;
    let token = env.token("refund-bot").to_string();
    let ready = || {
        let client = env.client.clone();
        async move {
            let (status, body) = client
                .raw::<()>(Method::GET, "/readyz", None, None)
                .await
                .unwrap();
            (status.as_u16(), body)
        }
    };
    assert_eq!(ready().await.0, 200);
    let out = env.act("refund-bot", "orders.get", json!({}), "s").await;
    assert_eq!(out.verdict, Verdict::Allow);

    proxy.cut();
    // Calls are refused, never allowed; a held call's poll is refused too.
    for _ in 0..3 {
        let e = env
            .client
            .submit(&token, &request("orders.get", json!({}), "s"))
            .await
            .expect_err("no answer but a refusal while the database is gone");
        assert_eq!(e.code(), "storage_unavailable", "{e}");
    }
    let until = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (status, body) = ready().await;
        if status == 503 {
            assert!(
                body["reason"].as_str().unwrap_or("").contains("store"),
                "{body}"
            );
            break;
        }
        assert!(tokio::time::Instant::now() < until, "/readyz stayed 200");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, _) = env
        .client
        .raw::<()>(Method::GET, "/healthz", None, None)
        .await
        .unwrap();
    assert_eq!(status.as_u16(), 200, "the process itself is alive");

    proxy.restore();
    let until = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if ready().await.0 == 200 {
            break;
        }
        assert!(tokio::time::Instant::now() < until, "/readyz stayed 503");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Writes and reads work again on the same process.
    let out = env
        .act("refund-bot", "orders.get", json!({"n": 2}), "s")
        .await;
    assert_eq!(out.verdict, Verdict::Allow);
    let again = env.poll("refund-bot", &out.id).await.unwrap();
    assert_eq!(again.verdict, Verdict::Allow);
    env.stop().await;
}
