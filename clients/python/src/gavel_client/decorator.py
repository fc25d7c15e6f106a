"""``@guarded("stripe.refund", session=…)``: a tool function that runs only when gavel allows
the call, with the function's bound arguments as the action's ``args``."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, ParamSpec, TypeVar, cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .aclient import AsyncClient
from .calls import aguard, guard
from .client import Client

P = ParamSpec("P")
R = TypeVar("R")

Session = str | Callable[[], str]


def guarded(tool: str, *, session: Session, client: Client | AsyncClient | None = None,
            on_behalf_of: str | None = None, rationale: str | None = None,
            context: Mapping[str, Any] | None = None, timeout: float | None = None,
            approver_keys: Mapping[str, str | Ed25519PublicKey] | None = None,
            exclude: Iterable[str] = ("self", "cls"),
            wait_budget: float | None = None) -> Callable[[Callable[P, R]],
                                                                   Callable[P, R]]:
    """Guards every call of the decorated function (sync or ``async def``).

    The call's arguments, bound to the function's signature with defaults applied (minus the
    names in ``exclude``), are the action's ``args``, so a policy sees exactly what the tool
    will get. ``session`` may be a function, called for each call. Without ``client``, each
    call reads ``GAVEL_SERVER``, ``GAVEL_AGENT_TOKEN`` and ``GAVEL_CA_CERT``. The function runs
    only when gavel allows; otherwise the :class:`~gavel_client.NotAllowed` propagates.
    """
    skip = frozenset(exclude)

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        signature = inspect.signature(fn)

        def bound_args(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            return {k: v for k, v in bound.arguments.items() if k not in skip}

        def session_id() -> str:
            return session() if callable(session) else session

        if inspect.iscoroutinefunction(fn):
            if isinstance(client, Client):
                raise TypeError("an async tool function needs an AsyncClient (or none)")
            async_fn = cast(Callable[..., Awaitable[Any]], fn)

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                await aguard(tool, bound_args(args, kwargs), session=session_id(),
                             client=client,
                             on_behalf_of=on_behalf_of, rationale=rationale, context=context,
                             timeout=timeout, approver_keys=approver_keys,
                             wait_budget=wait_budget)
                return await async_fn(*args, **kwargs)

            return cast(Callable[P, R], async_wrapper)

        if isinstance(client, AsyncClient):
            raise TypeError("a sync tool function needs a Client (or none)")

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            guard(tool, bound_args(args, kwargs), session=session_id(),
                  client=client, on_behalf_of=on_behalf_of,
                  rationale=rationale, context=context, timeout=timeout,
                  approver_keys=approver_keys, wait_budget=wait_budget)
            return fn(*args, **kwargs)

        return wrapper

    return decorate
