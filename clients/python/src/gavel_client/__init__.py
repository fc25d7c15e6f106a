"""A Python client for gavel: put a person in the loop of an agent's tool calls.

``guard(tool, args, session=…)`` asks gavel, waits for a person when the call is held for
review, and returns the :class:`Outcome` only when the call is allowed. Every other ending
raises a :class:`NotAllowed` (see :mod:`gavel_client.errors`); no error is ever an allow.
"""

from ._version import __version__
from .aclient import AsyncClient
from .calls import aguard, guard
from .client import Client
from .cost import CostRecorded, LimitUse
from .decorator import guarded
from .errors import (
    Denied,
    GavelUnavailable,
    InvalidCall,
    NotAllowed,
    ProtocolError,
    Refused,
    TimedOut,
    UnverifiedApproval,
)
from .outcome import Decision, Outcome, Review
from .signatures import action_digest, parse_public_key, verify_approval

__all__ = [
    "AsyncClient", "Client", "CostRecorded", "Decision", "Denied", "GavelUnavailable",
    "InvalidCall", "LimitUse", "NotAllowed", "Outcome", "ProtocolError", "Refused", "Review",
    "TimedOut", "UnverifiedApproval",
    "__version__", "action_digest", "aguard", "guard", "guarded", "parse_public_key",
    "verify_approval",
]
