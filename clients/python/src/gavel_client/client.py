"""The synchronous client: ``Client(...).guard(tool, args, session=…)``."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from . import _flow
from ._flow import Budget, RetryLater, Verifier, Wait
from ._http import Exchange, Tried, Unreachable, auth_headers, paths
from ._settings import resolve, tls_context
from .cost import CostRecorded, cost_body, parse_cost_recorded
from .errors import GavelUnavailable, NotAllowed, TimedOut
from .outcome import Outcome, parse_outcome
from .signatures import parse_keys


class Client:
    """An agent's connection to gavel (one or more servers, tried in order on connection failure).

    ``approver_keys`` (person id → ``ed25519:<base64>``, as in roster.toml) makes every approved
    outcome prove itself: each decision must be signed by its approver's key, else
    :class:`~gavel_client.UnverifiedApproval` is raised.
    """

    def __init__(self, server: str | Sequence[str] | None = None, *, token: str | None = None,
                 ca_cert: str | None = None,
                 approver_keys: Mapping[str, str | Ed25519PublicKey] | None = None,
                 min_approvals: int = 1, env: Mapping[str, str] | None = None) -> None:
        s = resolve(server, token, ca_cert, env)
        self._exchange = Exchange(s.servers)
        self._headers = auth_headers(s.token)
        self._keys = parse_keys(approver_keys) if approver_keys is not None else None
        self._min_approvals = min_approvals
        self._http = httpx.Client(verify=tls_context(s.ca_cert), trust_env=False,
                                  follow_redirects=False)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def guard(self, tool: str, args: Mapping[str, Any] | None = None, *, session: str,
              on_behalf_of: str | None = None, rationale: str | None = None,
              cost: float | None = None, parent: str | None = None,
              context: Mapping[str, Any] | None = None, timeout: float | None = None,
              approver_keys: Mapping[str, str | Ed25519PublicKey] | None = None,
              digest: str | None = None, wait_budget: float | None = None) -> Outcome:
        """Asks gavel for this call and, when it is held for review, waits for the decision.

        Returns the outcome only when the call is allowed; raises a
        :class:`~gavel_client.NotAllowed` otherwise (see ``errors``). ``timeout`` bounds the
        whole call in seconds; a call still held then (or past its review deadline) is withdrawn
        and :class:`~gavel_client.TimedOut` raised. A ``KeyboardInterrupt`` while waiting
        withdraws the call, then propagates. ``digest``, when given, is what the approvals must
        sign (see :func:`~gavel_client.action_digest`). ``wait_budget`` (seconds) tells the
        approvers how long this caller waits for the outcome (``wait_budget_secs``); by default
        it is what ``timeout`` leaves for waiting, and without either nothing is sent.
        """
        budget = Budget.of(timeout)
        body = _flow.action_body(tool, args, session, on_behalf_of, rationale, cost, parent,
                                 context, _flow.wait_budget_secs(wait_budget, budget))
        keys = parse_keys(approver_keys) if approver_keys is not None else self._keys
        verifier = Verifier(keys, self._min_approvals, digest)
        first = self.submit_raw(body, idempotency_key=str(uuid.uuid4()),
                                timeout=budget.request_timeout(_flow.SUBMIT_TIMEOUT))
        if first.final:
            return _flow.conclude(first, verifier)
        return self._wait(Wait(first, budget), verifier)

    def _wait(self, w: Wait, verifier: Verifier) -> Outcome:
        action = w.held.id
        try:
            while True:
                remaining = w.remaining()
                if remaining <= 0:
                    return self._give_up(w, w.out_of_time_reason(), verifier)
                secs = Wait.poll_seconds(remaining)
                if secs == 0:
                    time.sleep(remaining)
                try:
                    out = w.check(self.outcome(action, wait=secs))
                except RetryLater as r:
                    time.sleep(min(r.after, max(remaining, 0.0)))
                    continue
                except Unreachable:
                    time.sleep(min(_flow.RETRY_PAUSE, max(remaining, 0.0)))
                    continue
                if out.final:
                    break
                w.update(out)
        except NotAllowed:
            self._withdraw_quietly(action, w.budget)
            raise
        except BaseException:
            # KeyboardInterrupt, SystemExit: nobody is left to run the call.
            self._withdraw_quietly(action, w.budget)
            raise
        return _flow.conclude(out, verifier)

    def _give_up(self, w: Wait, because: str, verifier: Verifier) -> Outcome:
        ids = {"action_id": w.held.id, "escalation": w.held.escalation}
        try:
            o = self.withdraw(w.held.id, timeout=w.budget.withdraw_timeout())
        except (NotAllowed, RetryLater) as e:
            raise TimedOut(f"{because}; withdrawing it failed ({e}), so it stays open until "
                           f"its deadline", withdrawn=False, **ids) from e
        if o.resolution == "cancelled":
            raise TimedOut(f"{because}; withdrawn", withdrawn=True, **ids)
        if o.final:
            # A decision landed just before the withdraw: it stands.
            return _flow.conclude(o, verifier)
        raise TimedOut(f"{because}; gavel did not withdraw it", withdrawn=False, **ids)

    def _withdraw_quietly(self, action: str, budget: Budget) -> None:
        try:
            self.withdraw(action, timeout=budget.withdraw_timeout())
        except Exception:  # noqa: BLE001
            pass  # The deadline closes it; what stopped the wait is what the caller gets.

    # The agent endpoints, for callers that drive the protocol themselves.

    def submit_raw(self, body: bytes, *, idempotency_key: str,
                   timeout: float = _flow.SUBMIT_TIMEOUT) -> Outcome:
        """``POST /v1/actions`` with a JSON body; any verdict, pending included."""
        headers = {**self._headers, "content-type": "application/json",
                   "idempotency-key": idempotency_key}
        return self._call("POST", paths.actions(), body, headers, timeout, None)

    def outcome(self, action_id: str, *, wait: int = 0) -> Outcome:
        """``GET /v1/actions/{id}?wait=`` (a long-poll of up to ``wait`` seconds)."""
        return self._call("GET", paths.outcome(action_id, wait), None, self._headers,
                          wait + _flow.ANSWER_SLACK, action_id)

    def withdraw(self, action_id: str, *, timeout: float = _flow.WITHDRAW_TIMEOUT) -> Outcome:
        """``POST /v1/actions/{id}/withdraw``: cancels a pending call; a final one is returned
        unchanged."""
        return self._call("POST", paths.withdraw(action_id), None, self._headers, timeout,
                          action_id)

    def report_cost(self, action_id: str, cost: float, *,
                    timeout: float = _flow.REPORT_TIMEOUT) -> CostRecorded:
        """``POST /v1/actions/{id}/cost``: what a call that ran actually cost, in the units of
        the policy's ``max_cost``. It replaces the ``cost=`` estimate the call was judged with
        in every limit that counted it, so the next calls are judged on what was spent.

        Returns the :class:`~gavel_client.CostRecorded` (the cost, the estimate it replaced,
        and the agent's limits' use now). A cost that is not a finite number of 0 or more raises
        :class:`~gavel_client.InvalidCall` before anything is sent; a refusal (another agent's
        or an unknown action: ``not_found``; a denied call, which never ran:
        ``action_denied``; a cost above gavel's bound: ``invalid_request``) raises
        :class:`~gavel_client.Refused`, and no answer :class:`~gavel_client.GavelUnavailable`.
        """
        body = cost_body(cost)
        headers = {**self._headers, "content-type": "application/json"}
        try:
            raw = self._send("POST", paths.cost(action_id), body, headers, timeout)
        except RetryLater as e:
            raise GavelUnavailable(f"gavel is restarting; the cost was not recorded ({e})") from e
        return parse_cost_recorded(raw, expect_id=action_id)

    def _call(self, method: str, path: str, body: bytes | None, headers: dict[str, str],
              timeout: float, expect_id: str | None) -> Outcome:
        raw = self._send(method, path, body, headers, timeout)
        return parse_outcome(raw, expect_id=expect_id)

    def _send(self, method: str, path: str, body: bytes | None, headers: dict[str, str],
              timeout: float) -> object:
        tried = Tried()
        for url in self._exchange.order():
            try:
                r = self._http.request(method, url + path, content=body, headers=headers,
                                       timeout=self._exchange.timeout(timeout))
            except (httpx.ConnectError, httpx.ConnectTimeout) as e:
                tried.not_sent(url, e, self._exchange)
                continue
            except httpx.HTTPError as e:
                tried.no_answer(url, e, timeout)
                continue
            if r.status_code == 503:
                tried.unavailable(url, r.status_code, r.content, r.headers)
                continue
            self._exchange.answered(url)
            return _flow.read_json(r.status_code, r.content, r.headers)
        raise tried.error()
