use gavel::protocol::signing::Purpose;
use gavel::protocol::{
    now_rfc3339, EscalationState, KillSwitchBody, Resolution, SignedKillSwitch, Verdict,
};
use serde_json::json;

use crate::common::{Env, POLICY};

#[tokio::test]
async fn each_scope_denies_matching_actions_and_cancels_pending_escalations() {
    let mut env = Env::start(POLICY).await;
    // (scope, agent+tool that it covers, agent+tool it does not)
    let cases = [
        (
            "agent:refund-bot",
            ("refund-bot", "stripe.refund"),
            Some(("mailer", "email.send")),
        ),
        (
            "tool:email.send",
            ("mailer", "email.send"),
            Some(("refund-bot", "stripe.refund")),
        ),
        ("global", ("refund-bot", "stripe.refund"), None),
    ];
    for (scope, (agent, tool), spared) in cases {
        let args = json!({"amount": 5000.0, "to": "x@y.z"});
        let pending = env.act(agent, tool, args.clone(), "s").await;
        assert_eq!(pending.verdict, Verdict::Pending, "{scope}");
        let spared_pending = match spared {
            Some((a, t)) => Some(env.act(a, t, args.clone(), "s").await),
            None => None,
        };

        let ack = env
            .client
            .flip(env.key("alice"), scope, true, "runaway agent")
            .await
            .unwrap();
        assert!(ack.killswitch.on);
        // The flip says what it cancelled: exactly the covered escalation, not the spared one.
        assert_eq!(
            ack.cancelled,
            [pending.escalation.clone().unwrap()],
            "{scope}"
        );
        let cancelled = env.poll(agent, &pending.id).await.unwrap();
        assert_eq!(
            (cancelled.verdict, cancelled.resolution),
            (Verdict::Deny, Some(Resolution::Cancelled)),
            "{scope}"
        );
        assert!(
            cancelled.reason.contains("kill switch"),
            "{}",
            cancelled.reason
        );
        let esc = env.escalation(pending.escalation.as_deref().unwrap()).await;
        assert_eq!(esc.state, EscalationState::Cancelled);

        let next = env.act(agent, "orders.get", json!({}), "s").await;
        let denied_tool = env
            .act(agent, tool, json!({"amount": 1.0, "to": "a@b.c"}), "s")
            .await;
        assert_eq!(denied_tool.verdict, Verdict::Deny, "{scope}");
        assert!(
            denied_tool.reason.contains("kill switch")
                && denied_tool.reason.contains("runaway agent")
        );
        match scope {
            "tool:email.send" => assert_eq!(next.verdict, Verdict::Allow, "other tools still run"),
            _ => assert_eq!(
                next.verdict,
                Verdict::Deny,
                "{scope} stops everything of the agent"
            ),
        }
        if let (Some((a, _)), Some(sp)) = (spared, spared_pending) {
            let still = env.escalation(sp.escalation.as_deref().unwrap()).await;
            assert_eq!(still.state, EscalationState::Pending, "{scope} spares {a}");
        }

        // The state survives a restart.
        env.restart().await;
        let listed = env.client.killswitches(env.key("dave")).await.unwrap();
        assert!(
            listed.iter().any(|k| k.scope == scope && k.on),
            "{scope} after restart"
        );
        assert_eq!(
            env.act(agent, tool, json!({"amount": 1.0, "to": "a@b.c"}), "s")
                .await
                .verdict,
            Verdict::Deny
        );

        env.client
            .flip(env.key("dave"), scope, false, "fixed")
            .await
            .unwrap();
        let after = env.act(agent, "orders.get", json!({}), "s").await;
        assert_eq!(after.verdict, Verdict::Allow, "{scope} off");
        // Clean the spared escalations so the next case starts empty.
        for e in env.client.escalations(env.key("alice")).await.unwrap() {
            env.client
                .flip(
                    env.key("alice"),
                    &format!("agent:{}", e.action.agent),
                    true,
                    "cleanup",
                )
                .await
                .unwrap();
            env.client
                .flip(
                    env.key("alice"),
                    &format!("agent:{}", e.action.agent),
                    false,
                    "cleanup",
                )
                .await
                .unwrap();
        }
    }
}

#[tokio::test]
async fn only_operators_flip_and_a_flip_cannot_be_replayed() {
    let env = Env::start(POLICY).await;
    let err = env
        .client
        .flip(env.key("carol"), "global", true, "x")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_operator");
    let err = env
        .client
        .flip(env.key("alice"), "everything", true, "x")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "bad_scope");
    let err = env
        .client
        .flip(env.key("alice"), "global", true, " ")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "reason_required");

    // Capture a signed "on", turn it off, replay the "on": refused, the switch stays off.
    let body = KillSwitchBody {
        scope: "agent:mailer".into(),
        on: true,
        reason: "spam".into(),
        operator: "alice".into(),
        issued_at: now_rfc3339(),
    };
    let signature = env.key("alice").sign(Purpose::KillSwitch, &body);
    let signed = SignedKillSwitch { body, signature };
    let post = |s: &SignedKillSwitch| {
        let s = s.clone();
        let client = env.client.clone();
        async move {
            client
                .raw(reqwest::Method::POST, "/v1/killswitches", None, Some(&s))
                .await
                .unwrap()
        }
    };
    assert_eq!(post(&signed).await.0.as_u16(), 200);
    env.client
        .flip(env.key("alice"), "agent:mailer", false, "false alarm")
        .await
        .unwrap();
    let (status, body) = post(&signed).await;
    assert_eq!(
        (status.as_u16(), body["error"]["code"].as_str()),
        (409, Some("replayed"))
    );
    assert_eq!(
        env.act("mailer", "orders.get", json!({}), "s")
            .await
            .verdict,
        Verdict::Allow
    );

    // Forged flip.
    let mut forged = signed.clone();
    forged.body.scope = "global".into();
    let (status, body) = post(&forged).await;
    assert_eq!(
        (status.as_u16(), body["error"]["code"].as_str()),
        (401, Some("bad_signature"))
    );
}

