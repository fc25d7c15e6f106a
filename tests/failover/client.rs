//! The client library with several servers: sticky on the one that answered, safe requests
//! resent past a server that went quiet, every failure named.

use gavel::client::{Client, ClientError};
use gavel::protocol::{Verdict, Vote};
use serde_json::json;

use crate::common::{request, Env, POLICY};
use crate::fakes::{dead_url, Answer, Fake};

#[tokio::test]
async fn the_server_that_answered_is_asked_first_next_time() {
    let env = Env::start(POLICY).await;
    let unready = Fake::start(Answer::Status(503, "shutting_down")).await;
    let client =
        Client::with_ca_cert(&format!("{},{}", unready.url, env.url()), None).expect("client");
    assert_eq!(client.base(), unready.url);
    for _ in 0..3 {
        client
            .escalations(env.key("alice"))
            .await
            .expect("listed by the live server");
    }
    assert_eq!(unready.requests(), 1, "asked once, then passed over");
    assert_eq!(client.base(), env.url());
    // Clones share it: the console's tasks and an adapter's polls start there too.
    assert_eq!(client.clone().base(), env.url());
}

#[tokio::test]
async fn agent_calls_move_on_and_keep_their_idempotency_key() {
    let env = Env::start(POLICY).await;
    let quiet = Fake::start(Answer::Hangup).await;
    let client =
        Client::with_ca_cert(&format!("{},{}", quiet.url, env.url()), None).expect("client");
    let token = env.token("refund-bot");
    // The submission may have reached the quiet server: it is resent with its key, which is
    // what makes that safe (the same key to the same store returns the same action).
    let req = request("stripe.refund", json!({"amount": 5.0}), "s-failover");
    let first = client
        .submit_with_key(token, &req, Some("k-failover"))
        .await
        .expect("allowed by the live server");
    assert_eq!(first.verdict, Verdict::Allow);
    assert_eq!(quiet.requests(), 1);
    let again = env
        .client
        .submit_with_key(token, &req, Some("k-failover"))
        .await
        .expect("replayed");
    assert_eq!(again.id, first.id, "one action for one key");
}

#[tokio::test]
async fn a_decision_is_resent_past_a_quiet_server_and_recorded_once() {
    let env = Env::start(POLICY).await;
    let esc = env.refund_review(5000.0).await;
    let quiet = Fake::start(Answer::Hangup).await;
    let client =
        Client::with_ca_cert(&format!("{},{}", quiet.url, env.url()), None).expect("client");
    let decision = Client::sign_decision(env.key("alice"), &esc, Vote::Approve, "fine");
    let ack = client
        .decide(&decision)
        .await
        .expect("recorded by the live server");
    assert!(ack.recorded);
    assert_eq!(quiet.requests(), 1);
    // Had the quiet one landed it, the resend would say so rather than count it twice.
    let again = env.client.decide(&decision).await.expect("acknowledged");
    assert!(!again.recorded);
}

#[tokio::test]
async fn when_no_server_answers_the_error_names_each_and_what_it_did() {
    let dead = dead_url();
    let unready = Fake::start(Answer::Status(503, "storage_unavailable")).await;
    let quiet = Fake::start(Answer::Hangup).await;
    let client = Client::with_ca_cert(&format!("{dead},{},{}", unready.url, quiet.url), None)
        .expect("client");
    let err = client
        .outcome("t", "act_1", std::time::Duration::ZERO)
        .await
        .expect_err("nobody answered");
    assert!(matches!(err, ClientError::NoServer { .. }), "{err:?}");
    assert_eq!(err.code(), "unreachable");
    assert!(err.no_answer() && err.maybe_recorded(), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with("cannot reach gavel at any of its 3 servers: "),
        "{text}"
    );
    assert!(text.contains(&format!("{dead} (")), "{text}");
    assert!(
        text.contains(&format!("{} (answered 503: ", unready.url))
            && text.contains("storage_unavailable"),
        "{text}"
    );
    assert!(
        text.contains(&format!("{} (no answer: ", quiet.url)),
        "{text}"
    );

    // One server: its own error, as before there were lists.
    let one = Client::with_ca_cert(&unready.url, None).expect("client");
    let err = one
        .outcome("t", "act_1", std::time::Duration::ZERO)
        .await
        .expect_err("503");
    assert!(
        matches!(&err, ClientError::Api { status: 503, code, .. } if code == "storage_unavailable"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_refusal_is_the_answer_even_with_a_server_behind_it() {
    let env = Env::start(POLICY).await;
    let forbidden = Fake::start(Answer::Status(403, "not_operator")).await;
    let client =
        Client::with_ca_cert(&format!("{},{}", forbidden.url, env.url()), None).expect("client");
    let err = client
        .flip(env.key("alice"), "global", true, "drill")
        .await
        .expect_err("refused");
    assert_eq!(err.code(), "not_operator");
    let switches = env
        .client
        .killswitches(env.key("alice"))
        .await
        .expect("read");
    assert!(switches.iter().all(|k| !k.on), "{switches:?}");
}
