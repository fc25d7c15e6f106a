use gavel::protocol::{Effect, EscalationState, Resolution, Verdict};
use serde_json::json;

use crate::common::{request, Env, POLICY};

#[tokio::test]
async fn allow_deny_review_flag_and_deny_by_default() {
    let env = Env::start(POLICY).await;
    let allow = env
        .act("refund-bot", "stripe.refund", json!({"amount": 20.0}), "s1")
        .await;
    assert_eq!(
        (allow.verdict, allow.rule.as_deref()),
        (Verdict::Allow, Some("refund-small"))
    );
    assert!(!allow.flagged);

    let flag = env
        .act(
            "refund-bot",
            "stripe.refund",
            json!({"amount": 500.0}),
            "s1",
        )
        .await;
    assert_eq!(
        (flag.verdict, flag.rule.as_deref(), flag.flagged),
        (Verdict::Allow, Some("refund-medium"), true)
    );

    let deny = env
        .act("refund-bot", "shell.exec", json!({"cmd": "ls"}), "s1")
        .await;
    assert_eq!(
        (deny.verdict, deny.rule.as_deref()),
        (Verdict::Deny, Some("no-shell"))
    );
    assert_eq!(deny.reason, "Agents never get a shell");

    let none = env
        .act("refund-bot", "crm.delete_customer", json!({"id": 7}), "s1")
        .await;
    assert_eq!((none.verdict, none.rule), (Verdict::Deny, None));
    assert!(none.reason.contains("deny by default"), "{}", none.reason);

    let review = env
        .act(
            "refund-bot",
            "stripe.refund",
            json!({"amount": 5000.0}),
            "s1",
        )
        .await;
    assert_eq!(
        (review.verdict, review.rule.as_deref()),
        (Verdict::Pending, Some("refund-large"))
    );
    let esc_id = review.escalation.clone().expect("an escalation id");
    let deadline = review.deadline.expect("a deadline");
    let secs = (deadline - chrono::Utc::now()).num_seconds();
    assert!((590..=600).contains(&secs), "deadline {secs}s away");

    // The flagged action is in the flagged queue; the escalation carries what an approver needs.
    let flagged = env.client.flagged(env.key("erin")).await.unwrap();
    assert_eq!(flagged.len(), 1);
    assert_eq!(flagged[0].action.id, flag.id);
    assert_eq!(flagged[0].rule.id, "refund-medium");

    let esc = env.escalation(&esc_id).await;
    assert_eq!(esc.state, EscalationState::Pending);
    assert_eq!(esc.rule.id, "refund-large");
    assert_eq!(
        esc.rule.condition.as_deref(),
        Some("args.amount > 1000.0 && args.amount <= 10000.0")
    );
    assert_eq!(esc.rule.effect, Effect::Review);
    assert_eq!(esc.action.rationale.as_deref(), Some("test"));
    assert_eq!(esc.agent_owner.as_deref(), Some("alice"));
    assert_eq!((esc.group.as_str(), esc.approvals_required), ("finance", 1));
    assert!(esc.digest.starts_with("sha256:"));
    assert_eq!(esc.deadline, deadline);

    // Highest precedence wins even when an allow rule matches first.
    let policy = r#"
[[rule]]
id = "everything"
effect = "allow"
reason = "ok"
[[rule]]
id = "watch"
tools = ["x.*"]
effect = "flag"
reason = "watched"
[[rule]]
id = "stop"
tools = ["x.bad"]
effect = "deny"
reason = "bad"
"#;
    let env2 = Env::start(policy).await;
    assert_eq!(
        env2.act("mailer", "y.z", json!({}), "s")
            .await
            .rule
            .as_deref(),
        Some("everything")
    );
    assert_eq!(
        env2.act("mailer", "x.ok", json!({}), "s")
            .await
            .rule
            .as_deref(),
        Some("watch")
    );
    let bad = env2.act("mailer", "x.bad", json!({}), "s").await;
    assert_eq!(
        (bad.verdict, bad.rule.as_deref()),
        (Verdict::Deny, Some("stop"))
    );
}

