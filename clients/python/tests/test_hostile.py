"""Answers that are not gavel's protocol, from a server that is not gavel (a broken proxy, a
wrong port, an attacker on the path): every one raises, none is ever an allow."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gavel_client import (
    Client,
    GavelUnavailable,
    NotAllowed,
    ProtocolError,
    Refused,
    UnverifiedApproval,
)

from .conftest import Gavel


class Hostile:
    """Answers every request with the next scripted (status, headers, body); records requests."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, dict[str, str], bytes]] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        hostile = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.answer()

            def do_GET(self) -> None:
                self.answer()

            def answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                hostile.requests.append(
                    (self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
                status, headers, body = hostile.answers.pop(0)
                if status == 0:  # hang up without an answer
                    self.close_connection = True
                    return
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def script(self, *answers: tuple[int, dict[str, str], bytes]) -> None:
        self.answers = list(answers)
        self.requests = []


@pytest.fixture(scope="module")
def hostile() -> Iterator[Hostile]:
    h = Hostile()
    yield h
    h.server.shutdown()


def ok(body: object) -> tuple[int, dict[str, str], bytes]:
    return 200, {"content-type": "application/json"}, json.dumps(body).encode()


PENDING = {"id": "act_1", "verdict": "pending", "rule": "r", "reason": "held",
           "escalation": "esc_1", "deadline": "2099-01-01T00:00:00.123456789Z"}


@pytest.mark.parametrize("answer,error", [
    ((200, {}, b"allow"), ProtocolError),
    ((200, {}, b'{"verdict": "allow"'), ProtocolError),
    (ok({"verdict": "allow"}), ProtocolError),                       # no id, no reason
    (ok({"id": "act_1", "verdict": "yes", "reason": "", "rule": None}), ProtocolError),
    (ok({"id": "act_1", "verdict": "allow", "reason": 5, "rule": None}), ProtocolError),
    (ok({"id": "act_1", "verdict": "allow", "reason": "", "resolution": "expired"}),
     ProtocolError),
    (ok({"id": "act_1", "verdict": "pending", "reason": ""}), ProtocolError),  # no escalation
    (ok([1, 2]), ProtocolError),
    ((302, {"location": "http://127.0.0.1:1/"}, b""), ProtocolError),
    ((204, {}, b""), ProtocolError),
    ((500, {}, b'{"error":{"code":"internal_error","message":"boom"}}'), GavelUnavailable),
    ((503, {}, b"<html>bad gateway</html>"), GavelUnavailable),
    ((400, {}, b'{"error":{"code":"invalid_request","message":"no"}}'), Refused),
    ((0, {}, b""), GavelUnavailable),
])
def test_a_malformed_answer_raises(hostile: Hostile, answer: tuple[int, dict[str, str], bytes],
                                   error: type[NotAllowed]) -> None:
    hostile.script(answer)
    with Client(hostile.url, token="t") as c, pytest.raises(error):
        c.guard("stripe.refund", {"amount": 1}, session="s")
    assert len(hostile.requests) == 1, "a call that reached a server is never sent again"


def test_a_malformed_answer_while_waiting_raises_and_withdraws(hostile: Hostile) -> None:
    hostile.script(ok(PENDING), (200, {}, b"not json"), ok({**PENDING, "verdict": "deny",
                                                             "resolution": "cancelled"}))
    with Client(hostile.url, token="t") as c, pytest.raises(ProtocolError):
        c.guard("stripe.refund", {"amount": 5000}, session="s")
    assert [(m, p) for m, p, _ in hostile.requests] == [
        ("POST", "/v1/actions"), ("GET", "/v1/actions/act_1?wait=300"),
        ("POST", "/v1/actions/act_1/withdraw")]


def test_an_answer_about_another_action_raises(hostile: Hostile) -> None:
    other = {**PENDING, "id": "act_2", "verdict": "allow", "resolution": "approved"}
    hostile.script(ok(PENDING), ok(other), ok({**PENDING, "verdict": "deny"}))
    with Client(hostile.url, token="t") as c, pytest.raises(ProtocolError, match="act_2"):
        c.guard("stripe.refund", {"amount": 5000}, session="s")


def test_an_answer_about_another_escalation_raises(hostile: Hostile) -> None:
    other = {**PENDING, "escalation": "esc_2", "verdict": "allow", "resolution": "approved"}
    hostile.script(ok(PENDING), ok(other), ok({**PENDING, "verdict": "deny"}))
    with Client(hostile.url, token="t") as c, pytest.raises(ProtocolError, match="esc_2"):
        c.guard("stripe.refund", {"amount": 5000}, session="s")


def test_a_forged_approval_raises(hostile: Hostile, gavel: Gavel) -> None:
    forged = {"escalation": "esc_1", "digest": "sha256:" + "0" * 64, "verdict": "approve",
              "reason": "ok", "approver": "carol", "issued_at": "2026-01-01T00:00:00.000Z",
              "signature": "A" * 86 + "=="}
    approved = {**PENDING, "verdict": "allow", "resolution": "approved", "decisions": [forged]}
    hostile.script(ok(approved))
    with Client(hostile.url, token="t", approver_keys={"carol": gavel.keys["carol"]}) as c:
        with pytest.raises(UnverifiedApproval, match="does not verify"):
            c.guard("stripe.refund", {"amount": 5000}, session="s")
    hostile.script(ok({**approved, "decisions": []}))
    with Client(hostile.url, token="t", approver_keys={"carol": gavel.keys["carol"]}) as c:
        with pytest.raises(UnverifiedApproval, match="no signed decisions"):
            c.guard("stripe.refund", {"amount": 5000}, session="s")


def test_each_call_sends_its_own_idempotency_key(hostile: Hostile) -> None:
    allow = ok({"id": "act_1", "verdict": "allow", "rule": "r", "reason": "fine"})
    hostile.script(allow, allow)
    with Client(hostile.url, token="tok") as c:
        c.guard("orders.get", session="s")
        c.guard("orders.get", session="s")
    keys = [h.get("idempotency-key") for _, _, h in hostile.requests]
    assert all(k and len(k) == 36 for k in keys) and keys[0] != keys[1], keys
    assert hostile.requests[0][2]["authorization"] == "Bearer tok"
