"""``@guarded``: the tool function runs only when gavel allows, with its bound arguments
(defaults applied) as the action's args."""

from __future__ import annotations

import asyncio

import pytest

import gavel_client
from gavel_client import AsyncClient, Client, Denied

from .conftest import Gavel


def test_a_sync_tool_runs_only_when_allowed(gavel: Gavel, session_id: str) -> None:
    ran: list[tuple[str, float]] = []
    client = Client(gavel.url, token=gavel.token)

    @gavel_client.guarded("ledger.write", session=session_id, client=client)
    def book(order: str, amount: float = 50.0) -> str:
        ran.append((order, amount))
        return f"booked {order}"

    # The rule allows exactly {"order": "o-1", "amount": 50.0}: the default is part of args.
    assert book("o-1") == "booked o-1"
    with pytest.raises(Denied):
        book("o-2")
    with pytest.raises(Denied):
        book("o-1", amount=51.0)
    assert ran == [("o-1", 50.0)]
    assert book.__name__ == "book"
    client.close()


def test_a_method_is_guarded_without_self(gavel: Gavel, session_id: str,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GAVEL_SERVER", gavel.url)
    monkeypatch.setenv("GAVEL_AGENT_TOKEN", gavel.token)

    class Ledger:
        @gavel_client.guarded("ledger.write", session=lambda: session_id)
        def book(self, order: str, amount: float = 50.0) -> str:
            return order

    assert Ledger().book("o-1") == "o-1"
    with pytest.raises(Denied):
        Ledger().book("o-3")


def test_an_async_tool_runs_only_when_allowed(gavel: Gavel, session_id: str) -> None:
    ran: list[str] = []

    async def scenario() -> None:
        async with AsyncClient(gavel.url, token=gavel.token) as client:
            @gavel_client.guarded("shell.exec", session=session_id, client=client)
            async def shell(command: str) -> str:
                ran.append(command)
                return "done"

            @gavel_client.guarded("ledger.write", session=session_id, client=client)
            async def book(order: str, amount: float = 50.0) -> str:
                ran.append(order)
                return "booked"

            with pytest.raises(Denied, match="never get a shell"):
                await shell("id")
            assert await book("o-1") == "booked"

    asyncio.run(scenario())
    assert ran == ["o-1"]


def test_a_client_of_the_wrong_kind_is_refused_at_decoration(gavel: Gavel) -> None:
    client = Client(gavel.url, token=gavel.token)
    with pytest.raises(TypeError):
        @gavel_client.guarded("x", session="s", client=client)
        async def f() -> None:
            pass
    client.close()
