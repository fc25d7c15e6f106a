//! The change feed: the records the other replicas commit, in chain order, each call with what
//! decided it as its row says; a record that cannot be read is passed over, not the feed.

use std::time::Duration;

use chrono::Utc;
use gavel::protocol::{ActionRecord, Effect};
use gavel::server::audit::AuditEvent;
use gavel::server::store::postgres::feed::{self, FeedItem};
use gavel::server::store::{ActionWrite, Op, Store};
use serde_json::json;

use super::{open, pg};
use crate::common::postgres::fresh_database;

/// Records a call `id` on `store`, decided by `governed` (a breaker, limit or kill switch) or
/// by the policy.
async fn call(store: &Store, id: &str, governed: Option<&str>) {
    let record: ActionRecord = serde_json::from_value(json!({
        "id": id, "agent": "deployer", "tool": "deploy.release", "args": {},
        "session": "s1", "submitted_at": Utc::now(), "policy_version": "1",
    }))
    .unwrap();
    let effect = if governed.is_some() {
        Effect::Deny
    } else {
        Effect::Allow
    };
    let audit = AuditEvent::action(&record, "d", effect, None, "r", vec![], None);
    let op = Op::Action(Box::new(ActionWrite {
        effect,
        rule: None,
        reason: "r".into(),
        escalation: None,
        flagged: None,
        key: None,
        grant: None,
        governed: governed.map(str::to_string),
        record,
    }));
    store.write(op, vec![audit]).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_passes_on_the_other_replicas_calls_with_what_decided_them() {
    let url = fresh_database();
    let (a, b) = (open(&url, "replica-a"), open(&url, "replica-b"));
    call(&a, "act_1", None).await;
    call(&a, "act_2", Some("breaker:denials")).await;
    call(&b, "act_3", None).await;
    call(&a, "act_4", None).await;
    call(&a, "act_5", Some("limit:spend")).await;
    // A record edited into something that is not JSON (verify reports it).
    pg(&url, |c| {
        c.execute(
            "UPDATE audit SET body = '{broken' WHERE body LIKE '%act_4%'",
            &[],
        )
        .unwrap();
    });

    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let mut rx = feed::start(&url, "replica-b", 0, stopped).unwrap();
    let mut calls = Vec::new();
    while calls.len() < 3 {
        let item = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("the feed passes the records on")
            .expect("the feed runs");
        let FeedItem::Record(r) = item else {
            continue;
        };
        if let AuditEvent::Action(a) = &r.event {
            calls.push((a.action.clone(), r.governed.clone()));
        }
    }
    let expected = [
        ("act_1", None),
        ("act_2", Some("breaker:denials")),
        ("act_5", Some("limit:spend")),
    ];
    let expected: Vec<(String, Option<String>)> = expected
        .iter()
        .map(|(id, g)| (id.to_string(), g.map(str::to_string)))
        .collect();
    assert_eq!(
        calls, expected,
        "replica-b's own call and the broken one are not passed on"
    );
    a.shutdown().await;
    b.shutdown().await;
}
