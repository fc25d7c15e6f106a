"""What the sync and async clients share about HTTP: the agent endpoints' paths, headers,
the order servers are tried in, when to move to the next, and how transport errors are named."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

import httpx

from . import _flow
from ._flow import CONNECT_TIMEOUT
from ._version import __version__
from .errors import GavelUnavailable


class Unreachable(GavelUnavailable):
    """No server gave an answer: none could be connected to, or (with several) each failed in
    its own way. Asking again is safe: every request this client makes is safe to repeat."""


class paths:
    @staticmethod
    def actions() -> str:
        return "/v1/actions"

    @staticmethod
    def outcome(action_id: str, wait: int) -> str:
        return f"/v1/actions/{quote(action_id, safe='')}?wait={wait}"

    @staticmethod
    def withdraw(action_id: str) -> str:
        return f"/v1/actions/{quote(action_id, safe='')}/withdraw"

    @staticmethod
    def cost(action_id: str) -> str:
        return f"/v1/actions/{quote(action_id, safe='')}/cost"


def auth_headers(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}", "accept": "application/json",
            "user-agent": f"gavel-client-python/{__version__}"}


class Exchange:
    """Servers in the order given. A request goes to the one that answered last (sticky), then
    to the others in turn, but only when one did not answer: no connection, no answer after the
    request was sent, or a 503 (not ready, its store down, shutting down: nothing recorded).
    Every request this client makes is safe to repeat: a submission carries an
    ``Idempotency-Key`` (a second replica returns the first's action), reads are reads, and a
    withdraw or a cost report finds its work done. Any other answer — an allow, a deny, a 4xx —
    is the answer: a deny is never retried until something says yes."""

    def __init__(self, servers: tuple[str, ...]) -> None:
        self.servers = servers
        self._current = 0

    def order(self) -> list[str]:
        n = len(self.servers)
        return [self.servers[(self._current + i) % n] for i in range(n)]

    def answered(self, url: str) -> None:
        self._current = self.servers.index(url)

    @staticmethod
    def timeout(total: float) -> httpx.Timeout:
        return httpx.Timeout(total, connect=min(CONNECT_TIMEOUT, total))

    def unreachable(self, last: Exception | None) -> Unreachable:
        return Unreachable(f"no gavel server could be reached ({', '.join(self.servers)}), so "
                           f"nothing is allowed: {last}")


class Tried:
    """What each server did with one request that none answered; the error to raise. With
    one server it is that server's own error, as it always was."""

    def __init__(self) -> None:
        self._failures: list[tuple[str, str, Exception]] = []

    def not_sent(self, url: str, e: httpx.HTTPError, exchange: Exchange) -> None:
        err = exchange.unreachable(e)
        err.__cause__ = e
        self._failures.append((url, _named(e), err))

    def no_answer(self, url: str, e: httpx.HTTPError, timeout: float) -> None:
        err = http_error(e, url, timeout)
        err.__cause__ = e
        self._failures.append((url, f"no answer: {_named(e)}", err))

    def unavailable(self, url: str, status: int, content: bytes,
                    headers: Mapping[str, str]) -> None:
        """A 503: what it would raise alone (a ``RetryLater`` for ``shutting_down``)."""
        try:
            _flow.read_json(status, content, headers)
            err: Exception = GavelUnavailable(f"gavel at {url} answered {status}")
        except Exception as e:  # noqa: BLE001 — kept to raise below
            err = e
        self._failures.append((url, f"answered {status}: {err}", err))

    def error(self) -> Exception:
        if len(self._failures) == 1:
            return self._failures[0][2]
        each = "; ".join(f"{url} ({what})" for url, what, _ in self._failures)
        return Unreachable(f"no gavel server answered, so nothing is allowed: {each}")


def _named(e: Exception) -> str:
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


def http_error(e: httpx.HTTPError, url: str, timeout: float) -> GavelUnavailable:
    """A request that may have reached the server but got no answer."""
    if isinstance(e, httpx.TimeoutException):
        return GavelUnavailable(f"gavel at {url} did not answer within {timeout:.1f} s, so "
                                f"nothing is allowed (if it recorded the call, its deadline "
                                f"closes it)")
    return GavelUnavailable(f"lost the connection to gavel at {url}, so nothing is allowed: "
                            f"{type(e).__name__}: {e}")
