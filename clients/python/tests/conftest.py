"""A real gavel server for the tests: the built binary (``GAVEL_BIN``, default the workspace's
target/debug/gavel), a temp data dir, a roster and policy written here, people's keys from
``gavel keygen``, the agent's token from ``gavel agent-token``. People decide with
``gavel decide``, as a person would."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
BIN = Path(os.environ.get("GAVEL_BIN") or REPO / "target" / "debug" / "gavel")

POLICY = r'''
[[rule]]
id = "reads"
tools = ["*.get"]
effect = "allow"
reason = "Read-only calls"

[[rule]]
id = "refund-small"
tools = ["stripe.refund"]
when = "args.amount <= 100.0"
effect = "allow"
reason = "Small refunds are routine"

[[rule]]
id = "refund-large"
tools = ["stripe.refund"]
when = "args.amount > 1000.0"
effect = "review"
reason = "Refunds above $1,000 need a finance approver"
approvers = "finance"
timeout = "10m"

[[rule]]
id = "no-shell"
tools = ["shell.*"]
effect = "deny"
reason = "Agents never get a shell"

[[rule]]
id = "deploy-fast"
tools = ["deploy.release"]
effect = "review"
reason = "Deploys need ops"
approvers = "ops"
timeout = "2s"

[[rule]]
id = "hotfix-handover"
tools = ["deploy.hotfix"]
effect = "review"
reason = "Hotfixes need ops, then backup"
approvers = "ops"
timeout = "3s"
on_expiry = "escalate"
escalate_to = "backup"

[[rule]]
id = "ledger-o1"
tools = ["ledger.write"]
when = "args.order == 'o-1' && args.amount == 50.0"
effect = "allow"
reason = "Order o-1 may be booked"
'''

ALLOW_ALL = '''
[[rule]]
id = "everything"
tools = ["**"]
effect = "allow"
reason = "The permissive second server"
'''

PEOPLE = {"carol": (["approver"], ["finance"]), "dave": (["approver"], ["ops"]),
          "frank": (["approver"], ["backup"]), "alice": ([], [])}
AGENT = "py-bot"


def run(*args: str, check: bool = True, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAVEL_")}
    if home is not None:
        env["HOME"] = str(home)
    p = subprocess.run([str(BIN), *args], capture_output=True, text=True, env=env,
                       stdin=subprocess.DEVNULL, timeout=60)
    if check and p.returncode != 0:
        raise AssertionError(f"gavel {' '.join(args)} failed: {p.stderr}")
    return p


@dataclass
class Gavel:
    """One running server and the people and agent of its roster."""

    dir: Path
    url: str
    token: str
    token_sha: str
    keys: dict[str, str]
    key_files: dict[str, Path]
    proc: subprocess.Popen[str]
    log: list[str] = field(default_factory=list)

    def person(self, person: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """A person command (`pending`, `decide`…) against this server with `person`'s key."""
        return run(*args, "--server", self.url, "--key", str(self.key_files[person]),
                   check=check, home=self.dir)

    def pending(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = json.loads(self.person("carol", "pending", "--json").stdout)
        return out

    def escalation_for(self, session: str, timeout: float = 20.0) -> dict[str, Any]:
        """Waits until an escalation of `session` is pending, as a person watching would."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for e in self.pending():
                if e["action"]["session"] == session:
                    return e
            time.sleep(0.1)
        raise AssertionError(f"no escalation for session {session} appeared")

    def decide(self, escalation: str, verdict: str, reason: str, person: str = "carol") -> None:
        self.person(person, "decide", escalation, verdict, "--reason", reason)


def start(tmp: Path, policy: str, agent_token: tuple[str, str] | None = None,
          tls: tuple[Path, Path] | None = None) -> Gavel:
    """Starts `gavel serve` on an ephemeral loopback port (HTTPS with `tls` = (cert, key))."""
    assert BIN.exists(), f"no gavel binary at {BIN}: run `cargo build` or set GAVEL_BIN"
    keys, key_files = {}, {}
    for person in PEOPLE:
        path = tmp / "keys" / f"{person}.key"
        keys[person] = run("keygen", "--id", person, "--out", str(path)).stdout.strip()
        key_files[person] = path
    token, token_sha = agent_token or run("agent-token").stdout.split()
    roster = ""
    for person, (roles, groups) in PEOPLE.items():
        roster += (f'[[person]]\nid = "{person}"\nname = "{person.title()}"\n'
                   f'key = "{keys[person]}"\nroles = {json.dumps(roles)}\n'
                   f'groups = {json.dumps(groups)}\n\n')
    roster += (f'[[agent]]\nid = "{AGENT}"\nowner = "alice"\nacts_for = []\n'
               f'token_sha256 = "{token_sha}"\n')
    (tmp / "roster.toml").write_text(roster)
    (tmp / "policy.toml").write_text(policy)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAVEL_")}
    env["HOME"] = str(tmp)
    proc = subprocess.Popen(
        [str(BIN), "serve", "--listen", "127.0.0.1:0", "--data", str(tmp / "data"),
         "--policy", str(tmp / "policy.toml"), "--roster", str(tmp / "roster.toml"),
         *(["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])] if tls else [])],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env=env)
    ready = threading.Event()
    found: list[str] = []
    log: list[str] = []

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            log.append(line)
            m = re.search(r"gavel serving on (\S+)", line)
            if m and not found:
                found.append(m.group(1))
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(30) or not found:
        proc.kill()
        raise AssertionError("gavel did not start:\n" + "".join(log))
    return Gavel(dir=tmp, url=found[0].rstrip("/"), token=token, token_sha=token_sha, keys=keys,
                 key_files=key_files, proc=proc, log=log)


def stop(g: Gavel) -> None:
    g.proc.terminate()
    try:
        g.proc.wait(15)
    except subprocess.TimeoutExpired:
        g.proc.kill()
        g.proc.wait()


@pytest.fixture(scope="session")
def gavel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gavel]:
    g = start(tmp_path_factory.mktemp("gavel"), POLICY)
    yield g
    stop(g)


@pytest.fixture(scope="session")
def permissive(tmp_path_factory: pytest.TempPathFactory, gavel: Gavel) -> Iterator[Gavel]:
    """A second real server that allows everything, for the same agent token."""
    g = start(tmp_path_factory.mktemp("permissive"), ALLOW_ALL, (gavel.token, gavel.token_sha))
    yield g
    stop(g)


@pytest.fixture
def session_id(request: pytest.FixtureRequest) -> str:
    """A session per test, so a test finds its own escalations."""
    return f"{request.node.name}-{time.monotonic_ns()}"
