"""``report_cost``: the actual cost of a call that ran replaces its ``cost=`` estimate in the
policy's ``[[limit]]`` envelopes, against a real server with a real limit."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Iterator
from typing import Any

import pytest

from gavel_client import (
    AsyncClient,
    Client,
    CostRecorded,
    Denied,
    InvalidCall,
    LimitUse,
    Refused,
)

from .conftest import AGENT, Gavel, start, stop

LIMITED = '''
[[rule]]
id = "everything"
tools = ["**"]
effect = "allow"
reason = "Everything is allowed, within the envelope"

[[limit]]
id = "spend"
per = "session"
window = "1d"
max_cost = 10.0
warn_at = 0.5
'''


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gavel]:
    g = start(tmp_path_factory.mktemp("limited"), LIMITED)
    yield g
    stop(g)


def usage(g: Gavel) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(g.person("carol", "usage", "--json").stdout)
    return out


def session_use(g: Gavel, session: str) -> dict[str, Any]:
    uses: list[dict[str, Any]] = [u for u in usage(g)["limits"] if u.get("session") == session]
    (use,) = uses
    return use


def test_a_reported_cost_replaces_the_estimate(limited: Gavel, session_id: str) -> None:
    with Client(limited.url, token=limited.token) as c:
        first = c.guard("cloud.run", {"job": "a"}, session=session_id, cost=8.0)
        with pytest.raises(Denied) as over:
            c.guard("cloud.run", {"job": "b"}, session=session_id, cost=5.0)
        assert "spend" in over.value.reason, over.value.reason

        recorded = c.report_cost(first.id, 2.0)
        assert isinstance(recorded, CostRecorded)
        assert (recorded.action, recorded.cost, recorded.previous, recorded.counted) == \
            (first.id, 2.0, 8.0, True)
        # The agent's limits' use: this session's envelope among the others'.
        (use,) = [u for u in recorded.limits if u.session == session_id]
        assert isinstance(use, LimitUse)
        assert (use.limit, use.per, use.agent, use.session) == \
            ("spend", "session", AGENT, session_id)
        assert (use.calls, use.cost, use.max_cost, use.state) == (1, 2.0, 10.0, "ok")
        assert math.isclose(use.share, 0.2)
        assert use.resets_at.tzinfo is not None
        assert session_use(limited, session_id)["cost"] == 2.0

        # What was spent, not what was guessed: the same call now fits.
        second = c.guard("cloud.run", {"job": "b"}, session=session_id, cost=5.0)
        assert second.allowed
        assert session_use(limited, session_id)["cost"] == 7.0


def test_a_bad_cost_is_refused_before_sending_and_refusals_name_their_code(
        limited: Gavel, session_id: str) -> None:
    with Client(limited.url, token=limited.token) as c:
        ran = c.guard("cloud.run", {"job": "a"}, session=session_id, cost=4.0)
        for bad in (-1.0, math.nan, math.inf, True, "3"):
            with pytest.raises(InvalidCall):
                c.report_cost(ran.id, bad)  # type: ignore[arg-type]
        assert session_use(limited, session_id)["cost"] == 4.0

        with pytest.raises(Refused) as unknown:
            c.report_cost("act_nope", 1.0)
        assert (unknown.value.status, unknown.value.code) == (404, "not_found")
        with pytest.raises(Refused) as huge:
            c.report_cost(ran.id, 1e300)
        assert (huge.value.status, huge.value.code) == (400, "invalid_request")

        with pytest.raises(Denied) as denied:
            c.guard("cloud.run", {"job": "b"}, session=session_id, cost=50.0)
        with pytest.raises(Refused) as never_ran:
            c.report_cost(denied.value.action_id, 1.0)
        assert (never_ran.value.status, never_ran.value.code) == (409, "action_denied")
        assert session_use(limited, session_id)["cost"] == 4.0


def test_the_async_client_reports_too(limited: Gavel, session_id: str) -> None:
    async def scenario() -> CostRecorded:
        async with AsyncClient(limited.url, token=limited.token) as c:
            ran = await c.guard("cloud.run", {"job": "a"}, session=session_id, cost=6.0)
            return await c.report_cost(ran.id, 9.5)

    recorded = asyncio.run(scenario())
    assert (recorded.cost, recorded.previous, recorded.counted) == (9.5, 6.0, True)
    (use,) = [u for u in recorded.limits if u.session == session_id]
    assert (use.cost, use.state) == (9.5, "warning")
    assert session_use(limited, session_id)["state"] == "warning"
