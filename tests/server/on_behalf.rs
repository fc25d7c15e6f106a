//! `on_behalf_of` is bound to the roster's `acts_for`, and the person an action is done for may
//! always stop it.

use gavel::client::Client;
use gavel::protocol::{EscalationState, Resolution, Verdict, Vote};
use serde_json::{json, Value};

use crate::common::{request, Env, POLICY};

/// Submits a refund that needs review as `agent`, with `on_behalf_of` as given (a JSON value or
/// absent), and returns the status and body as sent back.
async fn submit(env: &Env, agent: &str, on_behalf_of: Option<Value>) -> (u16, Value) {
    let mut body = json!({"tool": "stripe.refund", "args": {"amount": 2000.0}, "session": "s"});
    if let Some(v) = on_behalf_of {
        body["on_behalf_of"] = v;
    }
    let (status, resp) = env
        .client
        .raw(
            reqwest::Method::POST,
            "/v1/actions",
            Some(env.token(agent)),
            Some(&body),
        )
        .await
        .unwrap();
    (status.as_u16(), resp)
}

fn refused_code(resp: &Value) -> (&str, &str) {
    (
        resp["error"]["code"].as_str().unwrap_or(""),
        resp["error"]["message"].as_str().unwrap_or(""),
    )
}

#[tokio::test]
async fn spelling_variants_and_strangers_are_refused() {
    let env = Env::start(POLICY).await;
    // mailer acts for bob only.
    for claimed in [
        "Bob",
        "bob ",
        " bob",
        "BOB",
        "bob\u{200b}",
        "b\u{043e}b", // Cyrillic o
        "bob\u{0}",
        "",
        "carol",
        "nobody",
    ] {
        let (status, resp) = submit(&env, "mailer", Some(json!(claimed))).await;
        let (code, message) = refused_code(&resp);
        assert_eq!(
            (status, code),
            (403, "on_behalf_of_not_allowed"),
            "{claimed:?}: {resp}"
        );
        assert!(message.contains("may act for bob"), "{message}");
    }
    // An agent without acts_for may name nobody at all.
    let (status, resp) = submit(&env, "refund-bot", Some(json!("alice"))).await;
    let (code, message) = refused_code(&resp);
    assert_eq!((status, code), (403, "on_behalf_of_not_allowed"), "{resp}");
    assert!(message.contains("nobody"), "{message}");
    // Not a string at all.
    let (status, _) = submit(&env, "mailer", Some(json!(["bob"]))).await;
    assert_eq!(status, 400);
    // Nothing refused reached the queue.
    assert!(env
        .client
        .escalations(env.key("alice"))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_missing_value_means_the_only_person_or_must_be_given() {
    let env = Env::start(POLICY).await;
    // Several people: the agent must say which.
    let (status, resp) = submit(&env, "assistant", None).await;
    let (code, message) = refused_code(&resp);
    assert_eq!((status, code), (400, "on_behalf_of_required"), "{resp}");
    assert!(
        message.contains("carol") && message.contains("erin"),
        "{message}"
    );
    let (status, resp) = submit(&env, "assistant", Some(json!("erin"))).await;
    assert_eq!(status, 200, "{resp}");
    let esc = env.escalation(resp["escalation"].as_str().unwrap()).await;
    assert_eq!(esc.action.on_behalf_of.as_deref(), Some("erin"));

    // No acts_for and no value: on behalf of nobody.
    let (status, resp) = submit(&env, "refund-bot", None).await;
    assert_eq!(status, 200, "{resp}");
    let esc = env.escalation(resp["escalation"].as_str().unwrap()).await;
    assert_eq!(esc.action.on_behalf_of, None);
}

#[tokio::test]
async fn bob_cannot_approve_his_own_agents_call_however_it_is_named() {
    let env = Env::start(POLICY).await;
    // mailer acts for bob only: saying nothing means bob, saying "bob" means bob; either way the
    // escalation (finance, where bob approves) is on his behalf and he may not approve it.
    for claimed in [None, Some(json!("bob"))] {
        let (status, resp) = submit(&env, "mailer", claimed.clone()).await;
        assert_eq!(status, 200, "{resp}");
        let esc = env.escalation(resp["escalation"].as_str().unwrap()).await;
        assert_eq!(
            esc.action.on_behalf_of.as_deref(),
            Some("bob"),
            "{claimed:?}"
        );
        let own = Client::sign_decision(env.key("bob"), &esc, Vote::Approve, "");
        let err = env.client.decide(&own).await.unwrap_err();
        assert_eq!(err.code(), "self_approval", "{claimed:?}");
        // Someone else may.
        let ok = Client::sign_decision(env.key("carol"), &esc, Vote::Approve, "");
        let ack = env.client.decide(&ok).await.unwrap();
        assert_eq!(ack.escalation.state, EscalationState::Approved);
    }
}

#[tokio::test]
async fn the_person_it_is_done_for_may_always_deny() {
    let env = Env::start(POLICY).await;
    let mut for_erin = request("stripe.refund", json!({"amount": 2000.0}), "s");
    for_erin.on_behalf_of = Some("erin".into());

    // erin is a lead with no approver role and no group: she may not approve, but may deny.
    let out = env.submit("assistant", for_erin.clone()).await;
    let esc = env.escalation(out.escalation.as_deref().unwrap()).await;
    let approve = Client::sign_decision(env.key("erin"), &esc, Vote::Approve, "");
    assert_eq!(
        env.client.decide(&approve).await.unwrap_err().code(),
        "not_approver"
    );
    let deny = Client::sign_decision(env.key("erin"), &esc, Vote::Deny, "I never asked for this");
    let ack = env.client.decide(&deny).await.unwrap();
    assert_eq!(ack.escalation.state, EscalationState::Denied);
    let seen = env.poll("assistant", &out.id).await.unwrap();
    assert_eq!(
        (seen.verdict, seen.resolution),
        (Verdict::Deny, Some(Resolution::Denied))
    );
    assert!(
        seen.reason.contains("I never asked for this"),
        "{}",
        seen.reason
    );

    // carol is an approver of the group: self-approval is refused, her deny stands.
    let mut for_carol = for_erin.clone();
    for_carol.on_behalf_of = Some("carol".into());
    let out = env.submit("assistant", for_carol).await;
    let esc = env.escalation(out.escalation.as_deref().unwrap()).await;
    let approve = Client::sign_decision(env.key("carol"), &esc, Vote::Approve, "");
    assert_eq!(
        env.client.decide(&approve).await.unwrap_err().code(),
        "self_approval"
    );
    let deny = Client::sign_decision(env.key("carol"), &esc, Vote::Deny, "not mine to spend");
    assert_eq!(
        env.client.decide(&deny).await.unwrap().escalation.state,
        EscalationState::Denied
    );

    // The owner (bob owns assistant) under separate_owner: may not approve, may deny.
    let mut huge = for_erin.clone();
    huge.args = json!({"amount": 50000.0});
    let out = env.submit("assistant", huge).await;
    let esc = env.escalation(out.escalation.as_deref().unwrap()).await;
    assert!(esc.separate_owner);
    let approve = Client::sign_decision(env.key("bob"), &esc, Vote::Approve, "");
    assert_eq!(
        env.client.decide(&approve).await.unwrap_err().code(),
        "owner_approval"
    );
    let deny = Client::sign_decision(env.key("bob"), &esc, Vote::Deny, "my agent misfired");
    assert_eq!(
        env.client.decide(&deny).await.unwrap().escalation.state,
        EscalationState::Denied
    );

    // Anyone else still needs the role and the group to deny.
    let out = env.submit("assistant", for_erin).await;
    let esc = env.escalation(out.escalation.as_deref().unwrap()).await;
    let outsider = Client::sign_decision(env.key("dave"), &esc, Vote::Deny, "not my group");
    assert_eq!(
        env.client.decide(&outsider).await.unwrap_err().code(),
        "outside_group"
    );
    let no_role = Client::sign_decision(env.key("henry"), &esc, Vote::Deny, "no role");
    assert_eq!(
        env.client.decide(&no_role).await.unwrap_err().code(),
        "not_approver"
    );
    assert_eq!(
        env.escalation(&esc.id).await.state,
        EscalationState::Pending
    );
}
