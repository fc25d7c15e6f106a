use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use gavel::client::Client;
use gavel::protocol::{ClientMessage, EscalationState, PersonKey, ServerMessage, Vote};
use serde_json::json;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

use crate::common::{next_msg, stream_as, wait_for, Env, POLICY};

#[tokio::test]
async fn consoles_get_welcome_snapshot_and_live_events() {
    let env = Env::start(POLICY).await;
    let before = env
        .act(
            "refund-bot",
            "stripe.refund",
            json!({"amount": 2000.0}),
            "s",
        )
        .await;
    env.act("refund-bot", "stripe.refund", json!({"amount": 200.0}), "s")
        .await; // flagged
    env.client
        .flip(
            env.key("alice"),
            "tool:crm.delete",
            true,
            "audit in progress",
        )
        .await
        .unwrap();

    let (mut a, welcome, snapshot) = stream_as(&env.url(), env.key("carol")).await;
    let (mut b, _, _) = stream_as(&env.url(), env.key("bob")).await;
    match welcome {
        ServerMessage::Welcome { person, server } => {
            assert_eq!(
                (person.id.as_str(), person.name.as_str()),
                ("carol", "CAROL")
            );
            assert_eq!(person.groups, vec!["finance".to_string()]);
            assert!(!server.policy_version.is_empty());
        }
        other => panic!("expected welcome, got {other:?}"),
    }
    match snapshot {
        ServerMessage::Snapshot(s) => {
            assert_eq!(s.escalations.len(), 1);
            assert_eq!(Some(s.escalations[0].id.clone()), before.escalation);
            assert_eq!(s.flagged.len(), 1);
            assert_eq!(s.killswitches.len(), 1);
            assert_eq!(s.agents.len(), 4);
            assert_eq!(s.activity.len(), 2);
        }
        other => panic!("expected snapshot, got {other:?}"),
    }

    // Live: a new escalation reaches both consoles; a vote updates; a resolution resolves.
    let out = env
        .act(
            "refund-bot",
            "stripe.refund",
            json!({"amount": 20000.0}),
            "s2",
        )
        .await;
    let esc_id = out.escalation.clone().unwrap();
    for ws in [&mut a, &mut b] {
        let got = wait_for(ws, |m| matches!(m, ServerMessage::EscalationCreated { .. })).await;
        let ServerMessage::EscalationCreated { escalation } = got else {
            unreachable!()
        };
        assert_eq!(escalation.id, esc_id);
        assert_eq!(escalation.approvals_required, 2);
    }
    let esc = env.escalation(&esc_id).await;
    env.client
        .decide(&Client::sign_decision(
            env.key("bob"),
            &esc,
            Vote::Approve,
            "",
        ))
        .await
        .unwrap();
    let upd = wait_for(&mut a, |m| {
        matches!(m, ServerMessage::EscalationUpdated { .. })
    })
    .await;
    let ServerMessage::EscalationUpdated { escalation } = upd else {
        unreachable!()
    };
    assert_eq!(escalation.approvals_received(), 1);
    env.client
        .decide(&Client::sign_decision(
            env.key("carol"),
            &esc,
            Vote::Approve,
            "",
        ))
        .await
        .unwrap();
    let res = wait_for(&mut b, |m| {
        matches!(m, ServerMessage::EscalationResolved { .. })
    })
    .await;
    let ServerMessage::EscalationResolved { escalation } = res else {
        unreachable!()
    };
    assert_eq!(
        (escalation.id.as_str(), escalation.state),
        (esc_id.as_str(), EscalationState::Approved)
    );

    env.client
        .flip(env.key("alice"), "global", true, "stop")
        .await
        .unwrap();
    let k = wait_for(&mut a, |m| {
        matches!(m, ServerMessage::KillSwitchChanged { .. })
    })
    .await;
    let ServerMessage::KillSwitchChanged { killswitch } = k else {
        unreachable!()
    };
    assert_eq!((killswitch.scope.as_str(), killswitch.on), ("global", true));
    // The global switch cancels the earlier pending escalation.
    let c = wait_for(&mut a, |m| {
        matches!(m, ServerMessage::EscalationResolved { .. })
    })
    .await;
    let ServerMessage::EscalationResolved { escalation } = c else {
        unreachable!()
    };
    assert_eq!(escalation.state, EscalationState::Cancelled);

    a.send(Message::Text(
        serde_json::to_string(&ClientMessage::Ping).unwrap().into(),
    ))
    .await
    .unwrap();
    wait_for(&mut a, |m| matches!(m, ServerMessage::Pong)).await;
}

