"""A caller that stops waiting withdraws the held call: its escalation ends cancelled, so
nobody approves a call that will never run."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import threading
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


class SlowLink:
    """A TCP relay to the real server whose answers arrive `delay` seconds late (the first bytes
    of each connection), so a cancellation can land while a submission is in flight."""

    def __init__(self, target: str, delay: float) -> None:
        host, port = target.removeprefix("http://").split(":")
        self.target = (host, int(port))
        self.delay = delay
        self.answers = bytearray()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            threading.Thread(target=self.pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self.pump, args=(server, client, True), daemon=True).start()

    def pump(self, src: socket.socket, dst: socket.socket, answers: bool) -> None:
        first = answers
        try:
            while data := src.recv(65536):
                if first:
                    time.sleep(self.delay)
                    first = False
                if answers:
                    self.answers += data
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.listener.close()


def test_asyncio_cancellation_while_submitting_still_withdraws(gavel: Gavel,
                                                               session_id: str) -> None:
    link = SlowLink(gavel.url, delay=1.0)

    async def scenario() -> None:
        async with AsyncClient(link.url, token=gavel.token) as c:
            task = asyncio.create_task(
                c.guard("stripe.refund", {"amount": 5001.0}, session=session_id))
            await asyncio.sleep(0.3)  # the request is on its way, its answer is not
            assert not link.answers
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    try:
        asyncio.run(scenario())
    finally:
        link.close()
    # The answer came after the cancel; the call it names was withdrawn.
    ids = re.findall(rb'"id":"(act_[^"]+)"', bytes(link.answers))
    assert ids, bytes(link.answers)
    assert_cancelled(gavel, ids[0].decode())


def test_the_callers_timeout_withdraws_and_raises_timed_out(gavel: Gavel,
                                                            session_id: str) -> None:
    start = time.monotonic()
    with Client(gavel.url, token=gavel.token) as c, pytest.raises(TimedOut) as e:
        c.guard("stripe.refund", {"amount": 2500.0}, session=session_id, timeout=2.0)
    took = time.monotonic() - start
    assert 1.4 < took < 3.0, took  # 2 s, and a little for a loaded machine
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
    # Ctrl-C as a terminal delivers it: a test run from a background job inherits SIGINT
    # ignored, and Python then never turns it into a KeyboardInterrupt.
    agent = subprocess.Popen([sys.executable, "-c", AGENT_SCRIPT, session_id], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        esc = gavel.escalation_for(session_id)
        agent.send_signal(signal.SIGINT)
        out, err = agent.communicate(timeout=20)
    finally:
        agent.kill()
    assert agent.returncode != 0 and "interrupted" in out, err
    assert "KeyboardInterrupt" in err
    assert_cancelled(gavel, esc["action"]["id"])
