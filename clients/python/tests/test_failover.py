"""Several servers: the next is tried only when one cannot be reached, never after a deny."""

from __future__ import annotations

import socket

import pytest

import gavel_client
from gavel_client import Client, Denied, GavelUnavailable

from .conftest import Gavel


def dead_url() -> str:
    """A loopback port nothing listens on (bound, then closed)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


def test_an_unreachable_server_raises(session_id: str) -> None:
    with Client(dead_url(), token="t") as c, pytest.raises(GavelUnavailable) as e:
        c.guard("orders.get", session=session_id)
    assert "nothing is allowed" in str(e.value)


def test_the_next_server_is_tried_when_one_is_unreachable(gavel: Gavel, session_id: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    with Client([dead_url(), gavel.url], token=gavel.token) as c:
        assert c.guard("orders.get", session=session_id).rule == "reads"
    monkeypatch.setenv("GAVEL_SERVER", f"{dead_url()}, {gavel.url}")
    monkeypatch.setenv("GAVEL_AGENT_TOKEN", gavel.token)
    assert gavel_client.guard("orders.get", session=session_id).rule == "reads"
    monkeypatch.setenv("GAVEL_SERVER", f"{dead_url()},{dead_url()}")
    with pytest.raises(GavelUnavailable):
        gavel_client.guard("orders.get", session=session_id)


def test_a_deny_is_never_retried_on_another_server(gavel: Gavel, permissive: Gavel,
                                                   session_id: str) -> None:
    # The second server would allow anything for this token; it must not be asked.
    with Client(permissive.url, token=gavel.token) as c:
        assert c.guard("shell.exec", session=session_id).rule == "everything"
    with Client([gavel.url, permissive.url], token=gavel.token) as c, pytest.raises(Denied):
        c.guard("shell.exec", {"command": "id"}, session=session_id)
