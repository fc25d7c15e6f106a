//! Delivery: retried until the receiver takes it, durable across a receiver outage and a
//! restart, never in the way of enforcement, and near-deadline warnings once.

use gavel::protocol::Verdict;
use serde_json::json;

use crate::common::{request, Env, POLICY};
use crate::receiver::{verifies, Answer, Received, Receiver};
use crate::{configure, SECRET};

fn json_hook(id: &str, url: &str, extra: &str) -> String {
    format!("[[webhook]]\nid = \"{id}\"\nurl = \"{url}\"\nsecret = \"{SECRET}\"\n{extra}\n")
}

fn of_type(t: &'static str) -> impl Fn(&Received) -> bool {
    move |r| r.json()["type"] == t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_gets_the_event_again_until_it_takes_it() {
    let rx = Receiver::start().await;
    rx.script(
        &[Answer::Status(500), Answer::Status(500)],
        Answer::Status(200),
    );
    let mut env = Env::new(POLICY);
    configure(
        &mut env,
        &json_hook("ops", &rx.url("hook"), "retry_backoff = \"20ms\""),
    );
    env.boot().await;

    env.client
        .flip(env.key("dave"), "global", true, "drill")
        .await
        .unwrap();
    let taken = rx
        .wait_for("a delivery answered 200", |r| r.answered == Some(200))
        .await;
    // The flip back is delivered after it: the first event was not sent again once taken.
    env.client
        .flip(env.key("dave"), "global", false, "drill over")
        .await
        .unwrap();
    rx.wait_for("the flip back", |r| {
        r.json()["data"]["on"] == false && r.answered == Some(200)
    })
    .await;
    let first: Vec<Received> = rx
        .received()
        .into_iter()
        .filter(|r| r.id == taken.id)
        .collect();
    let answers: Vec<Option<u16>> = first.iter().map(|r| r.answered).collect();
    assert_eq!(answers, [Some(500), Some(500), Some(200)], "{first:#?}");
    for r in &first {
        assert_eq!(r.body, taken.body, "every attempt carries the same event");
        assert!(verifies(SECRET, r, &r.body), "every attempt is signed");
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_during_a_receiver_outage_arrive_after_a_restart() {
    // A port with nothing listening on it: the receiver is down.
    let addr = Receiver::start().await.stop().await;
    let url = format!("http://{addr}/hook");
    let mut env = Env::new(POLICY);
    configure(
        &mut env,
        &json_hook("ops", &url, "retry_backoff = \"50ms\""),
    );
    env.boot().await;

    let esc = env.refund_review(2000.0).await;
    env.client
        .flip(env.key("dave"), "tool:deploy.release", true, "freeze")
        .await
        .unwrap();
    env.restart().await;
    let rx = Receiver::start_on(addr).await;

    let created = rx.wait_for("created", of_type("escalation.created")).await;
    assert_eq!(created.json()["data"]["escalation"], json!(esc.id));
    let flipped = rx.wait_for("flip", of_type("killswitch.flipped")).await;
    assert_eq!(flipped.json()["data"]["scope"], "tool:deploy.release");
    // In the order they happened.
    let order: Vec<String> = rx.received().iter().map(|r| r.id.clone()).collect();
    let at = |id: &str| order.iter().position(|o| o == id).unwrap();
    assert!(at(&created.id) < at(&flipped.id), "{order:?}");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_never_answers_does_not_hold_up_enforcement_or_other_webhooks() {
    let stuck = Receiver::start().await;
    stuck.script(&[], Answer::Hang);
    let healthy = Receiver::start().await;
    let mut env = Env::new(POLICY);
    configure(
        &mut env,
        &format!(
            "{}{}",
            json_hook("stuck", &stuck.url("hook"), "timeout = \"5m\""),
            json_hook("healthy", &healthy.url("hook"), "")
        ),
    );
    env.boot().await;

    let first = env.refund_review(2000.0).await;
    stuck
        .wait_for("the first event, never answered", |r| r.answered.is_none())
        .await;
    // While the stuck receiver holds its delivery, every call is answered and every flip acked.
    let mut escalations = vec![first.id.clone()];
    for i in 0..20 {
        let session = format!("s{i}");
        let small = env
            .act(
                "refund-bot",
                "stripe.refund",
                json!({"amount": 10.0}),
                &session,
            )
            .await;
        assert_eq!(small.verdict, Verdict::Allow);
        let big = env
            .submit(
                "refund-bot",
                request(
                    "stripe.refund",
                    json!({"amount": 3000.0 + i as f64}),
                    &session,
                ),
            )
            .await;
        assert_eq!(big.verdict, Verdict::Pending);
        escalations.push(big.escalation.unwrap());
    }
    env.client
        .flip(env.key("dave"), "agent:deployer", true, "stop")
        .await
        .unwrap();
    // The other webhook got every one of them.
    for id in &escalations {
        healthy
            .wait_for("each escalation", |r| {
                r.json()["data"]["escalation"] == json!(id)
            })
            .await;
    }
    healthy
        .wait_for("the flip", of_type("killswitch.flipped"))
        .await;
    assert_eq!(
        stuck.received().len(),
        1,
        "one delivery at a time, in order"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_deadline_is_sent_once_even_across_a_restart() {
    let policy = format!(
        "{POLICY}\n[[rule]]\nid = \"slow-deploy\"\ntools = [\"deploy.slow\"]\neffect = \"review\"\n\
         reason = \"Slow deploys need ops\"\napprovers = \"ops\"\ntimeout = \"6s\"\n"
    );
    let rx = Receiver::start().await;
    let mut env = Env::new(&policy);
    configure(
        &mut env,
        &json_hook(
            "ops",
            &rx.url("hook"),
            "near_deadline = \"4s\"\nevents = [\"escalation.near_deadline\", \"escalation.resolved\"]",
        ),
    );
    env.boot().await;

    let out = env.act("deployer", "deploy.slow", json!({}), "s").await;
    let esc = out.escalation.unwrap();
    let near = rx
        .wait_for("near deadline", of_type("escalation.near_deadline"))
        .await;
    let data = near.json()["data"].clone();
    assert_eq!(data["escalation"], json!(esc));
    assert_eq!(data["rule"], "slow-deploy");
    assert!(data["deadline"].is_string(), "{data}");
    assert!(verifies(SECRET, &near, &near.body));
    // Remembered: a restart before the deadline does not warn again.
    env.restart().await;
    let expired = rx.wait_for("expiry", of_type("escalation.resolved")).await;
    assert_eq!(expired.json()["data"]["resolution"], "expired");
    let warnings: Vec<Received> = rx
        .received()
        .into_iter()
        .filter(of_type("escalation.near_deadline"))
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breaker_trip_is_paged_as_breaker_tripped() {
    let rx = Receiver::start().await;
    let policy = format!(
        "{POLICY}\n[[breaker]]\nid = \"shells\"\nagents = [\"deployer\"]\nwindow = \"10m\"\n\
         max_denied_share = 0.5\nmin_calls = 2\ncooldown = \"1h\"\n"
    );
    let mut env = Env::new(&policy);
    configure(
        &mut env,
        &json_hook("ops", &rx.url("hook"), "events = [\"breaker.tripped\"]"),
    );
    env.boot().await;
    for _ in 0..2 {
        let out = env.act("deployer", "shell.exec", json!({}), "s").await;
        assert_eq!(out.verdict, Verdict::Deny);
    }
    let tripped = rx.wait_for("the trip", of_type("breaker.tripped")).await;
    let data = &tripped.json()["data"];
    assert_eq!(
        (&data["breaker"], &data["agent"]),
        (&json!("shells"), &json!("deployer"))
    );
    assert_eq!(
        data["reason"],
        "2 of 2 calls denied within 10m (max share 0.5)"
    );
    assert!(verifies(SECRET, &tripped, &tripped.body));
    env.stop().await;
}
