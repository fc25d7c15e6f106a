//! `gavel demo --headless`: the real binary, its in-process server and simulated agents, and the
//! console's state machine as `you`. The demo opens on an escalation you may decide, and its
//! queue stays bounded: agents hold at most a few calls each and withdraw the ones they gave up
//! on.

fn line<'a>(stdout: &'a str, prefix: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` line:\n{stdout}"))
}

fn number_after(text: &str, word: &str) -> u64 {
    text.split(word)
        .nth(1)
        .and_then(|rest| {
            rest.trim_start()
                .split(|c: char| !c.is_ascii_digit())
                .next()
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after `{word}` in {text:?}"))
}

#[test]
fn the_demo_opens_on_a_decidable_escalation_and_its_queue_stays_bounded() {
    let state = tempfile::tempdir().unwrap();
    // Long enough for the agents' 4 s patience to run out on calls nobody decides.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(["demo", "--headless", "--duration", "9s"])
        .env("XDG_STATE_HOME", state.path())
        .env("XDG_CONFIG_HOME", state.path())
        .env("HOME", state.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first = line(&stdout, "first selected escalation: ");
    assert!(
        first.starts_with("esc_") && first.ends_with("(yours to decide)"),
        "{stdout}"
    );
    let bounded = line(&stdout, "pending at most: ");
    let most: u64 = bounded
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{bounded}"));
    let per_agent = number_after(bounded, "bound:");
    let agents = number_after(bounded, "per agent,");
    assert_eq!(
        (per_agent, agents),
        (gavel::demo::agents::MAX_HELD_PER_AGENT as u64, 5)
    );
    assert!(most >= 1 && most <= per_agent * agents, "{stdout}");
    assert!(
        number_after(bounded, "stopped waiting:") > 0,
        "agents gave up on calls nobody decided:\n{stdout}"
    );
    assert!(stdout.contains("your decision: ✓"), "{stdout}");
    // The runaway crawler spends its hourly envelope, asks for more (a budget escalation, held
    // for review), and, asking again and again, trips its fatigue breaker.
    let runaway = line(&stdout, "runaway crawler: ");
    assert!(number_after(runaway, "calls,") >= 1, "held: {stdout}");
    assert!(number_after(runaway, "review,") >= 1, "denied: {stdout}");
    assert!(
        runaway.contains("breakers open: crawler-fatigue ("),
        "the breaker tripped:\n{stdout}"
    );
}