#[tokio::test]
async fn a_scope_that_would_stop_nothing_is_refused() {
    let mut env = Env::start(POLICY).await;
    let pending = env
        .act(
            "refund-bot",
            "stripe.refund",
            json!({"amount": 5000.0}),
            "s",
        )
        .await;
    async fn refused(env: &Env, scope: String) -> gavel::client::ClientError {
        env.client
            .flip(env.key("alice"), &scope, true, "typo")
            .await
            .unwrap_err()
    }
    // Typos and case variants of a roster agent: 400 unknown_agent_scope, naming the agents.
    for scope in ["agent:nosuch", "agent:Refund-bot", "agent:refund-bot "] {
        let err = refused(&env, scope.to_string()).await;
        assert_eq!(err.code(), "unknown_agent_scope", "{scope}");
        assert!(err.to_string().contains("refund-bot"), "{err}");
    }
    // Tool scopes are free-form (a tool need not have been seen) but bounded.
    let err = refused(&env, format!("tool:{}", "x".repeat(257))).await;
    assert_eq!(err.code(), "bad_scope");
    let free = env
        .client
        .flip(
            env.key("alice"),
            "tool:crm.not_seen_yet",
            true,
            "pre-emptive",
        )
        .await
        .unwrap();
    assert!(free.killswitch.on && free.cancelled.is_empty());
    // Nothing was switched on by the refused flips, and nothing was cancelled.
    let listed = env.client.killswitches(env.key("dave")).await.unwrap();
    let scopes: Vec<&str> = listed.iter().map(|k| k.scope.as_str()).collect();
    assert_eq!(scopes, ["tool:crm.not_seen_yet"]);
    let esc = env.escalation(pending.escalation.as_deref().unwrap()).await;
    assert_eq!(esc.state, EscalationState::Pending);

    // A switch on for an agent that later left the roster can still be turned off (and only off).
    env.client
        .flip(env.key("alice"), "agent:deployer", true, "retiring it")
        .await
        .unwrap();
    let roster = std::fs::read_to_string(&env.roster).unwrap();
    let start = roster.find("[[agent]]\nid = \"deployer\"").unwrap();
    let end = start + roster[start..].find("\n\n").unwrap();
    std::fs::write(
        &env.roster,
        format!("{}{}", &roster[..start], &roster[end..]),
    )
    .unwrap();
    env.restart().await;
    let err = refused(&env, "agent:deployer".into()).await;
    assert_eq!(err.code(), "unknown_agent_scope");
    let off = env
        .client
        .flip(env.key("alice"), "agent:deployer", false, "gone")
        .await
        .unwrap();
    assert!(!off.killswitch.on);
    let err = env
        .client
        .flip(env.key("alice"), "agent:deployer", false, "again")
        .await
        .map(|_| ());
    assert!(
        err.is_ok(),
        "an existing switch may be turned off again: {err:?}"
    );
}

#[tokio::test]
async fn the_flip_answer_lists_every_escalation_it_cancelled() {
    let env = Env::start(POLICY).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let out = env
            .act(
                "refund-bot",
                "stripe.refund",
                json!({"amount": 5000.0 + i as f64}),
                "s",
            )
            .await;
        ids.push(out.escalation.unwrap());
    }
    let other = env
        .act("mailer", "email.send", json!({"to": "a@b.c"}), "s")
        .await;
    let ack = env
        .client
        .flip(env.key("alice"), "agent:refund-bot", true, "runaway")
        .await
        .unwrap();
    let mut cancelled = ack.cancelled.clone();
    cancelled.sort();
    ids.sort();
    assert_eq!(cancelled, ids);
    for id in &ids {
        assert_eq!(env.escalation(id).await.state, EscalationState::Cancelled);
    }
    // On the wire the answer is the switch itself plus `cancelled`, so a client that reads a bare
    // KillSwitch keeps working.
    let body = KillSwitchBody {
        scope: "agent:mailer".into(),
        on: true,
        reason: "spam".into(),
        operator: "alice".into(),
        issued_at: now_rfc3339(),
    };
    let signature = env.key("alice").sign(Purpose::KillSwitch, &body);
    let (status, raw) = env
        .client
        .raw(
            reqwest::Method::POST,
            "/v1/killswitches",
            None,
            Some(&SignedKillSwitch { body, signature }),
        )
        .await
        .unwrap();
    assert_eq!(status.as_u16(), 200, "{raw}");
    assert_eq!(raw["cancelled"], json!([other.escalation.clone().unwrap()]));
    let bare: gavel::protocol::KillSwitch = serde_json::from_value(raw.clone()).unwrap();
    assert!(bare.on && bare.scope == "agent:mailer", "{raw}");
    // Turning a switch on again cancels nothing more.
    let again = env
        .client
        .flip(env.key("alice"), "agent:refund-bot", true, "still")
        .await
        .unwrap();
    assert!(again.cancelled.is_empty());
}
