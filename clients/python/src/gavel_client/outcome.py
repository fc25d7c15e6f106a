"""The answers of ``POST /v1/actions`` and ``GET /v1/actions/{id}``, parsed strictly.

Every agent-facing answer is checked field by field: a missing or mistyped field, or a verdict
or resolution this client does not know, is a :class:`ProtocolError`, never a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from .errors import ProtocolError

VERDICTS = frozenset({"allow", "deny", "pending"})
RESOLUTIONS = frozenset({"approved", "denied", "expired", "cancelled"})
VOTES = frozenset({"approve", "deny"})


@dataclass(frozen=True)
class Decision:
    """One person's signed vote on an escalation (the body is what they signed)."""

    escalation: str
    digest: str
    verdict: str
    reason: str
    approver: str
    issued_at: str
    signature: str

    def body(self) -> dict[str, str]:
        """The signed payload: every field but ``signature`` (``DecisionBody`` in wire.rs)."""
        return {
            "escalation": self.escalation,
            "digest": self.digest,
            "verdict": self.verdict,
            "reason": self.reason,
            "approver": self.approver,
            "issued_at": self.issued_at,
        }


@dataclass(frozen=True)
class Review:
    """Where an escalated call's review stands: the group asked now, the approvals in and
    needed, and the digest every decision on it signs."""

    group: str
    approvals_required: int
    approvals_received: int
    digest: str


@dataclass(frozen=True)
class Outcome:
    """What gavel answered about one action. Returned only when the call is allowed."""

    id: str
    verdict: str
    rule: str | None
    reason: str
    escalation: str | None = None
    deadline: datetime | None = None
    resolution: str | None = None
    decisions: tuple[Decision, ...] = ()
    flagged: bool = False
    review: Review | None = None

    @property
    def allowed(self) -> bool:
        return self.verdict == "allow"

    @property
    def final(self) -> bool:
        return self.verdict != "pending"


def _field(obj: dict[str, Any], name: str, kind: type, *, optional: bool = False) -> Any:
    value = obj.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProtocolError(f"gavel's answer has no valid {name!r} ({value!r})")
    return value


_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})\Z"
)


def parse_time(text: str) -> datetime:
    """RFC 3339 with any number of fractional digits (chrono may write nine), as aware UTC."""
    m = _RFC3339.match(text)
    if m is None:
        raise ProtocolError(f"not an RFC 3339 time: {text!r}")
    date, clock, frac, zone = m.groups()
    micros = (frac or "0")[:6].ljust(6, "0")
    offset = "+00:00" if zone in ("Z", "z") else zone
    try:
        t = datetime.fromisoformat(f"{date}T{clock}.{micros}{offset}")
    except ValueError as e:
        raise ProtocolError(f"not an RFC 3339 time: {text!r}") from e
    return t.astimezone(timezone.utc)


def parse_decision(raw: object) -> Decision:
    if not isinstance(raw, dict):
        raise ProtocolError("a decision in gavel's answer is not an object")
    d = Decision(
        escalation=_field(raw, "escalation", str),
        digest=_field(raw, "digest", str),
        verdict=_field(raw, "verdict", str),
        reason=_field(raw, "reason", str),
        approver=_field(raw, "approver", str),
        issued_at=_field(raw, "issued_at", str),
        signature=_field(raw, "signature", str),
    )
    if d.verdict not in VOTES:
        raise ProtocolError(f"a decision has an unknown verdict {d.verdict!r}")
    return d


def parse_review(raw: object) -> Review:
    if not isinstance(raw, dict):
        raise ProtocolError("the review in gavel's answer is not an object")
    r = Review(
        group=_field(raw, "group", str),
        approvals_required=_field(raw, "approvals_required", int),
        approvals_received=_field(raw, "approvals_received", int),
        digest=_field(raw, "digest", str),
    )
    if r.approvals_required < 1 or r.approvals_received < 0:
        raise ProtocolError(f"gavel answered impossible approval counts {r}")
    return r


def parse_outcome(raw: object, *, expect_id: str | None = None) -> Outcome:
    """Checks an answer against the protocol; anything else is a :class:`ProtocolError`."""
    if not isinstance(raw, dict):
        raise ProtocolError("gavel's answer is not a JSON object")
    verdict = _field(raw, "verdict", str)
    if verdict not in VERDICTS:
        raise ProtocolError(f"gavel answered an unknown verdict {verdict!r}")
    resolution = _field(raw, "resolution", str, optional=True)
    if resolution is not None and resolution not in RESOLUTIONS:
        raise ProtocolError(f"gavel answered an unknown resolution {resolution!r}")
    deadline = _field(raw, "deadline", str, optional=True)
    decisions = _field(raw, "decisions", list, optional=True) or []
    flagged = _field(raw, "flagged", bool, optional=True)
    review = raw.get("review")
    out = Outcome(
        id=_field(raw, "id", str),
        verdict=verdict,
        rule=_field(raw, "rule", str, optional=True),
        reason=_field(raw, "reason", str),
        escalation=_field(raw, "escalation", str, optional=True),
        deadline=parse_time(deadline) if deadline is not None else None,
        resolution=resolution,
        decisions=tuple(parse_decision(d) for d in decisions),
        flagged=bool(flagged),
        review=parse_review(review) if review is not None else None,
    )
    if expect_id is not None and out.id != expect_id:
        raise ProtocolError(f"gavel answered about action {out.id!r}, not {expect_id!r}")
    # The three shapes the protocol has; a mix of them is not an answer to act on.
    if verdict == "pending" and (out.escalation is None or resolution is not None):
        raise ProtocolError("a pending answer without an escalation, or with a resolution")
    if verdict == "allow" and resolution not in (None, "approved"):
        raise ProtocolError(f"an allow with resolution {resolution!r}")
    if verdict == "deny" and resolution == "approved":
        raise ProtocolError("a deny with resolution 'approved'")
    if resolution == "approved" and out.escalation is None:
        raise ProtocolError("an approval without an escalation")
    if out.review is not None and out.escalation is None:
        raise ProtocolError("a review without an escalation")
    return out


def seconds_until(t: datetime) -> float:
    """Seconds from now (wall clock) to ``t``; negative when past."""
    return (t - datetime.now(timezone.utc)) / timedelta(seconds=1)
