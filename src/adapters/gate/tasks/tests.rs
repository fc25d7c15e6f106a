//! The task table: lifetimes, bounds, and what a cancel or an expiry stops.

use super::*;

#[test]
fn a_task_lives_its_clamped_ttl_and_ends_once() {
    let tasks = Tasks::new(1000);
    let (made, stops) = tasks.create(Some(5));
    let (id, shown) = made.unwrap();
    assert!(stops.is_empty());
    assert_eq!(shown["status"], "working");
    assert_eq!(shown["ttl"], MIN_TTL_MS);
    assert_eq!(shown["pollInterval"], 1000);
    assert!(id.starts_with("gavel-") && id.len() == 6 + 32, "{id}");
    let done = tasks.watch(&id).unwrap();
    let changed = tasks.finish(
        &id,
        Status::Completed,
        "ok".into(),
        Answer::Result(json!({"content": []})),
    );
    assert_eq!(changed.unwrap()["status"], "completed");
    assert!(*done.borrow());
    // Terminal stays terminal: neither a second finish nor a cancel changes it.
    assert!(tasks
        .finish(&id, Status::Failed, "x".into(), Answer::Error(json!({})))
        .is_none());
    assert!(tasks.cancel(&id).unwrap_err().contains("completed"));
    let Some(Answer::Result(r)) = tasks.answer(&id) else {
        panic!("an answer")
    };
    assert_eq!(r["_meta"][RELATED_TASK]["taskId"], id);
    assert_eq!(tasks.list().len(), 1);
    assert!(tasks.get("gavel-nope").is_none());
}

#[test]
fn cancel_says_what_to_stop() {
    let tasks = Tasks::new(1000);
    let (a, _) = tasks.create(None);
    let (a, _) = a.unwrap();
    let (_, stop) = tasks.cancel(&a).unwrap();
    assert_eq!(stop, Some(Stop::Held(held_key(&a))));
    let (b, _) = tasks.create(None);
    let (b, _) = b.unwrap();
    assert!(tasks.forwarding(&b, &"\"gw-1\"".to_string()));
    let (shown, stop) = tasks.cancel(&b).unwrap();
    assert_eq!(shown["status"], "cancelled");
    assert_eq!(stop, Some(Stop::Forwarded("\"gw-1\"".into())));
    // A cancelled task is never forwarded, and its late answer does not change it.
    assert!(!tasks.forwarding(&a, &"\"gw-2\"".to_string()));
    assert_eq!(
        tasks.take_forwarded(&"\"gw-1\"".to_string()),
        Some(b.clone())
    );
    let Some(Answer::Result(r)) = tasks.answer(&a) else {
        panic!("an answer")
    };
    assert_eq!(r["isError"], true);
}

#[test]
fn the_table_is_bounded_and_working_tasks_are_never_evicted() {
    let tasks = Tasks::new(1000);
    let mut ids = Vec::new();
    for _ in 0..MAX_TASKS {
        ids.push(tasks.create(None).0.unwrap().0);
    }
    assert_eq!(tasks.create(None).0, Err(Full));
    tasks.finish(
        &ids[3],
        Status::Completed,
        "ok".into(),
        Answer::Result(json!({})),
    );
    let (made, _) = tasks.create(None);
    assert!(made.is_ok());
    assert!(!tasks.knows(&ids[3]), "the finished task made room");
    assert_eq!(tasks.list().len(), MAX_TASKS);
}

#[test]
fn expired_tasks_are_purged_and_their_calls_stopped() {
    let tasks = Tasks::new(1000);
    let id = tasks.create(None).0.unwrap().0;
    lock(&tasks.table).get_mut(&id).unwrap().created =
        Utc::now() - chrono::Duration::milliseconds(DEFAULT_TTL_MS as i64 + 1);
    assert!(tasks.get(&id).is_none());
    let (_, stops) = tasks.create(None);
    assert_eq!(stops, vec![Stop::Held(held_key(&id))]);
    assert!(!tasks.knows(&id));
}
