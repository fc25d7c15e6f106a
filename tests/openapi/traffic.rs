//! Real traffic fits the document: what agents and people send, and everything the server
//! answers (verdicts, escalations, decisions, kill switches, flagged actions, the audit log,
//! errors), checked against the schemas of the operation and status that carried it.

use gavel::protocol::now_rfc3339;
use gavel::protocol::signing::Purpose;
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{Env, POLICY};
use crate::spec::{accepted, call, signed, Auth, Spec};

#[tokio::test]
async fn what_agents_send_and_are_answered_fits_the_document() {
    let env = Env::start(POLICY).await;
    let spec = Spec::fetch(&env).await;
    let submit = |body: Value| {
        let (env, spec) = (&env, &spec);
        async move {
            let agent = if body["tool"] == "email.send" {
                "mailer"
            } else {
                "refund-bot"
            };
            let path = "/v1/actions";
            accepted(
                env,
                spec,
                Method::POST,
                path,
                Auth::Agent(agent),
                Some(&body),
            )
            .await
        }
    };
    let allowed =
        submit(json!({"tool": "stripe.refund", "args": {"amount": 50.0}, "session": "s"})).await;
    assert_eq!(allowed["verdict"], "allow");
    let flagged =
        submit(json!({"tool": "stripe.refund", "args": {"amount": 500.0}, "session": "s"})).await;
    assert_eq!(flagged["flagged"], true);
    let denied = submit(json!({"tool": "shell.exec", "args": {"cmd": "ls"}, "session": "s"})).await;
    assert_eq!(denied["verdict"], "deny");
    let full = json!({"tool": "email.send", "args": {"to": "a@example.com"}, "session": "s-42",
            "on_behalf_of": "bob", "rationale": "the customer asked", "cost": 0.02,
        "parent": "ticket-981", "context": {"env": "production"}});
    let pending = submit(full).await;
    assert_eq!(pending["verdict"], "pending");
    assert!(pending["deadline"].is_string());

    let id = pending["id"].as_str().unwrap();
    let polled = accepted(
        &env,
        &spec,
        Method::GET,
        &format!("/v1/actions/{id}?wait=0"),
        Auth::Agent("mailer"),
        None,
    )
    .await;
    assert_eq!(polled["verdict"], "pending");
    let withdrawn = accepted(
        &env,
        &spec,
        Method::POST,
        &format!("/v1/actions/{id}/withdraw"),
        Auth::Agent("mailer"),
        None,
    )
    .await;
    assert_eq!(withdrawn["resolution"], "cancelled");

    for (method, path, auth, status, code) in [
        (Method::POST, "/v1/actions", Auth::None, 401, "unauthorized"),
        (
            Method::GET,
            "/v1/actions/act_nope",
            Auth::Agent("refund-bot"),
            404,
            "not_found",
        ),
        (
            Method::GET,
            format!("/v1/actions/{id}").as_str(),
            Auth::Agent("refund-bot"),
            404,
            "not_found",
        ),
        (
            Method::GET,
            format!("/v1/actions/{id}?wait=301").as_str(),
            Auth::Agent("mailer"),
            400,
            "invalid_request",
        ),
        (
            Method::GET,
            "/v1/escalations",
            Auth::Agent("refund-bot"),
            403,
            "agent_forbidden",
        ),
        (
            Method::GET,
            "/v1/stream",
            Auth::None,
            426,
            "websocket_required",
        ),
    ] {
        let body = json!({"tool": "x.get", "session": "s"});
        let answer = call(&env, &spec, method, path, auth, Some(&body)).await;
        assert_eq!((answer.status, answer.code()), (status, code), "{path}");
    }
    let on_behalf = json!({"tool": "stripe.refund", "session": "s", "on_behalf_of": "mallory"});
    let answer = call(
        &env,
        &spec,
        Method::POST,
        "/v1/actions",
        Auth::Agent("refund-bot"),
        Some(&on_behalf),
    )
    .await;
    assert_eq!(
        (answer.status, answer.code()),
        (403, "on_behalf_of_not_allowed")
    );
}

