use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use gavel::client::Client;
use gavel::protocol::{
    ClientMessage, EscalationState, PersonKey, ServerMessage, Snapshot, Vote,
    MAX_STREAM_MESSAGE_BYTES,
};
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

/// A stream authenticated as `key`, before the welcome: messages are read raw, as text.
async fn open_raw(url: &str, key: &PersonKey) -> crate::common::Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(Client::new(url).stream_url())
        .await
        .unwrap();
    let ServerMessage::Challenge { nonce } = next_msg(&mut ws).await else {
        panic!("challenge")
    };
    let signature = key.sign(
        gavel::protocol::signing::Purpose::StreamAuth,
        &gavel::protocol::StreamAuth {
            nonce,
            person: key.id.clone(),
        },
    );
    let auth = ClientMessage::Auth {
        person: key.id.clone(),
        signature,
    };
    ws.send(Message::Text(serde_json::to_string(&auth).unwrap().into()))
        .await
        .unwrap();
    ws
}

/// The next text message, raw, checked against the stream's bound.
async fn next_bounded(ws: &mut crate::common::Ws) -> (usize, ServerMessage) {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(60), ws.next())
            .await
            .expect("a stream message in time")
            .expect("stream open")
            .expect("stream message");
        if let Message::Text(t) = msg {
            assert!(
                t.len() <= MAX_STREAM_MESSAGE_BYTES,
                "a stream message of {} bytes, over the bound of {MAX_STREAM_MESSAGE_BYTES}",
                t.len()
            );
            return (t.len(), serde_json::from_str(&t).expect("a ServerMessage"));
        }
    }
}

async fn big_refund(env: &crate::common::Env, amount: f64, blob: &str) -> String {
    let out = env
        .act(
            "refund-bot",
            "stripe.refund",
            json!({"amount": amount, "blob": blob}),
            "s-big",
        )
        .await;
    out.escalation.unwrap_or(out.id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_stream_message_exceeds_the_bound_whatever_agents_send() {
    let env = Env::start(POLICY).await;
    let huge = "x".repeat(250_000);
    let medium = "m".repeat(7_000); // under the inline limit: carried, so the snapshot is split
    let mut resolved = Vec::new();
    for i in 0..10 {
        let esc = big_refund(&env, 1500.0 + i as f64, &huge).await;
        let e = env.escalation(&esc).await;
        env.client
            .decide(&Client::sign_decision(
                env.key("carol"),
                &e,
                Vote::Deny,
                "no",
            ))
            .await
            .unwrap();
        resolved.push(esc);
    }
    for i in 0..10 {
        big_refund(&env, 2500.0 + i as f64, &huge).await;
    }
    for _ in 0..3 {
        big_refund(&env, 500.0, &huge).await; // flagged
    }
    for i in 0..100 {
        big_refund(&env, 3000.0 + i as f64, &medium).await;
    }

    let mut ws = open_raw(&env.url(), env.key("carol")).await;
    assert!(matches!(
        next_bounded(&mut ws).await.1,
        ServerMessage::Welcome { .. }
    ));
    let mut whole: Option<Snapshot> = None;
    let mut sizes = Vec::new();
    loop {
        let (size, msg) = next_bounded(&mut ws).await;
        let ServerMessage::Snapshot(part) = msg else {
            panic!("expected a snapshot part, got {msg:?}")
        };
        sizes.push(size);
        let (n, of) = (part.part, part.parts);
        assert_eq!(n as usize, sizes.len(), "parts in order");
        match whole.as_mut() {
            None => whole = Some(*part),
            Some(w) => w.extend(*part),
        }
        if n == of {
            break;
        }
    }
    let snap = whole.unwrap();
    assert!(sizes.len() >= 2, "a large queue is split: {sizes:?}");
    assert_eq!(snap.escalations.len(), 110);
    let huge_pending: Vec<_> = snap
        .escalations
        .iter()
        .filter(|e| e.action.args.get("blob").is_none())
        .collect();
    assert_eq!(huge_pending.len(), 10);
    for e in &huge_pending {
        let x = e
            .args_elided()
            .expect("the large arguments are listed as left out");
        assert!(x.bytes > 250_000, "{x:?}");
        assert!(e.action.args.as_str().unwrap().starts_with("<elided: "));
    }
    // The earlier calls of the session, as large, are left out too.
    assert!(snap
        .escalations
        .iter()
        .any(|e| e.elided.iter().any(|x| x.field.starts_with("history."))));
    assert_eq!(snap.history.len(), 10);
    assert!(snap.history.iter().all(|e| e.args_elided().is_some()));
    assert!(resolved
        .iter()
        .all(|id| snap.history.iter().any(|e| &e.id == id)));
    assert_eq!(snap.flagged.len(), 3);
    assert!(snap.flagged.iter().all(|f| !f.elided.is_empty()));
    assert_eq!(snap.agents.len(), crate::common::AGENTS.len());

    // Live events are bounded the same way, and the whole escalation is one signed read away.
    let esc = big_refund(&env, 4000.0, &huge).await;
    let created = loop {
        if let (_, ServerMessage::EscalationCreated { escalation }) = next_bounded(&mut ws).await {
            break escalation;
        }
    };
    assert_eq!(created.id, esc);
    assert!(created.args_elided().is_some());
    let full = env.escalation(&esc).await;
    assert!(full.elided.is_empty());
    assert_eq!(full.action.args["blob"].as_str().unwrap().len(), 250_000);
    assert_eq!(
        full.digest, created.digest,
        "what is signed is the whole action"
    );
    env.client
        .decide(&Client::sign_decision(
            env.key("carol"),
            &full,
            Vote::Approve,
            "",
        ))
        .await
        .unwrap();
    loop {
        if let (_, ServerMessage::EscalationResolved { escalation }) = next_bounded(&mut ws).await {
            if escalation.id == esc {
                assert_eq!(escalation.state, EscalationState::Approved);
                assert!(escalation.args_elided().is_some());
                break;
            }
        }
    }
}

#[tokio::test]
async fn a_person_with_no_role_is_closed_with_4003() {
    let mut env = crate::common::Env::new(POLICY);
    let zoe = PersonKey::generate("zoe");
    let mut roster = std::fs::read_to_string(&env.roster).unwrap();
    roster += &format!(
        "[[person]]\nid = \"zoe\"\nname = \"Zoe\"\nkey = \"{}\"\nroles = []\ngroups = [\"finance\"]\n",
        zoe.public()
    );
    std::fs::write(&env.roster, roster).unwrap();
    env.boot().await;
    env.act(
        "refund-bot",
        "stripe.refund",
        json!({"amount": 2000.0}),
        "s",
    )
    .await;
    let ws = open_raw(&env.url(), &zoe).await;
    let (code, reason) = closed_with_reason(ws).await;
    assert_eq!(code, 4003, "{reason}");
    assert!(reason.contains("no role"), "{reason}");
    // Any role will do.
    let (_, welcome, _) = stream_as(&env.url(), env.key("erin")).await; // lead only
    assert!(matches!(welcome, ServerMessage::Welcome { .. }));
}
