"""Every way a guarded call can end without being allowed.

All of them derive from :class:`NotAllowed`: whatever the cause (a policy deny, a person's deny, a
review nobody decided in time, an unreachable server, an answer that is not gavel's protocol, an
approval whose signatures do not verify), the call must not run. Catch ``NotAllowed`` to handle
every one; catch a subclass to tell them apart. Nothing in this package ever turns an error into
an allow: a function that returns an :class:`~gavel_client.Outcome` returns only what gavel allowed.

Cancellation is not a ``NotAllowed``: an ``asyncio`` cancellation or a ``KeyboardInterrupt`` is
re-raised as it came, after the held call is withdrawn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .outcome import Decision, Outcome


class NotAllowed(Exception):
    """The call is not allowed: do not run it. Base of every error this package raises."""


class Denied(NotAllowed):
    """gavel decided: the call is denied (by policy, a kill switch, or a person), or its review
    expired or was cancelled.

    ``resolution`` is ``None`` for a deny at submission, else ``denied``, ``expired`` or
    ``cancelled``; ``decisions`` are the signed votes, if a person voted.
    """

    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome
        self.action_id: str = outcome.id
        self.reason: str = outcome.reason
        self.rule: str | None = outcome.rule
        self.resolution: str | None = outcome.resolution
        self.escalation: str | None = outcome.escalation
        self.decisions: tuple[Decision, ...] = outcome.decisions
        rule = f"rule {self.rule}" if self.rule else "no rule"
        what = f" ({self.resolution})" if self.resolution else ""
        super().__init__(f"denied by gavel{what}: {self.reason} [{rule}]")


class TimedOut(NotAllowed):
    """No decision came in time: the caller's ``timeout`` ran out, or the review's deadline passed
    without a final answer. The held call was withdrawn when ``withdrawn`` is true (its escalation
    is cancelled, so nobody approves a call that will never run); otherwise it stays open until
    its deadline closes it."""

    def __init__(self, message: str, *, action_id: str | None, escalation: str | None,
                 withdrawn: bool) -> None:
        self.action_id = action_id
        self.escalation = escalation
        self.withdrawn = withdrawn
        super().__init__(message)


class GavelUnavailable(NotAllowed):
    """No usable answer from gavel: no server reachable, a 5xx, a request that timed out, or no
    agent token configured. Nothing is allowed without an answer."""


class ProtocolError(GavelUnavailable):
    """An answer that is not gavel's protocol: not JSON, a missing or mistyped field, an
    unexpected verdict, a redirect. Treated like no answer at all."""


class Refused(NotAllowed):
    """The server refused the request itself (a 4xx): a wrong token, an invalid request, an
    ``on_behalf_of`` the agent may not use, an unknown action id. ``code`` is the protocol's
    error code (docs/PROTOCOL.md, Errors)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status = status
        self.code = code
        self.message = message
        super().__init__(f"gavel refused the request ({status} {code}): {message}")


class UnverifiedApproval(NotAllowed):
    """gavel said approved, but the approvers' signatures on the decisions do not prove it
    against the public keys this client was given. The approval is not trusted."""

    def __init__(self, message: str, outcome: Outcome) -> None:
        self.outcome = outcome
        super().__init__(message)


class InvalidCall(NotAllowed, ValueError):
    """The call cannot be sent as given (its args are not JSON, a float is not finite…).
    Nothing was sent."""
