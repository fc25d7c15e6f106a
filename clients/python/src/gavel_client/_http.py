"""What the sync and async clients share about HTTP: the agent endpoints' paths, headers,
the order servers are tried in, and how transport errors are named."""

from __future__ import annotations

from urllib.parse import quote

import httpx

from ._flow import CONNECT_TIMEOUT
from ._version import __version__
from .errors import GavelUnavailable


class Unreachable(GavelUnavailable):
    """No server could be connected to (nothing was sent): safe to try again or elsewhere."""


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
    """Servers in the order given. A request goes to the one that answered last, then to the
    others in turn, but only on a connection failure: a request that reached a server is never
    sent again elsewhere, so a deny is never retried until something says yes."""

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


def http_error(e: httpx.HTTPError, url: str, timeout: float) -> GavelUnavailable:
    """A request that may have reached the server but got no answer."""
    if isinstance(e, httpx.TimeoutException):
        return GavelUnavailable(f"gavel at {url} did not answer within {timeout:.1f} s, so "
                                f"nothing is allowed (if it recorded the call, its deadline "
                                f"closes it)")
    return GavelUnavailable(f"lost the connection to gavel at {url}, so nothing is allowed: "
                            f"{type(e).__name__}: {e}")
