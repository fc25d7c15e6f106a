//! The console stream's messages fit the document's `ServerMessage` and `ClientMessage`: the
//! challenge, the welcome, the snapshot and live events as the server sends them.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use gavel::protocol::signing::Purpose;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::common::{Env, POLICY};
use crate::spec::Spec;

#[tokio::test]
async fn the_streams_messages_fit_the_document() {
    let env = Env::start(POLICY).await;
    let spec = Spec::fetch(&env).await;
    let server_message = spec.validator(&spec.component("ServerMessage"));
    let client_message = spec.validator(&spec.component("ClientMessage"));
    let (mut ws, _) = tokio_tungstenite::connect_async(env.client.stream_url())
        .await
        .unwrap();
    let challenge = next_message(&mut ws, &server_message).await;
    let carol = env.key("carol");
    let nonce = challenge["nonce"].clone();
    let signature = carol.sign(
        Purpose::StreamAuth,
        &json!({"nonce": nonce, "person": "carol"}),
    );
    let auth = json!({"type": "auth", "person": "carol", "signature": signature});
    assert!(client_message.is_valid(&auth));
    assert!(!client_message.is_valid(&json!({"type": "auth", "person": "carol"})));
    ws.send(Message::Text(auth.to_string().into()))
        .await
        .unwrap();
    assert_eq!(
        next_message(&mut ws, &server_message).await["type"],
        "welcome"
    );
    assert_eq!(
        next_message(&mut ws, &server_message).await["type"],
        "snapshot"
    );
    env.act(
        "refund-bot",
        "stripe.refund",
        json!({"amount": 5000.0}),
        "s",
    )
    .await;
    let mut seen = Vec::new();
    while seen.len() < 2 {
        seen.push(
            next_message(&mut ws, &server_message).await["type"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    seen.sort();
    assert_eq!(seen, ["action", "escalation_created"]);
}

/// The next text message, which must fit `ServerMessage`.
async fn next_message(ws: &mut crate::common::Ws, server_message: &jsonschema::Validator) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message within 10 s")
            .expect("the stream is open")
            .expect("a message");
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).unwrap();
            let errors: Vec<String> = server_message
                .iter_errors(&v)
                .map(|e| e.to_string())
                .collect();
            assert!(
                errors.is_empty(),
                "a stream message does not fit ServerMessage: {errors:?}\n{v}"
            );
            return v;
        }
    }
}
