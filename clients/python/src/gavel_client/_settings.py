"""Where the client connects and as whom: arguments, else ``GAVEL_SERVER``, ``GAVEL_AGENT_TOKEN``
and ``GAVEL_CA_CERT`` (the same variables as gavel's own adapters)."""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .errors import GavelUnavailable, InvalidCall

DEFAULT_SERVER = "http://127.0.0.1:7878"


@dataclass(frozen=True)
class Settings:
    servers: tuple[str, ...]
    token: str
    ca_cert: str | None


def split_servers(value: str | Sequence[str]) -> tuple[str, ...]:
    """``"https://a:7878, https://b:7878"`` or a list → URLs without a trailing slash."""
    items = value.split(",") if isinstance(value, str) else list(value)
    urls = tuple(u.strip().rstrip("/") for u in items if u.strip())
    if not urls:
        raise InvalidCall("no gavel server URL was given")
    for u in urls:
        if not (u.startswith("http://") or u.startswith("https://")):
            raise InvalidCall(f"a gavel server URL must start with http:// or https://: {u!r}")
    return urls


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
