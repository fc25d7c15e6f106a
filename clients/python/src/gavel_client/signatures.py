"""Checking approvers' Ed25519 signatures on the decisions of an approved outcome.

A signature covers ``gavel-v1:decision:`` followed by the RFC 8785 (JCS) canonical JSON of the
decision body (every field but ``signature``), exactly as ``src/protocol/signing.rs`` makes it.
Keys are written ``ed25519:<base64 of 32 bytes>`` as in roster.toml.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .errors import InvalidCall, UnverifiedApproval
from .outcome import Decision, Outcome

PREFIX = "ed25519:"


def _b64(text: str, size: int, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ValueError(f"{what} is not base64") from e
    if len(raw) != size:
        raise ValueError(f"{what} is {len(raw)} bytes, not {size}")
    return raw


def parse_public_key(text: str) -> Ed25519PublicKey:
    """``ed25519:<base64>`` → a key; anything else is a ``ValueError``."""
    body = text.strip()
    if not body.startswith(PREFIX):
        raise ValueError("a public key must look like ed25519:<base64 of 32 bytes>")
    return Ed25519PublicKey.from_public_bytes(_b64(body[len(PREFIX):], 32, "the public key"))


def parse_keys(keys: Mapping[str, str | Ed25519PublicKey]) -> dict[str, Ed25519PublicKey]:
    """Person id → public key, from roster-style strings or ready keys."""
    out: dict[str, Ed25519PublicKey] = {}
    for person, key in keys.items():
        try:
            out[person] = key if isinstance(key, Ed25519PublicKey) else parse_public_key(key)
        except ValueError as e:
            raise InvalidCall(f"approver key of {person!r}: {e}") from e
    return out


def signed_message(purpose: str, payload: Any) -> bytes:
    """What gavel signs for ``purpose``: the purpose prefix, then the canonical JSON."""
    return f"gavel-v1:{purpose}:".encode() + rfc8785.dumps(payload)


def action_digest(*, agent: str, tool: str, args: Any, session: str,
                  on_behalf_of: str | None, policy_version: str) -> str:
    """The digest an approver signs: ``sha256:<hex>`` of the canonical JSON of the action
    (docs/PROTOCOL.md, Signatures). ``on_behalf_of`` is the bound value (``None`` when the agent
    acts for nobody)."""
    payload = {"agent": agent, "tool": tool, "args": args, "session": session,
               "on_behalf_of": on_behalf_of, "policy_version": policy_version}
    return "sha256:" + hashlib.sha256(rfc8785.dumps(payload)).hexdigest()


def decision_verifies(decision: Decision, key: Ed25519PublicKey) -> bool:
    try:
        signature = _b64(decision.signature, 64, "the signature")
        key.verify(signature, signed_message("decision", decision.body()))
    except (ValueError, InvalidSignature, rfc8785.CanonicalizationError):
        return False
    return True


def verify_approval(outcome: Outcome, keys: Mapping[str, Ed25519PublicKey], *,
                    min_approvals: int = 1, digest: str | None = None) -> None:
    """Raises :class:`UnverifiedApproval` unless every decision on ``outcome`` is signed by the
    key given for its approver, is about this escalation and one digest (``digest`` when the
    caller computed it, and the review's), and at least ``min_approvals`` distinct people
    approved (never fewer than the review says the rule requires)."""

    def fail(why: str) -> UnverifiedApproval:
        return UnverifiedApproval(
            f"approval of escalation {outcome.escalation} not trusted: {why}", outcome)

    if outcome.resolution != "approved" or outcome.escalation is None:
        raise fail("the outcome is not an approval")
    if not outcome.decisions:
        raise fail("it carries no signed decisions")
    digests = {d.digest for d in outcome.decisions}
    if len(digests) != 1:
        raise fail(f"its decisions sign different digests {sorted(digests)}")
    if digest is not None and digests != {digest}:
        raise fail(f"the decisions sign {digests.pop()}, not this call's {digest}")
    if outcome.review is not None:
        if digests != {outcome.review.digest}:
            raise fail(f"the decisions sign {sorted(digests)}, not the escalation's "
                       f"{outcome.review.digest}")
        min_approvals = max(min_approvals, outcome.review.approvals_required)
    approvers: set[str] = set()
    for d in outcome.decisions:
        if d.escalation != outcome.escalation:
            raise fail(f"a decision by {d.approver!r} is about escalation {d.escalation!r}")
        key = keys.get(d.approver)
        if key is None:
            raise fail(f"no public key was given for approver {d.approver!r}")
        if not decision_verifies(d, key):
            raise fail(f"the signature of {d.approver!r} does not verify")
        if d.verdict == "approve":
            approvers.add(d.approver)
    if len(approvers) < min_approvals:
        raise fail(f"{len(approvers)} verified approval(s), {min_approvals} required")
