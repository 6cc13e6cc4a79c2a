"""Hostile clients against the CTI TCP ingress (JSON lines, token first).

What a user would notice if these broke: connections that never log in (or log in and then say
nothing) pile up until the PBX's own connection is refused, and a token-guessing client writes
one log line per guess.
"""

from __future__ import annotations

import json

import pytest

from adapters.base import Health
from adapters.generic_cti.adapter import CtiAdapter
from adapters.testing import Recorder
from bridge.kit.clock import FakeClock
from tests.adapters.generic_cti.harness import TOKEN, TcpClient, make_adapter, tcp_login
from tests.hostile.rig import Flood, log_budget, sources, until

LIMITS = {
    "header_timeout_seconds": 2.0,
    "idle_timeout_seconds": 30.0,
    "max_connections": 60,
    "max_connections_per_source": 10,
}


@pytest.fixture
async def tcp() -> object:
    clock = FakeClock()
    adapter = make_adapter(clock, http_listen=None, tcp_limits=LIMITS)
    events = Recorder(adapter, clock)
    await adapter.start()
    await events.wait_health(Health.CONNECTED)
    yield adapter, clock
    await adapter.stop()
    await events.finished()


def _port(adapter: CtiAdapter) -> int:
    assert adapter.tcp_address is not None
    return adapter.tcp_address[1]


async def test_silent_connections_are_capped_and_timed_out_while_the_pbx_logs_in(
    tcp: tuple[CtiAdapter, FakeClock], caplog: pytest.LogCaptureFixture
) -> None:
    adapter, clock = tcp
    with log_budget(caplog, 8), Flood() as flood:
        await flood.open(_port(adapter), 200, sources(10))
        await until(
            lambda: adapter.counters["conn_refused_source"] + adapter.counters["conn_dropped_idle"] >= 140,
            "flood capped",
        )
        pbx = await tcp_login(adapter)
        assert await pbx.send(b'{"extension": "1001", "line": "in_call"}') == {
            "ok": True,
            "accepted": 1,
            "ignored": [],
        }
        await clock.advance(LIMITS["header_timeout_seconds"] + 1)
        await until(lambda: flood.alive() == 0, "silent connections closed")
        assert await pbx.send(b'{"extension": "1001", "line": "idle"}') == {
            "ok": True,
            "accepted": 1,
            "ignored": [],
        }
        await pbx.close()


async def test_a_logged_in_connection_is_never_dropped_to_make_room(
    tcp: tuple[CtiAdapter, FakeClock],
) -> None:
    adapter, _ = tcp
    pbx = await tcp_login(adapter)
    with Flood() as flood:
        await flood.open(_port(adapter), 120, sources(12))
        await until(lambda: adapter.counters["conn_dropped_idle"] > 0, "room made")
        assert await pbx.send(b'{"extension": "1001"}') == {"ok": True, "accepted": 1, "ignored": []}
    await pbx.close()


async def test_bad_token_storm_is_one_warning_per_source(
    tcp: tuple[CtiAdapter, FakeClock], caplog: pytest.LogCaptureFixture
) -> None:
    adapter, _ = tcp
    with log_budget(caplog, 3):
        for n in range(150):
            client = await TcpClient.connect(adapter)
            line = json.dumps({"token": f"guess-{n:08d}"}).encode()
            assert await client.send(line) == {"ok": False, "error": "unauthorized"}
            await client.close()
        pbx = await tcp_login(adapter, TOKEN)
        await pbx.close()
    assert adapter.counters["bad_token"] == 150
    warnings = [r for r in caplog.records if "no valid token" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelname == "WARNING"
