"""The asyncio client: ``await AsyncClient(...).guard(tool, args, session=…)``.

The same protocol as :class:`~gavel_client.Client`. Cancelling the task that awaits ``guard``
withdraws the held call before the cancellation propagates (the withdraw is shielded and takes
at most a few seconds), so nobody approves a call that will never run.
"""

from __future__ import annotations

import asyncio
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


class AsyncClient:
    """See :class:`~gavel_client.Client`; every method is a coroutine."""

    def __init__(self, server: str | Sequence[str] | None = None, *, token: str | None = None,
                 ca_cert: str | None = None,
                 approver_keys: Mapping[str, str | Ed25519PublicKey] | None = None,
                 min_approvals: int = 1, env: Mapping[str, str] | None = None) -> None:
        s = resolve(server, token, ca_cert, env)
        self._exchange = Exchange(s.servers)
        self._headers = auth_headers(s.token)
        self._keys = parse_keys(approver_keys) if approver_keys is not None else None
        self._min_approvals = min_approvals
        self._http = httpx.AsyncClient(verify=tls_context(s.ca_cert), trust_env=False,
                                       follow_redirects=False)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def guard(self, tool: str, args: Mapping[str, Any] | None = None, *, session: str,
                    on_behalf_of: str | None = None, rationale: str | None = None,
                    cost: float | None = None, parent: str | None = None,
                    context: Mapping[str, Any] | None = None, timeout: float | None = None,
                    approver_keys: Mapping[str, str | Ed25519PublicKey] | None = None,
                    digest: str | None = None, wait_budget: float | None = None) -> Outcome:
        """See :meth:`gavel_client.Client.guard`."""
        budget = Budget.of(timeout)
        body = _flow.action_body(tool, args, session, on_behalf_of, rationale, cost, parent,
                                 context, _flow.wait_budget_secs(wait_budget, budget))
        keys = parse_keys(approver_keys) if approver_keys is not None else self._keys
        verifier = Verifier(keys, self._min_approvals, digest)
        submit = asyncio.ensure_future(self.submit_raw(
            body, idempotency_key=str(uuid.uuid4()),
            timeout=budget.request_timeout(_flow.SUBMIT_TIMEOUT)))
        try:
            first = await asyncio.shield(submit)
        except asyncio.CancelledError:
            # The call may be recorded already: its answer names what to withdraw.
            await self._withdraw_after_cancel(submit, budget)
            raise
        if first.final:
            return _flow.conclude(first, verifier)
        return await self._wait(Wait(first, budget), verifier)

    async def _withdraw_after_cancel(self, submit: asyncio.Future[Outcome],
                                     budget: Budget) -> None:
        try:
            first = await asyncio.wait_for(asyncio.shield(submit), budget.withdraw_timeout())
            if not first.final:
                await self._withdraw_quietly(first.id, budget)
        except BaseException:
            submit.cancel()  # No answer in time: its deadline closes whatever was recorded.

    async def _wait(self, w: Wait, verifier: Verifier) -> Outcome:
        action = w.held.id
        try:
            while True:
                remaining = w.remaining()
                if remaining <= 0:
                    return await self._give_up(w, w.out_of_time_reason(), verifier)
                secs = Wait.poll_seconds(remaining)
                if secs == 0:
                    await asyncio.sleep(remaining)
                try:
                    out = w.check(await self.outcome(action, wait=secs))
                except RetryLater as r:
                    await asyncio.sleep(min(r.after, max(remaining, 0.0)))
                    continue
                except Unreachable:
                    await asyncio.sleep(min(_flow.RETRY_PAUSE, max(remaining, 0.0)))
                    continue
                if out.final:
                    break
                w.update(out)
        except NotAllowed:
            await self._withdraw_quietly(action, w.budget)
            raise
        except BaseException:
            # Cancelled: nobody is left to run the call.
            await self._withdraw_quietly(action, w.budget)
            raise
        return _flow.conclude(out, verifier)

    async def _give_up(self, w: Wait, because: str, verifier: Verifier) -> Outcome:
        ids = {"action_id": w.held.id, "escalation": w.held.escalation}
        try:
            o = await self.withdraw(w.held.id, timeout=w.budget.withdraw_timeout())
        except (NotAllowed, RetryLater) as e:
            raise TimedOut(f"{because}; withdrawing it failed ({e}), so it stays open until "
                           f"its deadline", withdrawn=False, **ids) from e
        if o.resolution == "cancelled":
            raise TimedOut(f"{because}; withdrawn", withdrawn=True, **ids)
        if o.final:
            return _flow.conclude(o, verifier)
        raise TimedOut(f"{because}; gavel did not withdraw it", withdrawn=False, **ids)

    async def _withdraw_quietly(self, action: str, budget: Budget) -> None:
        """Shielded from the cancellation that stopped the wait, and bounded in time."""
        task = asyncio.ensure_future(self.withdraw(action, timeout=budget.withdraw_timeout()))
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            try:
                await asyncio.wait_for(task, budget.withdraw_timeout())
            except BaseException:  # noqa: BLE001
                pass
        except Exception:  # noqa: BLE001
            pass  # The deadline closes it; what stopped the wait is what the caller gets.

    async def submit_raw(self, body: bytes, *, idempotency_key: str,
                         timeout: float = _flow.SUBMIT_TIMEOUT) -> Outcome:
        """``POST /v1/actions`` with a JSON body; any verdict, pending included."""
        headers = {**self._headers, "content-type": "application/json",
                   "idempotency-key": idempotency_key}
        return await self._call("POST", paths.actions(), body, headers, timeout, None)

    async def outcome(self, action_id: str, *, wait: int = 0) -> Outcome:
        """``GET /v1/actions/{id}?wait=`` (a long-poll of up to ``wait`` seconds)."""
        return await self._call("GET", paths.outcome(action_id, wait), None, self._headers,
                                wait + _flow.ANSWER_SLACK, action_id)

    async def withdraw(self, action_id: str, *,
                       timeout: float = _flow.WITHDRAW_TIMEOUT) -> Outcome:
        """``POST /v1/actions/{id}/withdraw``."""
        return await self._call("POST", paths.withdraw(action_id), None, self._headers,
                                timeout, action_id)

    async def report_cost(self, action_id: str, cost: float, *,
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
            raw = await self._send("POST", paths.cost(action_id), body, headers, timeout)
        except RetryLater as e:
            raise GavelUnavailable(f"gavel is restarting; the cost was not recorded ({e})") from e
        return parse_cost_recorded(raw, expect_id=action_id)

    async def _call(self, method: str, path: str, body: bytes | None, headers: dict[str, str],
                    timeout: float, expect_id: str | None) -> Outcome:
        raw = await self._send(method, path, body, headers, timeout)
        return parse_outcome(raw, expect_id=expect_id)

    async def _send(self, method: str, path: str, body: bytes | None, headers: dict[str, str],
                    timeout: float) -> object:
        tried = Tried()
        for url in self._exchange.order():
            try:
                r = await self._http.request(method, url + path, content=body, headers=headers,
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
