"""``wait_budget``: the client tells approvers how long it waits for a held call, and never
sends a budget the server would refuse."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest

import gavel_client
from gavel_client import Client, Denied

from .conftest import Gavel
from .test_review import Background


def _seconds(esc: dict[str, Any]) -> float:
    """How long after the escalation was raised the agent gives up."""
    def at(field: str) -> datetime:
        return datetime.fromisoformat(esc[field].replace("Z", "+00:00"))
    return (at("agent_deadline") - at("created_at")).total_seconds()


def _held(gavel: Gavel, session: str, **kw: Any) -> tuple[Background, dict[str, Any]]:
    c = Client(gavel.url, token=gavel.token)
    bg = Background(lambda: c.guard("stripe.refund", {"amount": 1500.0, "order": "o-9"},
                                    session=session, **kw))
    return bg, gavel.escalation_for(session)


def _deny(gavel: Gavel, bg: Background, esc: dict[str, Any]) -> None:
    gavel.decide(esc["id"], "deny", "not now")
    with pytest.raises(Denied):
        bg.join()


def test_an_explicit_wait_budget_reaches_the_escalation(gavel: Gavel, session_id: str) -> None:
    bg, esc = _held(gavel, session_id, wait_budget=42.5)
    assert 42.0 <= _seconds(esc) <= 43.0, esc["agent_deadline"]
    _deny(gavel, bg, esc)


def test_the_timeout_is_reported_as_the_time_left_for_waiting(gavel: Gavel,
                                                              session_id: str) -> None:
    # timeout=40 keeps 3 s for the withdraw: the agent stops waiting after about 37 s.
    bg, esc = _held(gavel, session_id, timeout=40)
    assert 30.0 <= _seconds(esc) <= 37.5, esc["agent_deadline"]
    _deny(gavel, bg, esc)


def test_without_a_timeout_or_budget_nothing_is_reported(gavel: Gavel, session_id: str) -> None:
    bg, esc = _held(gavel, session_id)
    assert "agent_deadline" not in esc
    _deny(gavel, bg, esc)


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), 7 * 24 * 3600 + 1, True])
def test_a_budget_the_server_would_refuse_is_never_sent(gavel: Gavel, session_id: str,
                                                        bad: Any) -> None:
    with Client(gavel.url, token=gavel.token) as c:
        with pytest.raises(gavel_client.InvalidCall, match="wait_budget"):
            c.guard("stripe.refund", {"amount": 1500.0}, session=session_id, wait_budget=bad)

    async def scenario() -> None:
        async with gavel_client.AsyncClient(gavel.url, token=gavel.token) as a:
            with pytest.raises(gavel_client.InvalidCall, match="wait_budget"):
                await a.guard("stripe.refund", {"amount": 1500.0}, session=session_id,
                              wait_budget=bad)

    asyncio.run(scenario())
    assert not [e for e in gavel.pending() if e["action"]["session"] == session_id]
