"""``guard`` and ``aguard``: one call, on a given client or on one made from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .aclient import AsyncClient
from .client import Client
from .outcome import Outcome

Keys = Mapping[str, str | Ed25519PublicKey]


def guard(tool: str, args: Mapping[str, Any] | None = None, *, session: str,
          client: Client | None = None, on_behalf_of: str | None = None,
          rationale: str | None = None, cost: float | None = None, parent: str | None = None,
          context: Mapping[str, Any] | None = None, timeout: float | None = None,
          approver_keys: Keys | None = None, digest: str | None = None,
          wait_budget: float | None = None) -> Outcome:
    """:meth:`Client.guard` on ``client``, or on a client made from ``GAVEL_SERVER`` (a
    comma-separated list is tried in order on connection failure), ``GAVEL_AGENT_TOKEN`` and
    ``GAVEL_CA_CERT`` for this one call."""
    if client is not None:
        return client.guard(tool, args, session=session, on_behalf_of=on_behalf_of,
                            rationale=rationale, cost=cost, parent=parent, context=context,
                            timeout=timeout, approver_keys=approver_keys, digest=digest,
                            wait_budget=wait_budget)
    with Client() as c:
        return c.guard(tool, args, session=session, on_behalf_of=on_behalf_of,
                       rationale=rationale, cost=cost, parent=parent, context=context,
                       timeout=timeout, approver_keys=approver_keys, digest=digest,
                       wait_budget=wait_budget)


async def aguard(tool: str, args: Mapping[str, Any] | None = None, *, session: str,
                 client: AsyncClient | None = None, on_behalf_of: str | None = None,
                 rationale: str | None = None, cost: float | None = None,
                 parent: str | None = None, context: Mapping[str, Any] | None = None,
                 timeout: float | None = None, approver_keys: Keys | None = None,
                 digest: str | None = None, wait_budget: float | None = None) -> Outcome:
    """The asyncio :func:`guard`."""
    if client is not None:
        return await client.guard(tool, args, session=session, on_behalf_of=on_behalf_of,
                                  rationale=rationale, cost=cost, parent=parent,
                                  context=context, timeout=timeout,
                                  approver_keys=approver_keys, digest=digest,
                                  wait_budget=wait_budget)
    async with AsyncClient() as c:
        return await c.guard(tool, args, session=session, on_behalf_of=on_behalf_of,
                             rationale=rationale, cost=cost, parent=parent, context=context,
                             timeout=timeout, approver_keys=approver_keys, digest=digest,
                             wait_budget=wait_budget)
