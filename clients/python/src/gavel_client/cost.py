"""Reporting what a finished call actually cost (``POST /v1/actions/{id}/cost``), and the
answer: the cost recorded and the agent's limits' use with it, parsed strictly.

A call's ``cost=`` at :func:`~gavel_client.guard` is an estimate, judged against the policy's
``[[limit]]`` cost envelopes before the call runs. Once the call has run, the agent reports the
actual cost and gavel counts that instead, so the next calls are judged on what was spent.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .errors import InvalidCall, ProtocolError
from .outcome import _field, parse_time

LIMIT_SCOPES = frozenset({"agent", "session"})
LIMIT_STATES = frozenset({"ok", "warning", "exceeded"})


@dataclass(frozen=True)
class LimitUse:
    """One limit's use in its current window, for the agent (``per == "agent"``) or one of its
    sessions. ``max_calls`` and ``max_cost`` include no grace; ``grace_calls`` and
    ``grace_cost`` are what people approved on top of them this window. ``share`` is the
    larger of calls and cost as a share of its maximum with grace; ``state`` is ``ok``,
    ``warning`` (past ``warn_at``) or ``exceeded``."""

    limit: str
    per: str
    agent: str
    session: str | None
    window_secs: int
    resets_at: datetime
    calls: int
    max_calls: int | None
    cost: float
    max_cost: float | None
    grace_calls: int
    grace_cost: float
    share: float
    state: str


@dataclass(frozen=True)
class CostRecorded:
    """gavel's answer to a cost report. ``previous`` is the cost the call had before (its
    estimate or an earlier report); ``counted`` says whether a current window counted the
    call, so ``limits`` (the agent's limits' use now) changed with the report."""

    action: str
    cost: float
    previous: float | None
    counted: bool
    limits: tuple[LimitUse, ...]


def cost_body(cost: float) -> bytes:
    """The JSON of a cost report; refuses a cost gavel would refuse, before anything is sent."""
    if isinstance(cost, bool) or not isinstance(cost, (int, float)):
        raise InvalidCall(f"a call's cost must be a number, not {type(cost).__name__}")
    if not math.isfinite(cost) or cost < 0:
        raise InvalidCall(f"a call's cost must be a finite number of 0 or more, not {cost!r}")
    return json.dumps({"cost": float(cost)}, allow_nan=False, separators=(",", ":")).encode()


def _number(obj: dict[str, Any], name: str, *, optional: bool = False) -> float | None:
    value = obj.get(name)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ProtocolError(f"gavel's answer has no valid {name!r} ({value!r})")
    return float(value)


def _count(obj: dict[str, Any], name: str, *, optional: bool = False) -> int | None:
    value: int | None = _field(obj, name, int, optional=optional)
    if value is not None and value < 0:
        raise ProtocolError(f"gavel's answer has a negative {name!r} ({value!r})")
    return value


def parse_limit_use(raw: object) -> LimitUse:
    if not isinstance(raw, dict):
        raise ProtocolError("a limit's use in gavel's answer is not an object")
    per = _field(raw, "per", str)
    state = _field(raw, "state", str)
    if per not in LIMIT_SCOPES or state not in LIMIT_STATES:
        raise ProtocolError(f"gavel answered an unknown limit scope or state ({per!r}, {state!r})")
    return LimitUse(
        limit=_field(raw, "limit", str),
        per=per,
        agent=_field(raw, "agent", str),
        session=_field(raw, "session", str, optional=True),
        window_secs=_count(raw, "window_secs") or 0,
        resets_at=parse_time(_field(raw, "resets_at", str)),
        calls=_count(raw, "calls") or 0,
        max_calls=_count(raw, "max_calls", optional=True),
        cost=_number(raw, "cost") or 0.0,
        max_cost=_number(raw, "max_cost", optional=True),
        grace_calls=_count(raw, "grace_calls", optional=True) or 0,
        grace_cost=_number(raw, "grace_cost", optional=True) or 0.0,
        share=_number(raw, "share") or 0.0,
        state=state,
    )


def parse_cost_recorded(raw: object, *, expect_id: str) -> CostRecorded:
    """Checks the answer against the protocol; anything else is a :class:`ProtocolError`."""
    if not isinstance(raw, dict):
        raise ProtocolError("gavel's answer is not a JSON object")
    limits = _field(raw, "limits", list, optional=True) or []
    out = CostRecorded(
        action=_field(raw, "action", str),
        cost=_number(raw, "cost") or 0.0,
        previous=_number(raw, "previous", optional=True),
        counted=_field(raw, "counted", bool),
        limits=tuple(parse_limit_use(x) for x in limits),
    )
    if out.action != expect_id:
        raise ProtocolError(f"gavel answered about action {out.action!r}, not {expect_id!r}")
    return out