async fn closed_with_reason(mut ws: crate::common::Ws) -> (u16, String) {
    loop {
        match tokio::time::timeout(Duration::from_secs(15), ws.next())
            .await
            .expect("closed in time")
        {
            Some(Ok(Message::Close(Some(frame)))) => {
                return (u16::from(frame.code), frame.reason.to_string())
            }
            Some(Ok(Message::Close(None))) | None => return (0, String::new()),
            Some(Ok(_)) => continue,
            Some(Err(_)) => return (0, String::new()),
        }
    }
}

#[tokio::test]
async fn unauthenticated_and_unknown_keys_are_closed_with_a_reason() {
    let env = Env::start(POLICY).await;
    let url = Client::new(&env.url()).stream_url();

    // A stranger's key under a roster name: bad signature.
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let ServerMessage::Challenge { nonce } = next_msg(&mut ws).await else {
        panic!("challenge")
    };
    let imposter = PersonKey::generate("carol");
    let sig = imposter.sign(
        gavel::protocol::signing::Purpose::StreamAuth,
        &gavel::protocol::StreamAuth {
            nonce,
            person: "carol".into(),
        },
    );
    let auth = ClientMessage::Auth {
        person: "carol".into(),
        signature: sig,
    };
    ws.send(Message::Text(serde_json::to_string(&auth).unwrap().into()))
        .await
        .unwrap();
    let (code, reason) = closed_with_reason(ws).await;
    assert_eq!(code, 4001);
    assert!(reason.contains("bad signature"), "{reason}");

    // Unknown person.
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let _ = next_msg(&mut ws).await;
    let auth = ClientMessage::Auth {
        person: "mallory".into(),
        signature: "x".into(),
    };
    ws.send(Message::Text(serde_json::to_string(&auth).unwrap().into()))
        .await
        .unwrap();
    let (code, reason) = closed_with_reason(ws).await;
    assert_eq!(code, 4001);
    assert!(reason.contains("unknown person"), "{reason}");

    // No auth at all, just a ping.
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let _ = next_msg(&mut ws).await;
    ws.send(Message::Text(
        serde_json::to_string(&ClientMessage::Ping).unwrap().into(),
    ))
    .await
    .unwrap();
    let (code, reason) = closed_with_reason(ws).await;
    assert_eq!(code, 4001);
    assert!(reason.contains("authenticate first"), "{reason}");

    // Replaying someone's auth answer to a different challenge fails too.
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let _ = next_msg(&mut ws).await;
    let stale = env.key("carol").sign(
        gavel::protocol::signing::Purpose::StreamAuth,
        &gavel::protocol::StreamAuth {
            nonce: "an-old-nonce".into(),
            person: "carol".into(),
        },
    );
    let auth = ClientMessage::Auth {
        person: "carol".into(),
        signature: stale,
    };
    ws.send(Message::Text(serde_json::to_string(&auth).unwrap().into()))
        .await
        .unwrap();
    assert_eq!(
        closed_with_reason(ws).await.0,
        u16::from(CloseCode::Library(4001))
    );
}

#[tokio::test]
async fn many_consoles_at_once() {
    let env = Env::start(POLICY).await;
    let mut consoles = Vec::new();
    for i in 0..20 {
        let who = ["alice", "bob", "carol", "dave", "erin"][i % 5];
        consoles.push(stream_as(&env.url(), env.key(who)).await.0);
    }
    let out = env
        .act("mailer", "email.send", json!({"to": "c@d.e"}), "s")
        .await;
    for ws in consoles.iter_mut() {
        let m = wait_for(ws, |m| matches!(m, ServerMessage::EscalationCreated { .. })).await;
        let ServerMessage::EscalationCreated { escalation } = m else {
            unreachable!()
        };
        assert_eq!(Some(escalation.id), out.escalation);
    }
}
