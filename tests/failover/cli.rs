//! Person commands with several servers.

use gavel::protocol::Scope;

use crate::common::{Env, POLICY};
use crate::fakes::{dead_url, Answer, Fake};
use crate::{empty_config, gavel, stderr, stdout};

#[tokio::test]
async fn a_dead_first_server_is_passed_over_by_flags_and_by_gavel_server() {
    let env = Env::start(POLICY).await;
    let esc = env.refund_review(5000.0).await;
    let config = empty_config(&env);
    let key = env.key_file("alice").display().to_string();
    let (dead, live) = (dead_url(), env.url());

    let by_flags = gavel(
        &[
            "pending", "--server", &dead, "--server", &live, "--key", &key,
        ],
        &[],
        &config,
    )
    .await;
    assert!(by_flags.status.success(), "{}", stderr(&by_flags));
    assert!(stdout(&by_flags).contains(&esc.id), "{}", stdout(&by_flags));

    // Comma-separated, with spaces, in the environment; and in one flag.
    let list = format!("{dead} , {live}");
    let by_env = gavel(
        &["pending", "--key", &key],
        &[("GAVEL_SERVER", &list)],
        &config,
    )
    .await;
    assert!(by_env.status.success(), "{}", stderr(&by_env));
    assert!(stdout(&by_env).contains(&esc.id));
    let one_flag = gavel(
        &[
            "pending",
            "--server",
            &format!("{dead},{live}"),
            "--key",
            &key,
        ],
        &[],
        &config,
    )
    .await;
    assert!(one_flag.status.success(), "{}", stderr(&one_flag));

    // A decision goes through the same way.
    let decided = gavel(
        &[
            "decide", &esc.id, "approve", "--reason", "ok", "--server", &dead, "--server", &live,
            "--key", &key,
        ],
        &[],
        &config,
    )
    .await;
    assert!(decided.status.success(), "{}", stderr(&decided));
    assert!(
        stdout(&decided).contains("recorded: approved"),
        "{}",
        stdout(&decided)
    );
}

#[tokio::test]
async fn every_server_dead_is_one_line_naming_each() {
    let env = Env::start(POLICY).await;
    let config = empty_config(&env);
    let key = env.key_file("alice").display().to_string();
    let (a, b) = (dead_url(), dead_url());
    let out = gavel(
        &["pending", "--server", &a, "--server", &b, "--key", &key],
        &[],
        &config,
    )
    .await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.starts_with("gavel: cannot reach gavel at any of its 2 servers: "),
        "{err}"
    );
    assert!(err.contains(&a) && err.contains(&b), "{err}");
}

#[tokio::test]
async fn a_503_moves_on_and_a_refusal_does_not() {
    let env = Env::start(POLICY).await;
    let esc = env.refund_review(5000.0).await;
    let config = empty_config(&env);
    let key = env.key_file("alice").display().to_string();
    let unready = Fake::start(Answer::Status(503, "storage_unavailable")).await;
    let out = gavel(
        &[
            "pending",
            "--server",
            &unready.url,
            "--server",
            &env.url(),
            "--key",
            &key,
        ],
        &[],
        &config,
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(&esc.id));
    assert_eq!(unready.requests(), 1, "the 503 was asked first");

    // Another gavel, whose roster has another key for alice: its refusal is the answer, and
    // the live server after it (which would list the escalation) is never asked.
    let stranger = Env::start(POLICY).await;
    let refused = gavel(
        &[
            "pending",
            "--server",
            &stranger.url(),
            "--server",
            &env.url(),
            "--key",
            &key,
        ],
        &[],
        &config,
    )
    .await;
    assert!(!refused.status.success());
    let err = stderr(&refused);
    assert!(err.contains("bad_signature"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(stdout(&refused).is_empty());

    // A 409 is an answer too, not a reason to move on.
    let conflict = Fake::start(Answer::Status(409, "replayed")).await;
    let out = gavel(
        &[
            "pending",
            "--server",
            &conflict.url,
            "--server",
            &env.url(),
            "--key",
            &key,
        ],
        &[],
        &config,
    )
    .await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("(replayed)"), "{}", stderr(&out));
}

#[tokio::test]
async fn a_one_shot_request_that_may_have_landed_is_not_sent_again() {
    let env = Env::start(POLICY).await;
    env.client
        .flip(env.key("alice"), "global", true, "drill")
        .await
        .expect("flip on");
    let config = empty_config(&env);
    let key = env.key_file("alice").display().to_string();
    let quiet = Fake::start(Answer::Hangup).await;
    let off = gavel(
        &[
            "kill",
            "global",
            "--off",
            "--reason",
            "over",
            "--server",
            &quiet.url,
            "--server",
            &env.url(),
            "--key",
            &key,
        ],
        &[],
        &config,
    )
    .await;
    assert!(!off.status.success());
    let err = stderr(&off);
    assert!(
        err.contains("may or may not have been recorded, so it was not sent to another server"),
        "{err}"
    );
    assert!(err.contains(&quiet.url), "{err}");
    assert_eq!(quiet.requests(), 1);
    let switches = env
        .client
        .killswitches(env.key("alice"))
        .await
        .expect("switches");
    let global = switches
        .iter()
        .find(|k| k.scope == Scope::Global.to_string())
        .expect("global");
    assert!(
        global.on,
        "the flip never reached the live server: {global:?}"
    );

    // A read is safe to repeat: it moves on from the same quiet server.
    let read = gavel(
        &[
            "pending",
            "--server",
            &quiet.url,
            "--server",
            &env.url(),
            "--key",
            &key,
        ],
        &[],
        &config,
    )
    .await;
    assert!(read.status.success(), "{}", stderr(&read));
    assert_eq!(quiet.requests(), 2);
}

#[tokio::test]
async fn a_bad_server_list_is_one_line_naming_where_it_came_from() {
    let env = Env::start(POLICY).await;
    let config = empty_config(&env);
    let key = env.key_file("alice").display().to_string();
    let url = env.url();
    for (args, vars, says) in [
        (
            vec!["--server", "http://127.0.0.1:1,,http://127.0.0.1:2"],
            vec![],
            "--server: the server list `http://127.0.0.1:1,,http://127.0.0.1:2` has an empty entry",
        ),
        (
            vec![],
            vec![("GAVEL_SERVER", format!("{url},{url}/"))],
            "GAVEL_SERVER: server `",
        ),
        (
            vec!["--server", "ftp://127.0.0.1:1"],
            vec![],
            "not an http:// or https:// server address",
        ),
    ] {
        let mut all = vec!["pending", "--key", &key];
        all.extend(args);
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let out = gavel(&all, &vars, &config).await;
        assert!(!out.status.success());
        let err = stderr(&out);
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains(says), "{says}: {err}");
        if says.starts_with("GAVEL_SERVER") {
            assert!(err.contains("is listed twice"), "{err}");
        }
    }
}
