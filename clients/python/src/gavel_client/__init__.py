"""A Python client for gavel: put a person in the loop of an agent's tool calls.

``guard(tool, args, session=…)`` asks gavel, waits for a person when the call is held for
review, and returns the :class:`Outcome` only when the call is allowed. Every other ending
raises a :class:`NotAllowed` (see :mod:`gavel_client.errors`); no error is ever an allow.
"""

from __future__ import annotations

__version__ = "0.1.0"

from collections.abc import Mapping  # noqa: E402
from typing import Any  # noqa: E402

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey  # noqa: E402

from .aclient import AsyncClient  # noqa: E402
from .client import Client  # noqa: E402
from .decorator import guarded  # noqa: E402
from .errors import (  # noqa: E402
    Denied,
    GavelUnavailable,
    InvalidCall,
    NotAllowed,
    ProtocolError,
    Refused,
    TimedOut,
    UnverifiedApproval,
)
from .outcome import Decision, Outcome  # noqa: E402
from .signatures import action_digest, parse_public_key, verify_approval  # noqa: E402

__all__ = [
    "AsyncClient", "Client", "Decision", "Denied", "GavelUnavailable", "InvalidCall",
    "NotAllowed", "Outcome", "ProtocolError", "Refused", "TimedOut", "UnverifiedApproval",
    "action_digest", "aguard", "guard", "guarded", "parse_public_key", "verify_approval",
]

Keys = Mapping[str, str | Ed25519PublicKey]


def guard(tool: str, args: Mapping[str, Any] | None = None, *, session: str,
          client: Client | None = None, on_behalf_of: str | None = None,
          rationale: str | None = None, cost: float | None = None, parent: str | None = None,
          context: Mapping[str, Any] | None = None, timeout: float | None = None,
          approver_keys: Keys | None = None, digest: str | None = None) -> Outcome:
    """:meth:`Client.guard` on ``client``, or on a client made from ``GAVEL_SERVER`` (a
    comma-separated list is tried in order on connection failure), ``GAVEL_AGENT_TOKEN`` and
    ``GAVEL_CA_CERT`` for this one call."""
    if client is not None:
        return client.guard(tool, args, session=session, on_behalf_of=on_behalf_of,
                            rationale=rationale, cost=cost, parent=parent, context=context,
                            timeout=timeout, approver_keys=approver_keys, digest=digest)
    with Client() as c:
        return c.guard(tool, args, session=session, on_behalf_of=on_behalf_of,
                       rationale=rationale, cost=cost, parent=parent, context=context,
                       timeout=timeout, approver_keys=approver_keys, digest=digest)


async def aguard(tool: str, args: Mapping[str, Any] | None = None, *, session: str,
                 client: AsyncClient | None = None, on_behalf_of: str | None = None,
                 rationale: str | None = None, cost: float | None = None,
                 parent: str | None = None, context: Mapping[str, Any] | None = None,
                 timeout: float | None = None, approver_keys: Keys | None = None,
                 digest: str | None = None) -> Outcome:
    """The asyncio :func:`guard`."""
    if client is not None:
        return await client.guard(tool, args, session=session, on_behalf_of=on_behalf_of,
                                  rationale=rationale, cost=cost, parent=parent,
                                  context=context, timeout=timeout,
                                  approver_keys=approver_keys, digest=digest)
    async with AsyncClient() as c:
        return await c.guard(tool, args, session=session, on_behalf_of=on_behalf_of,
                             rationale=rationale, cost=cost, parent=parent, context=context,
                             timeout=timeout, approver_keys=approver_keys, digest=digest)