#[tokio::test]
async fn escalation_shows_the_last_three_calls_of_its_session_in_order() {
    let env = Env::start(POLICY).await;
    let mut ids = Vec::new();
    for (i, tool) in ["orders.get", "customers.list", "shell.exec", "orders.list"]
        .iter()
        .enumerate()
    {
        ids.push(
            env.act("refund-bot", tool, json!({"n": i}), "session-A")
                .await,
        );
    }
    // Noise in another session and from another agent with the same session id.
    env.act("refund-bot", "orders.get", json!({"n": 99}), "session-B")
        .await;
    env.act("mailer", "orders.get", json!({"n": 98}), "session-A")
        .await;

    let review = env
        .act(
            "refund-bot",
            "stripe.refund",
            json!({"amount": 2500.0}),
            "session-A",
        )
        .await;
    let esc = env.escalation(review.escalation.as_deref().unwrap()).await;
    let got: Vec<(&str, &str, Effect, i64)> = esc
        .history
        .iter()
        .map(|h| {
            (
                h.action.as_str(),
                h.tool.as_str(),
                h.verdict,
                h.args["n"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (ids[1].id.as_str(), "customers.list", Effect::Allow, 1),
            (ids[2].id.as_str(), "shell.exec", Effect::Deny, 2),
            (ids[3].id.as_str(), "orders.list", Effect::Allow, 3),
        ]
    );
    assert!(esc.history.windows(2).all(|w| w[0].at <= w[1].at));

    // A session's first call has no history.
    let first = env
        .act(
            "refund-bot",
            "stripe.refund",
            json!({"amount": 2500.0}),
            "fresh",
        )
        .await;
    assert!(env
        .escalation(first.escalation.as_deref().unwrap())
        .await
        .history
        .is_empty());
}

#[tokio::test]
async fn long_poll_returns_final_outcome_with_signed_decisions() {
    let env = Env::start(POLICY).await;
    let review = env
        .act(
            "refund-bot",
            "stripe.refund",
            json!({"amount": 2000.0}),
            "s",
        )
        .await;
    let esc_id = review.escalation.clone().unwrap();
    let token = env.token("refund-bot").to_string();
    let client = env.client.clone();
    let id = review.id.clone();
    let waiter = tokio::spawn(async move {
        client
            .outcome(&token, &id, std::time::Duration::from_secs(20))
            .await
    });

    // A short poll sees it pending.
    let pending = env.poll("refund-bot", &review.id).await.unwrap();
    assert_eq!(pending.verdict, Verdict::Pending);

    let esc = env.escalation(&esc_id).await;
    let d = gavel::client::Client::sign_decision(
        env.key("bob"),
        &esc,
        gavel::protocol::Vote::Approve,
        "customer is right",
    );
    env.client.decide(&d).await.unwrap();
    let out = waiter.await.unwrap().unwrap();
    assert_eq!(out.verdict, Verdict::Allow);
    assert_eq!(out.resolution, Some(Resolution::Approved));
    assert_eq!(out.decisions, vec![d.clone()]);
    assert!(out.reason.contains("bob"), "{}", out.reason);
    // The adapter can verify the decision itself with bob's public key.
    env.key("bob")
        .public()
        .verify(
            gavel::protocol::signing::Purpose::Decision,
            &out.decisions[0].body,
            &out.decisions[0].signature,
        )
        .unwrap();

    // Final outcomes are stable.
    let again = env.poll("refund-bot", &review.id).await.unwrap();
    assert_eq!(again, out);
}

#[tokio::test]
async fn agents_read_only_their_own_actions() {
    let env = Env::start(POLICY).await;
    let mine = env.act("refund-bot", "orders.get", json!({}), "s").await;
    let err = env.poll("mailer", &mine.id).await.unwrap_err();
    assert_eq!(err.code(), "not_found");
    let ok = env.poll("refund-bot", &mine.id).await.unwrap();
    assert_eq!(ok.verdict, Verdict::Allow);
}

#[tokio::test]
async fn identity_comes_from_the_token_not_the_body() {
    let env = Env::start(POLICY).await;
    let mut req = request("stripe.refund", json!({"amount": 5000.0}), "s");
    req.on_behalf_of = Some("carol".into());
    let out = env.submit("assistant", req).await;
    let esc = env.escalation(out.escalation.as_deref().unwrap()).await;
    assert_eq!(esc.action.agent, "assistant");
    assert_eq!(esc.agent_owner.as_deref(), Some("bob"));
    assert_eq!(esc.action.on_behalf_of.as_deref(), Some("carol"));
}

#[tokio::test]
async fn an_agent_withdraws_its_own_pending_call_and_nothing_else() {
    let env = Env::start(POLICY).await;
    let out = env
        .act(
            "refund-bot",
            "stripe.refund",
            json!({"amount": 5000.0}),
            "s",
        )
        .await;
    let esc_id = out.escalation.clone().unwrap();
    // Another agent cannot, and cannot even tell it exists.
    let err = env
        .client
        .withdraw(env.token("mailer"), &out.id)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_found");
    assert_eq!(
        env.escalation(&esc_id).await.state,
        EscalationState::Pending
    );

    let (mut ws, _, _) = crate::common::stream_as(&env.url(), env.key("carol")).await;
    let fin = env
        .client
        .withdraw(env.token("refund-bot"), &out.id)
        .await
        .unwrap();
    assert_eq!(
        (fin.verdict, fin.resolution),
        (Verdict::Deny, Some(Resolution::Cancelled))
    );
    assert!(fin.reason.contains("withdrawn"), "{}", fin.reason);
    let ev = crate::common::wait_for(&mut ws, |m| {
        matches!(m, gavel::protocol::ServerMessage::EscalationResolved { .. })
    })
    .await;
    let gavel::protocol::ServerMessage::EscalationResolved { escalation } = ev else {
        unreachable!()
    };
    assert_eq!(
        (escalation.id.as_str(), escalation.state),
        (esc_id.as_str(), EscalationState::Cancelled)
    );
    // Idempotent, and final outcomes are not changed by it.
    assert_eq!(
        env.client
            .withdraw(env.token("refund-bot"), &out.id)
            .await
            .unwrap(),
        fin
    );
    let allowed = env.act("refund-bot", "orders.get", json!({}), "s").await;
    let same = env
        .client
        .withdraw(env.token("refund-bot"), &allowed.id)
        .await
        .unwrap();
    assert_eq!(same.verdict, Verdict::Allow);
    let audit = env
        .client
        .audit(env.key("erin"), "kind=withdrawn")
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].actor, "refund-bot");
}
