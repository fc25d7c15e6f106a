//! `gavel audit verify --store URL`: the same checks as on a data dir, on the shared database.

use std::process::{Command, Output};

use gavel::server::store::Op;

use super::{flip, open, pg, refused};
use crate::common::postgres::fresh_database;

fn gavel(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_store_passes_then_names_the_record_edited_in_the_database() {
    let url = fresh_database();
    let (a, b) = (open(&url, "replica-a"), open(&url, "replica-b"));
    let (op, audit) = flip("global", "sig-1");
    a.write(op, audit).await.unwrap();
    b.write(Op::Audit, refused("/v1/x")).await.unwrap();
    let (op, audit) = flip("tool:y", "sig-2");
    b.write(op, audit).await.unwrap();
    a.shutdown().await;
    b.shutdown().await;

    let out = gavel(&["audit", "verify", "--store", &url]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("ok: 3 records, 1 signed checkpoint,"),
        "{stdout}"
    );

    // A checkpoint kept elsewhere anchors the shared log, as a data dir's does.
    let out = gavel(&["audit", "checkpoint", "--store", &url]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let anchor: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(anchor["seq"], 3, "{anchor}");
    let kept = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(kept.path(), &out.stdout).unwrap();
    let anchored = |url: &str| {
        gavel(&[
            "audit",
            "verify",
            "--store",
            url,
            "--anchor",
            kept.path().to_str().unwrap(),
        ])
    };
    let out = anchored(&url);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("the log extends the anchor at record 3"),
        "{}",
        text(&out.stdout)
    );
    // Another, shorter log does not extend it.
    let cut = fresh_database();
    let (c, d) = (open(&cut, "replica-c"), open(&cut, "replica-d"));
    let (op, audit) = flip("global", "sig-1");
    c.write(op, audit).await.unwrap();
    d.write(Op::Audit, refused("/v1/x")).await.unwrap();
    c.shutdown().await;
    d.shutdown().await;
    assert!(!anchored(&cut).status.success());

    // A state table that disagrees with the log is caught as on SQLite.
    pg(&url, |c| {
        c.execute("DELETE FROM used_signatures WHERE signature = 'sig-2'", &[])
            .unwrap()
    });
    let out = gavel(&["audit", "verify", "--store", &url]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("state tables"),
        "{}",
        text(&out.stderr)
    );
    pg(&url, |c| {
        c.execute("INSERT INTO used_signatures VALUES ('sig-2')", &[])
            .unwrap()
    });

    // An edited record is named.
    pg(&url, |c| {
        c.execute(
            "UPDATE audit SET body = replace(body, '/v1/x', '/v1/z') WHERE seq = 2",
            &[],
        )
        .unwrap()
    });
    let out = gavel(&["audit", "verify", "--store", &url]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("record 2: hash does not match its content"),
        "{stderr}"
    );
}

#[test]
fn verify_takes_exactly_one_of_data_and_store() {
    let both = gavel(&[
        "audit",
        "verify",
        "--data",
        "/nonexistent",
        "--store",
        "postgres://x@127.0.0.1:1/x",
    ]);
    assert!(!both.status.success());
    assert!(text(&both.stderr).contains("cannot be used with"));
    let neither = gavel(&["audit", "verify"]);
    assert!(!neither.status.success());
    assert!(text(&neither.stderr).contains("--data"));
}

#[test]
fn verify_store_of_an_unreachable_database_is_one_line_without_the_password() {
    let out = gavel(&[
        "audit",
        "verify",
        "--store",
        "postgres://gavel:s3cret@127.0.0.1:1/gavel",
    ]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("postgres://gavel:***@127.0.0.1:1/gavel"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret"), "{stderr}");
}
