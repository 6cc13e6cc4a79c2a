"""Rate limiting (sliding 30 s window per app per tenant) and injected faults."""

from __future__ import annotations

import asyncio
import ssl

import httpx
import pytest

from bridge.emulator.faults import ConnectionDropped
from bridge.emulator.server import run_emulator
from bridge.emulator.throttle import SlidingWindowLimiter
from bridge.kit.clock import FakeClock
from tests.emulator.graph_support import ADELE, READER, WRITER, harness, make_config


def test_sliding_window_counts_the_last_window_only() -> None:
    limiter = SlidingWindowLimiter(3, 30.0)
    assert [limiter.acquire("t", "app", t) for t in (0.0, 10.0, 20.0)] == [None, None, None]
    assert limiter.acquire("t", "app", 25.0) == pytest.approx(5.0)  # the hit at 0 leaves at 30
    assert limiter.acquire("t", "app", 30.0) is None
    assert limiter.acquire("t", "other-app", 30.0) is None  # one bucket per app
    assert limiter.acquire("t2", "app", 30.0) is None  # and per tenant


def test_retry_after_is_fractional_and_refusals_do_not_count() -> None:
    limiter = SlidingWindowLimiter(1, 30.0)
    limiter.acquire("t", "a", 0.0)
    assert limiter.acquire("t", "a", 27.872) == pytest.approx(2.128)
    assert limiter.acquire("t", "a", 29.0) == pytest.approx(1.0)
    assert limiter.acquire("t", "a", 30.0) is None


def test_lowering_the_limit_at_runtime_applies_at_once() -> None:
    limiter = SlidingWindowLimiter(10, 30.0)
    for t in range(5):
        limiter.acquire("t", "a", float(t))
    limiter.set_limit(2)
    assert limiter.acquire("t", "a", 5.0) == pytest.approx(28.0)  # 4 of 5 hits must leave: hit at 3


async def test_past_the_limit_presence_calls_get_429_with_retry_after_and_graph_body() -> None:
    async with harness(make_config(rate_limit=3)) as h:
        await h.token(WRITER)
        await h.set_presence(ADELE, "Busy", "InACall")
        await h.call("GET", f"/users/{ADELE}/presence")
        await h.clock.advance(10)
        await h.call("POST", "/communications/getPresencesByUserId", {"ids": [ADELE]})
        response = await h.call("GET", f"/users/{ADELE}/presence")
        assert response.status_code == 429
        assert float(response.headers["Retry-After"]) == pytest.approx(20.0)
        error = response.json()["error"]
        assert error["code"] == "TooManyRequests" and error["innerError"]["request-id"]
        assert (await h.call("GET", f"/users/{ADELE}/presence", app=READER)).status_code == 200  # own bucket
        assert (await h.call("GET", f"/users/{ADELE}")).status_code == 200  # not a presence call
        await h.clock.advance(20)
        assert (await h.call("GET", f"/users/{ADELE}/presence")).status_code == 200


async def test_rate_limit_changes_through_the_admin_api() -> None:
    async with harness() as h:
        response = await h.admin("PUT", "/rate-limit", {"limit": 1, "windowSeconds": 30})
        assert response.json() == {"limit": 1, "windowSeconds": 30.0}
        assert (await h.call("GET", f"/users/{ADELE}/presence")).status_code == 200
        assert (await h.call("GET", f"/users/{ADELE}/presence")).status_code == 429
        assert (await h.admin("PUT", "/rate-limit", {"limit": 0})).status_code == 400


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [("429", 429, "TooManyRequests"), ("503", 503, "ServiceUnavailable"), ("504", 504, "GatewayTimeout")],
)
async def test_error_faults_hit_the_next_n_graph_requests(kind: str, status: int, code: str) -> None:
    async with harness() as h:
        await h.token()
        response = await h.admin("POST", "/faults", {"kind": kind, "count": 2, "retryAfter": 1.5})
        assert response.status_code == 201
        for _ in range(2):
            response = await h.call("GET", f"/users/{ADELE}/presence")
            assert response.status_code == status
            assert response.json()["error"]["code"] == code
            assert response.headers["Retry-After"] == "1.5"
            assert response.headers["request-id"] == response.json()["error"]["innerError"]["request-id"]
        assert (await h.call("GET", f"/users/{ADELE}/presence")).status_code == 200


async def test_faults_do_not_hit_the_token_endpoint_unless_scoped_to_all() -> None:
    async with harness() as h:
        await h.admin("POST", "/faults", {"kind": "503"})
        await h.token()  # served: the fault waits for a Graph call
        assert (await h.call("GET", f"/users/{ADELE}/presence")).status_code == 503
        await h.admin("POST", "/faults", {"kind": "503", "scope": "all"})
        h._tokens.clear()
        with pytest.raises(AssertionError):
            await h.token()


async def test_slow_fault_delays_the_answer_on_the_emulator_clock() -> None:
    async with harness() as h:
        await h.token()
        await h.admin("POST", "/faults", {"kind": "slow", "delay": 20})
        pending = asyncio.ensure_future(h.call("GET", f"/users/{ADELE}/presence"))
        await h.clock.advance(19)
        assert not pending.done()
        await h.clock.advance(1)
        assert (await pending).status_code == 200


async def test_drop_fault_in_process_raises_the_clients_disconnect_error() -> None:
    async with harness() as h:
        await h.token()
        await h.admin("POST", "/faults", {"kind": "drop"})
        with pytest.raises(httpx.RemoteProtocolError) as err:
            await h.call("GET", f"/users/{ADELE}/presence")
        assert isinstance(err.value, ConnectionDropped)
        entry = (await h.admin("GET", "/journal")).json()["value"][-1]
        assert entry["status"] == 0 and "dropped" in entry["summary"]


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
async def test_drop_fault_really_closes_the_connection_over_http(tls: bool) -> None:
    async with run_emulator(make_config(), clock=FakeClock(), tls=tls) as served:
        verify = ssl.create_default_context(cafile=str(served.ca_file)) if served.ca_file else True
        async with httpx.AsyncClient(base_url=served.base_url, timeout=5.0, verify=verify) as client:
            await client.post("/_emulator/faults", json={"kind": "drop"})
            with pytest.raises(httpx.RemoteProtocolError):
                await client.get(f"/v1.0/users/{ADELE}/presence")
            response = await client.get(f"/v1.0/users/{ADELE}/presence")
            assert response.status_code == 401  # the server itself is fine
