"""Allow and deny against a real server, sync and async, from a client and from the
environment."""

from __future__ import annotations

import asyncio

import pytest

import gavel_client
from gavel_client import Client, Denied

from .conftest import Gavel


def test_an_allowed_call_returns_its_outcome(gavel: Gavel, session_id: str) -> None:
    with Client(gavel.url, token=gavel.token) as c:
        out = c.guard("stripe.refund", {"amount": 40.0, "order": "o-1"}, session=session_id)
    assert (out.verdict, out.rule, out.resolution) == ("allow", "refund-small", None)
    assert out.id.startswith("act_") and out.reason == "Small refunds are routine"


def test_a_denied_call_raises_denied_with_the_reason(gavel: Gavel, session_id: str) -> None:
    with Client(gavel.url, token=gavel.token) as c, pytest.raises(Denied) as e:
        c.guard("shell.exec", {"command": "rm -rf /"}, session=session_id)
    assert e.value.reason == "Agents never get a shell"
    assert e.value.rule == "no-shell" and e.value.resolution is None
    assert e.value.action_id.startswith("act_") and e.value.decisions == ()
    assert isinstance(e.value, gavel_client.NotAllowed)


def test_no_rule_is_a_deny(gavel: Gavel, session_id: str) -> None:
    with Client(gavel.url, token=gavel.token) as c, pytest.raises(Denied) as e:
        c.guard("unknown.tool", session=session_id)
    assert e.value.rule is None and "deny by default" in e.value.reason


def test_a_wrong_token_is_refused(gavel: Gavel, session_id: str) -> None:
    with Client(gavel.url, token="not-a-token") as c, pytest.raises(gavel_client.Refused) as e:
        c.guard("orders.get", session=session_id)
    assert e.value.status == 401 and e.value.code == "unknown_agent"


def test_module_guard_reads_the_environment(gavel: Gavel, session_id: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GAVEL_SERVER", gavel.url)
    monkeypatch.setenv("GAVEL_AGENT_TOKEN", gavel.token)
    assert gavel_client.guard("orders.get", {"id": "o-1"}, session=session_id).rule == "reads"
    with pytest.raises(Denied):
        gavel_client.guard("shell.exec", {}, session=session_id)
    monkeypatch.delenv("GAVEL_AGENT_TOKEN")
    with pytest.raises(gavel_client.GavelUnavailable, match="GAVEL_AGENT_TOKEN"):
        gavel_client.guard("orders.get", {}, session=session_id)


def test_async_allow_and_deny(gavel: Gavel, session_id: str,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GAVEL_SERVER", gavel.url)
    monkeypatch.setenv("GAVEL_AGENT_TOKEN", gavel.token)

    async def scenario() -> None:
        async with gavel_client.AsyncClient(gavel.url, token=gavel.token) as c:
            out = await c.guard("stripe.refund", {"amount": 10}, session=session_id)
            assert out.rule == "refund-small"
            with pytest.raises(Denied, match="never get a shell"):
                await c.guard("shell.run", {}, session=session_id)
        assert (await gavel_client.aguard("orders.get", session=session_id)).verdict == "allow"
        with pytest.raises(Denied):
            await gavel_client.aguard("shell.run", session=session_id)

    asyncio.run(scenario())


def test_args_that_are_not_json_are_never_sent(gavel: Gavel, session_id: str) -> None:
    with Client(gavel.url, token=gavel.token) as c:
        with pytest.raises(gavel_client.InvalidCall):
            c.guard("stripe.refund", {"amount": float("nan")}, session=session_id)
        with pytest.raises(gavel_client.InvalidCall):
            c.guard("stripe.refund", {"amount": object()}, session=session_id)
