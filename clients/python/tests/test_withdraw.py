"""A caller that stops waiting withdraws the held call: its escalation ends cancelled, so
nobody approves a call that will never run."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import pytest

from gavel_client import AsyncClient, Client, TimedOut

from .conftest import Gavel


def assert_cancelled(gavel: Gavel, action_id: str) -> None:
    with Client(gavel.url, token=gavel.token) as c:
        out = c.outcome(action_id)
    assert (out.verdict, out.resolution) == ("deny", "cancelled"), out
    assert "withdrawn" in out.reason


def test_asyncio_cancellation_withdraws_the_call(gavel: Gavel, session_id: str) -> None:
    async def scenario() -> str:
        async with AsyncClient(gavel.url, token=gavel.token) as c:
            task = asyncio.create_task(
                c.guard("stripe.refund", {"amount": 5000.0}, session=session_id))
            esc = await asyncio.to_thread(gavel.escalation_for, session_id)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            action: str = esc["action"]["id"]
            return action

    assert_cancelled(gavel, asyncio.run(scenario()))


def test_asyncio_cancellation_while_submitting_still_withdraws(gavel: Gavel,
                                                               session_id: str) -> None:
    async def scenario() -> None:
        async with AsyncClient(gavel.url, token=gavel.token) as c:
            task = asyncio.create_task(
                c.guard("stripe.refund", {"amount": 5001.0}, session=session_id))
            await asyncio.sleep(0)  # the request is on its way, not answered
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(scenario())
    # The submission was answered after the cancel and withdrawn: nothing is left pending.
    assert all(e["action"]["session"] != session_id for e in gavel.pending())


def test_the_callers_timeout_withdraws_and_raises_timed_out(gavel: Gavel,
                                                            session_id: str) -> None:
    start = time.monotonic()
    with Client(gavel.url, token=gavel.token) as c, pytest.raises(TimedOut) as e:
        c.guard("stripe.refund", {"amount": 2500.0}, session=session_id, timeout=2.0)
    took = time.monotonic() - start
    assert 1.4 < took < 2.5, took
    assert e.value.withdrawn and e.value.action_id is not None
    assert "caller's timeout" in str(e.value)
    assert_cancelled(gavel, e.value.action_id)


def test_async_timeout_withdraws_too(gavel: Gavel, session_id: str) -> None:
    async def scenario() -> TimedOut:
        async with AsyncClient(gavel.url, token=gavel.token) as c:
            with pytest.raises(TimedOut) as e:
                await c.guard("stripe.refund", {"amount": 2500.0}, session=session_id,
                              timeout=1.5)
            return e.value

    err = asyncio.run(scenario())
    assert err.withdrawn and err.action_id is not None
    assert_cancelled(gavel, err.action_id)


AGENT_SCRIPT = """
import sys, gavel_client
try:
    gavel_client.guard("stripe.refund", {"amount": 3000.0}, session=sys.argv[1])
except KeyboardInterrupt:
    print("interrupted", flush=True)
    raise
"""


def test_ctrl_c_in_a_sync_agent_withdraws_the_call(gavel: Gavel, session_id: str) -> None:
    env = {**os.environ, "GAVEL_SERVER": gavel.url, "GAVEL_AGENT_TOKEN": gavel.token}
    agent = subprocess.Popen([sys.executable, "-c", AGENT_SCRIPT, session_id], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        esc = gavel.escalation_for(session_id)
        agent.send_signal(signal.SIGINT)
        out, err = agent.communicate(timeout=20)
    finally:
        agent.kill()
    assert agent.returncode != 0 and "interrupted" in out, err
    assert "KeyboardInterrupt" in err
    assert_cancelled(gavel, esc["action"]["id"])
