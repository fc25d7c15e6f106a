"""Calls held for review: a person approves or denies with `gavel decide`, or nobody decides
before the deadline. Approvals are checked against the approvers' real Ed25519 keys."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import gavel_client
from gavel_client import Client, Denied, Outcome, UnverifiedApproval

from .conftest import AGENT, Gavel


class Background:
    """A guarded call running in a thread, as an agent blocked on gavel."""

    def __init__(self, call: Callable[[], Outcome]) -> None:
        self.result: Outcome | None = None
        self.error: BaseException | None = None

        def run() -> None:
            try:
                self.result = call()
            except BaseException as e:  # noqa: BLE001 - handed to the test
                self.error = e

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def join(self) -> Outcome:
        self.thread.join(60)
        assert not self.thread.is_alive(), "the guarded call never returned"
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def held_refund(gavel: Gavel, session: str, **client: Any) -> tuple[Background, dict[str, Any]]:
    c = Client(gavel.url, token=gavel.token, **client)
    bg = Background(lambda: c.guard("stripe.refund", {"amount": 1500.0, "order": "o-17"},
                                    session=session, rationale="double charge"))
    return bg, gavel.escalation_for(session)


def test_an_approved_call_returns_with_verified_signatures(gavel: Gavel, session_id: str) -> None:
    bg, esc = held_refund(gavel, session_id, approver_keys={"carol": gavel.keys["carol"]})
    assert esc["rule"]["id"] == "refund-large" and esc["action"]["rationale"] == "double charge"
    gavel.decide(esc["id"], "approve", "verified the double charge")
    out = bg.join()
    assert (out.verdict, out.resolution, out.escalation) == ("allow", "approved", esc["id"])
    [d] = out.decisions
    assert (d.approver, d.verdict, d.reason) == ("carol", "approve", "verified the double charge")
    assert d.digest == esc["digest"]
    # Where the review stood, as gavel told the agent: the group, the counts, the digest.
    assert out.review == gavel_client.Review(group="finance", approvals_required=1,
                                             approvals_received=1, digest=esc["digest"])
    # The digest this client computes is the server's: the same canonical JSON (floats too).
    action = esc["action"]
    digest = gavel_client.action_digest(
        agent=AGENT, tool="stripe.refund", args={"order": "o-17", "amount": 1500.0},
        session=session_id, on_behalf_of=action["on_behalf_of"],
        policy_version=action["policy_version"])
    assert digest == esc["digest"]
    keys = {"carol": gavel_client.parse_public_key(gavel.keys["carol"])}
    gavel_client.verify_approval(out, keys, digest=digest)
    with pytest.raises(UnverifiedApproval, match="not this call's"):
        gavel_client.verify_approval(out, keys, digest=digest.replace("a", "b").replace("1", "2"))
    with pytest.raises(UnverifiedApproval, match="2 required"):
        gavel_client.verify_approval(out, keys, min_approvals=2)


def test_an_approval_that_contradicts_its_review_raises(gavel: Gavel, session_id: str) -> None:
    """A real approval, altered as a hostile relay might: the decisions must sign the digest
    the review names, and as many people must approve as the rule requires."""
    c = Client(gavel.url, token=gavel.token)
    bg = Background(lambda: c.guard("stripe.refund", {"amount": 1500.0, "order": "o-17"},
                                    session=session_id))
    esc = gavel.escalation_for(session_id)
    gavel.decide(esc["id"], "approve", "fine")
    out = bg.join()
    assert out.review is not None
    keys = {"carol": gavel_client.parse_public_key(gavel.keys["carol"])}
    gavel_client.verify_approval(out, keys)
    other = dataclasses.replace(out.review, digest="sha256:" + "0" * 64)
    with pytest.raises(UnverifiedApproval, match="not the escalation's"):
        gavel_client.verify_approval(dataclasses.replace(out, review=other), keys)
    more = dataclasses.replace(out.review, approvals_required=2)
    with pytest.raises(UnverifiedApproval, match="2 required"):
        gavel_client.verify_approval(dataclasses.replace(out, review=more), keys)


def test_an_approval_signed_by_another_key_raises(gavel: Gavel, session_id: str) -> None:
    # Carol's id, but dave's key: the signature cannot verify.
    bg, esc = held_refund(gavel, session_id, approver_keys={"carol": gavel.keys["dave"]})
    gavel.decide(esc["id"], "approve", "looks fine")
    with pytest.raises(UnverifiedApproval, match="signature of 'carol' does not verify") as e:
        bg.join()
    assert e.value.outcome.resolution == "approved"


def test_an_approval_by_someone_without_a_given_key_raises(gavel: Gavel, session_id: str) -> None:
    bg, esc = held_refund(gavel, session_id, approver_keys={"dave": gavel.keys["dave"]})
    gavel.decide(esc["id"], "approve", "looks fine")
    with pytest.raises(UnverifiedApproval, match="no public key was given for approver 'carol'"):
        bg.join()


def test_without_keys_an_approval_is_returned_unchecked(gavel: Gavel, session_id: str) -> None:
    bg, esc = held_refund(gavel, session_id)
    gavel.decide(esc["id"], "approve", "fine")
    assert bg.join().resolution == "approved"


def test_a_denied_review_raises_denied_with_the_deciders_reason(gavel: Gavel,
                                                                 session_id: str) -> None:
    bg, esc = held_refund(gavel, session_id, approver_keys={"carol": gavel.keys["carol"]})
    gavel.decide(esc["id"], "deny", "no double charge on file")
    with pytest.raises(Denied) as e:
        bg.join()
    assert e.value.resolution == "denied" and e.value.escalation == esc["id"]
    assert "no double charge on file" in e.value.reason and e.value.rule == "refund-large"
    [d] = e.value.decisions
    assert (d.approver, d.verdict) == ("carol", "deny")


def test_a_review_nobody_decides_expires_as_a_deny(gavel: Gavel, session_id: str) -> None:
    with Client(gavel.url, token=gavel.token) as c, pytest.raises(Denied) as e:
        c.guard("deploy.release", {"version": "1.2.3"}, session=session_id)
    assert e.value.resolution == "expired" and e.value.rule == "deploy-fast"


def test_a_review_handed_over_at_its_deadline_is_still_waited_on(gavel: Gavel,
                                                                   session_id: str) -> None:
    c = Client(gavel.url, token=gavel.token, approver_keys=gavel.keys)
    bg = Background(lambda: c.guard("deploy.hotfix", {"version": "1.2.4"}, session=session_id))
    first = gavel.escalation_for(session_id)
    assert first["group"] == "ops" and not first["handed_over"]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        esc = next(e for e in gavel.pending() if e["id"] == first["id"])
        if esc["handed_over"]:
            break
        time.sleep(0.1)
    assert esc["group"] == "backup" and esc["deadline"] > first["deadline"]
    gavel.decide(esc["id"], "approve", "backup on call says ship it", person="frank")
    out = bg.join()
    assert out.resolution == "approved" and [d.approver for d in out.decisions] == ["frank"]