#[tokio::test]
async fn what_people_send_and_are_answered_fits_the_document() {
    let env = Env::start(POLICY).await;
    let spec = Spec::fetch(&env).await;
    let agent = Auth::Agent("refund-bot");
    let refund =
        |amount: f64| json!({"tool": "stripe.refund", "args": {"amount": amount}, "session": "s"});
    let big = accepted(
        &env,
        &spec,
        Method::POST,
        "/v1/actions",
        agent,
        Some(&refund(5000.0)),
    )
    .await;
    let esc_id = big["escalation"].as_str().unwrap().to_string();
    let flagged = accepted(
        &env,
        &spec,
        Method::POST,
        "/v1/actions",
        Auth::Agent("refund-bot"),
        Some(&refund(500.0)),
    )
    .await;

    let (alice, carol, erin, grace) = (
        env.key("alice"),
        env.key("carol"),
        env.key("erin"),
        env.key("grace"),
    );
    let list = accepted(
        &env,
        &spec,
        Method::GET,
        "/v1/escalations",
        Auth::Person(alice),
        None,
    )
    .await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let path = format!("/v1/escalations/{esc_id}");
    let esc = accepted(&env, &spec, Method::GET, &path, Auth::Person(carol), None).await;

    let decision = signed(
        carol,
        Purpose::Decision,
        json!({"escalation": esc_id, "digest": esc["digest"], "verdict": "approve",
            "reason": "verified", "approver": "carol", "issued_at": now_rfc3339()}),
    );
    let path = format!("/v1/escalations/{esc_id}/decisions");
    let ack = accepted(
        &env,
        &spec,
        Method::POST,
        &path,
        Auth::None,
        Some(&decision),
    )
    .await;
    assert_eq!(
        (ack["recorded"].clone(), ack["escalation"]["state"].clone()),
        (json!(true), json!("approved"))
    );
    let again = accepted(
        &env,
        &spec,
        Method::POST,
        &path,
        Auth::None,
        Some(&decision),
    )
    .await;
    assert_eq!(again["recorded"], false);
    let late = signed(
        alice,
        Purpose::Decision,
        json!({"escalation": esc_id, "digest": esc["digest"],
            "verdict": "deny", "reason": "no", "approver": "alice", "issued_at": now_rfc3339()}),
    );
    let answer = call(&env, &spec, Method::POST, &path, Auth::None, Some(&late)).await;
    assert_eq!((answer.status, answer.code()), (409, "not_pending"));
    let outcome_path = format!("/v1/actions/{}", big["id"].as_str().unwrap());
    let outcome = accepted(
        &env,
        &spec,
        Method::GET,
        &outcome_path,
        Auth::Agent("refund-bot"),
        None,
    )
    .await;
    assert_eq!(outcome["decisions"][0]["approver"], "carol");

    let flags = accepted(
        &env,
        &spec,
        Method::GET,
        "/v1/flagged",
        Auth::Person(erin),
        None,
    )
    .await;
    assert_eq!(flags.as_array().unwrap().len(), 1);
    let action = flagged["id"].as_str().unwrap();
    let review = signed(
        erin,
        Purpose::FlagReview,
        json!({"action": action, "review": "incident",
            "note": "wrong card", "reviewer": "erin", "issued_at": now_rfc3339()}),
    );
    let path = format!("/v1/flagged/{action}/review");
    let reviewed = accepted(&env, &spec, Method::POST, &path, Auth::None, Some(&review)).await;
    assert_eq!(reviewed["review"]["review"], "incident");

    let pending = accepted(
        &env,
        &spec,
        Method::POST,
        "/v1/actions",
        Auth::Agent("refund-bot"),
        Some(&refund(2000.0)),
    )
    .await;
    let flip = signed(
        alice,
        Purpose::KillSwitch,
        json!({"scope": "agent:refund-bot", "on": true,
            "reason": "runaway refunds", "operator": "alice", "issued_at": now_rfc3339()}),
    );
    let ack = accepted(
        &env,
        &spec,
        Method::POST,
        "/v1/killswitches",
        Auth::None,
        Some(&flip),
    )
    .await;
    assert_eq!(ack["cancelled"], json!([pending["escalation"]]));
    let answer = call(
        &env,
        &spec,
        Method::POST,
        "/v1/killswitches",
        Auth::None,
        Some(&flip),
    )
    .await;
    assert_eq!((answer.status, answer.code()), (409, "replayed"));
    let switches = accepted(
        &env,
        &spec,
        Method::GET,
        "/v1/killswitches",
        Auth::Person(carol),
        None,
    )
    .await;
    assert_eq!(switches[0]["on"], true);

    let audit = accepted(
        &env,
        &spec,
        Method::GET,
        "/v1/audit?limit=1000",
        Auth::Person(grace),
        None,
    )
    .await;
    assert!(audit.as_array().unwrap().len() > 5);
    accepted(
        &env,
        &spec,
        Method::GET,
        "/v1/audit/checkpoint",
        Auth::Person(grace),
        None,
    )
    .await;
    for (path, auth, status, code) in [
        ("/v1/audit", Auth::Person(carol), 403, "not_auditor"),
        (
            "/v1/escalations",
            Auth::Person(env.key("henry")),
            403,
            "role_required",
        ),
        (
            "/v1/escalations/esc_nope",
            Auth::Person(carol),
            404,
            "not_found",
        ),
        ("/v1/killswitches", Auth::None, 401, "unauthorized"),
    ] {
        let answer = call(&env, &spec, Method::GET, path, auth, None).await;
        assert_eq!((answer.status, answer.code()), (status, code), "{path}");
    }
    for path in ["/healthz", "/readyz", "/metrics"] {
        call(&env, &spec, Method::GET, path, Auth::None, None).await;
    }
}
