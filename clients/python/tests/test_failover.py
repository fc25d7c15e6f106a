"""Several servers: the next is tried only when one does not answer (no connection, no answer
after sending, a 503), never after an answer — an allow, a deny, a 4xx."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import gavel_client
from gavel_client import AsyncClient, Client, Denied, GavelUnavailable, InvalidCall, Refused
from gavel_client._settings import split_servers

from .conftest import Gavel


def dead_url() -> str:
    """A loopback port nothing listens on (bound, then closed)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


class Fake:
    """A real HTTP listener on loopback that reads each whole request, counts it, then answers
    `status` with gavel's error body, or (status 0) closes the connection without a word."""

    def __init__(self, status: int, code: str) -> None:
        fake = self
        self.requests = 0

        class Handler(BaseHTTPRequestHandler):
            def answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                fake.requests += 1
                if status == 0:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                body = (f'{{"error":{{"code":"{code}","message":"the fake replica says '
                        f'{status}"}}}}').encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = answer
            do_POST = answer

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def unready() -> Iterator[Fake]:
    f = Fake(503, "storage_unavailable")
    yield f
    f.close()


@pytest.fixture
def quiet() -> Iterator[Fake]:
    f = Fake(0, "")
    yield f
    f.close()


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


def test_a_503_moves_on_and_the_answering_server_is_asked_first_next_time(
        gavel: Gavel, session_id: str, unready: Fake) -> None:
    with Client(f"{unready.url},{gavel.url}", token=gavel.token) as c:
        for _ in range(3):
            assert c.guard("orders.get", session=session_id).rule == "reads"
        with pytest.raises(Denied):
            c.guard("shell.exec", session=session_id)
    assert unready.requests == 1, "asked once, then passed over"


def test_a_submission_is_resent_past_a_server_that_went_quiet(gavel: Gavel, session_id: str,
                                                              quiet: Fake) -> None:
    # It may have reached the quiet one: its Idempotency-Key makes the resend safe.
    with Client([quiet.url, gavel.url], token=gavel.token) as c:
        out = c.guard("stripe.refund", {"amount": 40.0, "order": "o-1"}, session=session_id)
    assert out.rule == "refund-small"
    assert quiet.requests == 1


def test_a_deny_is_never_retried_on_another_server(gavel: Gavel, permissive: Gavel,
                                                   session_id: str) -> None:
    # The second server would allow anything for this token; it must not be asked.
    with Client(permissive.url, token=gavel.token) as c:
        assert c.guard("shell.exec", session=session_id).rule == "everything"
    with Client([gavel.url, permissive.url], token=gavel.token) as c, pytest.raises(Denied):
        c.guard("shell.exec", {"command": "id"}, session=session_id)


def test_a_refusal_is_the_answer_too(gavel: Gavel, session_id: str) -> None:
    forbidden = Fake(403, "forbidden")
    try:
        with Client([forbidden.url, gavel.url], token=gavel.token) as c, \
                pytest.raises(Refused) as e:
            c.guard("orders.get", session=session_id)
        assert (e.value.status, e.value.code) == (403, "forbidden")
        assert forbidden.requests == 1
    finally:
        forbidden.close()


def test_when_no_server_answers_each_is_named(session_id: str, unready: Fake,
                                              quiet: Fake) -> None:
    dead = dead_url()
    with Client([dead, unready.url, quiet.url], token="t") as c, \
            pytest.raises(GavelUnavailable) as e:
        c.guard("orders.get", session=session_id)
    text = str(e.value)
    assert text.startswith("no gavel server answered, so nothing is allowed: "), text
    assert f"{dead} (ConnectError" in text, text
    assert f"{unready.url} (answered 503: " in text and "storage_unavailable" in text, text
    assert f"{quiet.url} (no answer: " in text, text


def test_the_async_client_fails_over_the_same_way(gavel: Gavel, session_id: str,
                                                  unready: Fake) -> None:
    async def scenario() -> None:
        async with AsyncClient([dead_url(), unready.url, gavel.url], token=gavel.token) as c:
            assert (await c.guard("orders.get", session=session_id)).rule == "reads"
            assert (await c.guard("orders.get", session=session_id)).rule == "reads"
            with pytest.raises(Denied):
                await c.guard("shell.exec", session=session_id)
    asyncio.run(scenario())
    assert unready.requests == 1


def test_a_server_list_is_checked() -> None:
    assert split_servers(" http://a:1 , https://b:2/ ") == ("http://a:1", "https://b:2")
    assert split_servers(["http://a:1,http://b:1", "http://c:1"]) == (
        "http://a:1", "http://b:1", "http://c:1")
    for bad, says in [("http://a:1,,http://b:1", "empty entry"), ("http://a:1,", "empty entry"),
                      ("http://a:1,http://A:1/", "listed twice"),
                      (["http://a:80", "http://a"], "listed twice"),
                      ("ftp://a:1", "http:// or https://"), ("http://a:1?x=1", "no query"),
                      ("a:1", "http:// or https://"), ([], "no gavel server URL")]:
        with pytest.raises(InvalidCall) as e:
            split_servers(bad)
        assert says in str(e.value), (bad, str(e.value))
    with pytest.raises(InvalidCall):
        Client("http://a:1,,http://b:1", token="t")
