"""The part of a guarded call that does not depend on sync or async I/O: what to send, how to
read an answer, how long to wait, and what an outcome means. ``client.py`` and ``aclient.py``
drive it with their own HTTP."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .errors import Denied, GavelUnavailable, InvalidCall, ProtocolError, Refused
from .outcome import Outcome, parse_outcome, seconds_until
from .signatures import verify_approval

#: How long a withdraw may take at most (the server answers one in milliseconds).
WITHDRAW_TIMEOUT = 3.0
#: The least part of a caller's timeout kept for the withdraw.
MIN_WITHDRAW_RESERVE = 0.25
#: How long a held call is waited on past the server's deadline: the server resolves it as
#: expired at the deadline; this covers only clock skew and a slow answer.
DEADLINE_GRACE = 30.0
#: How long a held call without a server deadline is waited on at most.
MAX_HOLD = 24 * 3600.0
#: The longest ``?wait=`` the server takes.
MAX_POLL = 300
#: Pause before asking again after a connection failure or a ``shutting_down``.
RETRY_PAUSE = 1.0
#: Time to connect, and for a request's answer beyond the long-poll's own wait.
CONNECT_TIMEOUT = 10.0
ANSWER_SLACK = 15.0
#: How long a cost report may take at most (the server answers in milliseconds).
REPORT_TIMEOUT = 10.0
#: How long submitting a call may take at most (the server answers in milliseconds).
SUBMIT_TIMEOUT = 30.0


class RetryLater(Exception):
    """A 503 ``shutting_down`` on a long-poll: nothing was decided; ask again."""

    def __init__(self, after: float) -> None:
        self.after = after
        super().__init__(f"gavel is restarting; ask again in {after} s")


#: The longest ``wait_budget_secs`` the server takes: a week.
MAX_WAIT_BUDGET = 7 * 24 * 3600.0


def wait_budget_secs(wait_budget: float | None, budget: Budget) -> float | None:
    """What the body reports as ``wait_budget_secs``: how long this caller waits for the
    outcome, shown to approvers. An explicit ``wait_budget`` (seconds) wins; otherwise what the
    ``timeout`` leaves for waiting; with neither, nothing (the caller waits until the deadline).
    """
    if wait_budget is not None:
        if (isinstance(wait_budget, bool) or not isinstance(wait_budget, (int, float))
                or not 0 < wait_budget <= MAX_WAIT_BUDGET):
            raise InvalidCall(f"wait_budget must be a number of seconds above 0 and at most "
                              f"{MAX_WAIT_BUDGET:.0f} (a week)")
        return float(wait_budget)
    if math.isinf(budget.stop_waiting):
        return None
    left = round(budget.stop_waiting - time.monotonic(), 3)
    return min(left, MAX_WAIT_BUDGET) if left > 0 else None


def action_body(tool: str, args: Mapping[str, Any] | None, session: str,
                on_behalf_of: str | None, rationale: str | None, cost: float | None,
                parent: str | None, context: Mapping[str, Any] | None,
                wait_budget: float | None = None) -> bytes:
    """The JSON of ``POST /v1/actions``; refuses what JSON cannot carry faithfully."""
    if not isinstance(tool, str) or not isinstance(session, str):
        raise InvalidCall("tool and session must be strings")
    body: dict[str, Any] = {"tool": tool, "args": dict(args or {}), "session": session}
    for name, value in (("on_behalf_of", on_behalf_of), ("rationale", rationale),
                        ("cost", cost), ("parent", parent), ("wait_budget_secs", wait_budget)):
        if value is not None:
            body[name] = value
    if context is not None:
        body["context"] = dict(context)
    try:
        return json.dumps(body, allow_nan=False, separators=(",", ":")).encode()
    except (TypeError, ValueError) as e:
        raise InvalidCall(f"the call cannot be sent as JSON: {e}") from e


def read_answer(status: int, content: bytes, headers: Mapping[str, str],
                expect_id: str | None = None) -> Outcome:
    """An HTTP answer → an outcome, or the error it is. Never an outcome from an error."""
    return parse_outcome(read_json(status, content, headers), expect_id=expect_id)


def read_json(status: int, content: bytes, headers: Mapping[str, str]) -> object:
    """An HTTP answer → its JSON when it is a 200, else the error it is."""
    if 300 <= status < 400:
        raise ProtocolError(f"gavel answered a redirect ({status}); clients never follow one")
    if status >= 400:
        code, message = _error_body(content)
        if status == 503 and code == "shutting_down":
            raise RetryLater(_retry_after(headers))
        if status >= 500:
            raise GavelUnavailable(f"gavel failed to answer ({status} {code}): {message}")
        raise Refused(status, code, message)
    if status != 200:
        raise ProtocolError(f"gavel answered an unexpected status {status}")
    try:
        raw = json.loads(content)
    except (ValueError, UnicodeDecodeError) as e:
        raise ProtocolError(f"gavel's answer is not JSON: {e}") from e
    return raw


def _error_body(content: bytes) -> tuple[str, str]:
    try:
        err = json.loads(content)["error"]
        code, message = err["code"], err["message"]
        if isinstance(code, str) and isinstance(message, str):
            return code, message
    except (ValueError, UnicodeDecodeError, KeyError, TypeError):
        pass
    return "unknown", content[:200].decode("utf-8", "replace")


def _retry_after(headers: Mapping[str, str]) -> float:
    try:
        return min(max(float(headers.get("retry-after", "1")), 0.1), 30.0)
    except ValueError:
        return RETRY_PAUSE


@dataclass
class Budget:
    """The caller's timeout: waiting for a person stops at ``stop_waiting``; the rest, up to
    ``answer_by``, is kept for withdrawing the call (a quarter, between 0.25 s and 3 s)."""

    stop_waiting: float = math.inf
    answer_by: float = math.inf

    @staticmethod
    def of(timeout: float | None) -> Budget:
        if timeout is None:
            return Budget()
        if not timeout > 0:
            raise InvalidCall("timeout must be a positive number of seconds")
        now = time.monotonic()
        reserve = min(max(timeout / 4, MIN_WITHDRAW_RESERVE), WITHDRAW_TIMEOUT, timeout)
        return Budget(stop_waiting=now + timeout - reserve, answer_by=now + timeout)

    def withdraw_timeout(self) -> float:
        """How long a withdraw starting now may take: its own bound, within the budget."""
        return max(0.05, min(WITHDRAW_TIMEOUT, self.answer_by - time.monotonic()))

    def request_timeout(self, wanted: float) -> float:
        return max(0.05, min(wanted, self.stop_waiting - time.monotonic()))


def hold_until(o: Outcome) -> float:
    """When to stop waiting on a pending outcome (monotonic): its deadline plus a grace."""
    if o.deadline is None:
        return time.monotonic() + MAX_HOLD
    return time.monotonic() + max(0.0, seconds_until(o.deadline)) + DEADLINE_GRACE


@dataclass
class Wait:
    """The state of waiting on a held call: the latest pending answer and when to give up."""

    held: Outcome
    budget: Budget
    hold: float = field(init=False)

    def __post_init__(self) -> None:
        self.hold = hold_until(self.held)

    def check(self, answer: Outcome) -> Outcome:
        """An answer while waiting must be about the escalation gavel held the call for."""
        if answer.escalation != self.held.escalation:
            raise ProtocolError(f"gavel answered about escalation {answer.escalation!r}, not "
                                f"{self.held.escalation!r}")
        return answer

    def update(self, pending: Outcome) -> None:
        """A hand-over to a second group moves the deadline later: wait on until the new one."""
        if pending.deadline is not None and (self.held.deadline is None
                                             or pending.deadline > self.held.deadline):
            self.held = pending
            self.hold = hold_until(pending)

    def remaining(self) -> float:
        return min(self.hold, self.budget.stop_waiting) - time.monotonic()

    def out_of_time_reason(self) -> str:
        rule = f"rule {self.held.rule}" if self.held.rule else "no rule"
        if self.budget.stop_waiting <= self.hold:
            return (f"no decision on escalation {self.held.escalation} ({rule}) within the "
                    f"caller's timeout")
        return (f"no decision on escalation {self.held.escalation} ({rule}) by its deadline; "
                f"denied rather than waiting longer")

    @staticmethod
    def poll_seconds(remaining: float) -> int:
        """Whole seconds for ``?wait=``, never past ``remaining`` (0 = look once)."""
        return int(min(MAX_POLL, max(0.0, math.floor(remaining))))


@dataclass(frozen=True)
class Verifier:
    """What an approval must prove: approvers' public keys, how many must approve, and the
    digest of this call when the caller can compute it."""

    keys: Mapping[str, Ed25519PublicKey] | None = None
    min_approvals: int = 1
    digest: str | None = None


def conclude(o: Outcome, verifier: Verifier) -> Outcome:
    """A final outcome → returned when allowed (its approval checked when keys were given),
    else :class:`Denied`."""
    if o.verdict == "allow":
        if o.resolution == "approved" and verifier.keys is not None:
            verify_approval(o, verifier.keys, min_approvals=verifier.min_approvals,
                            digest=verifier.digest)
        return o
    if o.verdict == "deny":
        raise Denied(o)
    raise ProtocolError("asked to conclude an outcome that is still pending")
