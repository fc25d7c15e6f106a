use crate::common::{Env, POLICY};

/// Every answer names its request: the caller's `x-request-id` comes back as given, and one is
/// made for a request that has none (answers, refusals and unknown endpoints alike).
#[tokio::test]
async fn every_answer_carries_a_request_id() {
    let env = Env::start(POLICY).await;
    let http = reqwest::Client::new();
    let mut made = Vec::new();
    for (method, path) in [
        (reqwest::Method::GET, "/healthz"),
        (reqwest::Method::POST, "/v1/actions"),
        (reqwest::Method::GET, "/v1/escalations"),
        (reqwest::Method::GET, "/v2/nothing"),
    ] {
        let url = format!("{}{path}", env.url());
        let resp = http.request(method.clone(), &url).send().await.unwrap();
        let id = resp.headers().get("x-request-id");
        let id = id
            .unwrap_or_else(|| panic!("{method} {path}: no x-request-id"))
            .to_str()
            .unwrap()
            .to_string();
        assert!(!id.is_empty(), "{method} {path}");
        made.push(id);

        let given = http
            .request(method.clone(), &url)
            .header("x-request-id", "agent-run-42/step-3")
            .send()
            .await
            .unwrap();
        assert_eq!(
            given.headers()["x-request-id"],
            "agent-run-42/step-3",
            "{method} {path}"
        );
    }
    made.sort();
    made.dedup();
    assert_eq!(made.len(), 4, "each request gets its own id: {made:?}");
}
