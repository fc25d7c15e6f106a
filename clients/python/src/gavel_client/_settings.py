"""Where the client connects and as whom: arguments, else ``GAVEL_SERVER``, ``GAVEL_AGENT_TOKEN``
and ``GAVEL_CA_CERT`` (the same variables as gavel's own adapters)."""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import GavelUnavailable, InvalidCall

DEFAULT_SERVER = "http://127.0.0.1:7878"


@dataclass(frozen=True)
class Settings:
    servers: tuple[str, ...]
    token: str
    ca_cert: str | None


def split_servers(value: str | Sequence[str]) -> tuple[str, ...]:
    """``"https://a:7878, https://b:7878"`` or a list (whose items may hold commas too) → the
    URLs in order, trimmed, without a trailing slash. An empty entry (``a,,b``, a trailing
    comma), a server listed twice (also spelt ``http://A:7878/`` beside ``http://a:7878``) and
    anything not an ``http://`` or ``https://`` server address raise :class:`InvalidCall`: a
    typo in a failover list must not silently leave a replica out."""
    values = [value] if isinstance(value, str) else list(value)
    urls: list[str] = []
    seen: set[tuple[str, str, int, str]] = set()
    for v in values:
        for entry in v.split(","):
            u = entry.strip()
            if not u:
                raise InvalidCall(f"the server list {v!r} has an empty entry: separate URLs with "
                                  f"single commas, without one at the end")
            same = _checked(u)
            if same in seen:
                raise InvalidCall(f"server {u!r} is listed twice: list each replica once")
            seen.add(same)
            urls.append(u.rstrip("/"))
    if not urls:
        raise InvalidCall("no gavel server URL was given")
    return tuple(urls)


def _checked(url: str) -> tuple[str, str, int, str]:
    """``url`` checked as a server address; the form by which two spellings of one compare
    equal."""
    bad = InvalidCall(f"a gavel server URL must be http:// or https:// and a host, with no query: "
                      f"{url!r}")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise bad from e
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or parts.query \
            or parts.fragment:
        raise bad
    scheme = parts.scheme.lower()
    default = 443 if scheme == "https" else 80
    return scheme, parts.hostname.lower(), port or default, parts.path.rstrip("/")


def resolve(server: str | Sequence[str] | None, token: str | None, ca_cert: str | None,
            env: Mapping[str, str] | None = None) -> Settings:
    """Arguments win over the environment. No token is an error: gavel would refuse every call."""
    env = os.environ if env is None else env
    servers = split_servers(server if server is not None else env.get("GAVEL_SERVER")
                            or DEFAULT_SERVER)
    token = token if token is not None else env.get("GAVEL_AGENT_TOKEN")
    if not token:
        raise GavelUnavailable(
            "no agent token: set GAVEL_AGENT_TOKEN (printed by `gavel agent-token`) or pass token=")
    ca = ca_cert if ca_cert is not None else env.get("GAVEL_CA_CERT") or None
    return Settings(servers=servers, token=token, ca_cert=ca)


def tls_context(ca_cert: str | None) -> ssl.SSLContext:
    """The system's trusted roots, plus a private CA when one is given."""
    ctx = ssl.create_default_context()
    if ca_cert is not None:
        try:
            ctx.load_verify_locations(cafile=ca_cert)
        except (OSError, ssl.SSLError) as e:
            raise InvalidCall(f"cannot read the CA certificate {ca_cert}: {e}") from e
    return ctx
