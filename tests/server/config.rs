use std::process::Command;

use crate::common::{Env, POLICY};

/// Runs `gavel serve` with the given policy and roster text; returns its one-line error.
fn refused(policy: &str, roster: Option<&str>) -> String {
    let env = Env::new(policy);
    if let Some(r) = roster {
        std::fs::write(&env.roster, r).unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&env.data)
        .arg("--policy")
        .arg(&env.policy)
        .arg("--roster")
        .arg(&env.roster)
        .output()
        .unwrap();
    assert!(!out.status.success(), "the server must refuse to start");
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!env.data.join("gavel.db").exists(), "nothing written");
    err
}

fn rule(extra: &str) -> String {
    format!("[[rule]]\nid = \"ok\"\neffect = \"allow\"\nreason = \"fine\"\n\n[[rule]]\nid = \"broken\"\ntools = [\"x.*\"]\n{extra}\n")
}

#[test]
fn every_config_error_names_file_entry_and_position() {
    // Bad TOML.
    let e = refused("[[rule]\nid = 1", None);
    assert!(e.contains("policy.toml:1:"), "{e}");

    // Unknown key, with the rule it is in.
    let e = refused(
        &rule("effect = \"allow\"\nreason = \"r\"\nwhn = \"true\""),
        None,
    );
    assert!(
        e.contains("policy.toml:") && e.contains("rule \"broken\"") && e.contains("whn"),
        "{e}"
    );

    // A CEL condition that does not parse: the line of the condition.
    let e = refused(
        &rule("effect = \"deny\"\nreason = \"r\"\nwhen = \"args.amount >\""),
        None,
    );
    assert!(
        e.contains("policy.toml:11:")
            && e.contains("rule \"broken\"")
            && e.contains("condition does not parse"),
        "{e}"
    );

    // A condition on an unknown variable.
    let e = refused(
        &rule("effect = \"deny\"\nreason = \"r\"\nwhen = \"user.admin\""),
        None,
    );
    assert!(
        e.contains("rule \"broken\"") && e.contains("unknown variable `user`"),
        "{e}"
    );

    // An unknown approver group.
    let e = refused(
        &rule("effect = \"review\"\nreason = \"r\"\napprovers = \"legal\"\ntimeout = \"5m\""),
        None,
    );
    assert!(
        e.contains("policy.toml:11:") && e.contains("unknown group \"legal\""),
        "{e}"
    );

    // More approvals than the group has approvers.
    let e = refused(&rule("effect = \"review\"\nreason = \"r\"\napprovers = \"ops\"\napprovals = 2\ntimeout = \"5m\""), None);
    assert!(e.contains("cannot be met"), "{e}");

    // A bad timeout, and review-only keys on other effects.
    let e = refused(
        &rule("effect = \"review\"\nreason = \"r\"\napprovers = \"ops\"\ntimeout = \"soon\""),
        None,
    );
    assert!(
        e.contains("rule \"broken\"") && e.contains("timeout"),
        "{e}"
    );
    let e = refused(
        &rule("effect = \"deny\"\nreason = \"r\"\napprovers = \"ops\""),
        None,
    );
    assert!(e.contains("only applies to effect = \"review\""), "{e}");

    // A bad effect value.
    let e = refused(&rule("effect = \"maybe\"\nreason = \"r\""), None);
    assert!(e.contains("rule \"broken\"") && e.contains("maybe"), "{e}");

    // Duplicate rule id.
    let e = refused(
        &format!(
            "{}\n[[rule]]\nid = \"ok\"\neffect = \"deny\"\nreason = \"again\"\n",
            rule("effect = \"deny\"\nreason = \"r\"")
        ),
        None,
    );
    assert!(
        e.contains("policy.toml:13:")
            && e.contains("rule \"ok\"")
            && e.contains("duplicate rule id"),
        "{e}"
    );

    // Roster: malformed key, duplicate id, unknown key, bad token hash, unknown owner.
    let person = |id: &str, key: &str| {
        format!("[[person]]\nid = \"{id}\"\nkey = \"{key}\"\nroles = [\"approver\"]\ngroups = [\"ops\"]\n\n")
    };
    let good_key = gavel::protocol::PersonKey::generate("x")
        .public()
        .to_string();
    let e = refused(POLICY, Some(&person("zed", "ed25519:not-base64")));
    assert!(
        e.contains("roster.toml:3:") && e.contains("person \"zed\"") && e.contains("malformed key"),
        "{e}"
    );
    let e = refused(
        POLICY,
        Some(&format!(
            "{}{}",
            person("zed", &good_key),
            person("zed", &good_key)
        )),
    );
    assert!(
        e.contains("roster.toml:8:") && e.contains("duplicate person id"),
        "{e}"
    );
    let e = refused(
        POLICY,
        Some(&format!(
            "{}[[person]]\nid = \"y\"\nkey = \"{good_key}\"\nrole = [\"approver\"]\n",
            person("zed", &good_key)
        )),
    );
    assert!(e.contains("person \"y\"") && e.contains("role"), "{e}");
    let e = refused(
        POLICY,
        Some(&format!(
            "{}[[agent]]\nid = \"bot\"\ntoken_sha256 = \"abc\"\n",
            person("zed", &good_key)
        )),
    );
    assert!(
        e.contains("agent \"bot\"") && e.contains("64 hex digits"),
        "{e}"
    );
    let e = refused(
        POLICY,
        Some(&format!(
            "{}[[agent]]\nid = \"bot\"\nowner = \"nobody\"\ntoken_sha256 = \"{}\"\n",
            person("zed", &good_key),
            "a".repeat(64)
        )),
    );
    assert!(e.contains("owner \"nobody\""), "{e}");

    // Missing files.
    let env = Env::new(POLICY);
    let out = Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(["serve", "--data"])
        .arg(&env.data)
        .args(["--policy", "/nonexistent/policy.toml", "--roster"])
        .arg(&env.roster)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("/nonexistent/policy.toml")
            && err.contains("cannot read"),
        "{err}"
    );
}

#[test]
fn the_shipped_examples_load() {
    let root = env!("CARGO_MANIFEST_DIR");
    let (policy, roster) = gavel::server::load_config(
        std::path::Path::new(&format!("{root}/assets/policy.toml")),
        std::path::Path::new(&format!("{root}/assets/roster.toml")),
    )
    .unwrap();
    assert!(policy.rules.len() >= 10);
    assert_eq!(roster.agents.len(), 4);
}
