"""``POST /v1.0/$batch`` conformance, each expected value from Microsoft's documentation:
JSON batching [BATCH] (20 requests, unique ids, per-request status/headers/body, 424 for a failed
dependency), throttling [THR] (each inner request counted, its own 429 and Retry-After inside a
200 batch) and the service limits [THR-LIM] (up to four inner requests sent at a time)."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import httpx
import pytest

from bridge.emulator.faults import ConnectionDropped
from bridge.emulator.latency import LatencySpec
from bridge.emulator.server import run_emulator
from bridge.kit.clock import FakeClock
from tests.emulator.graph_support import ADELE, BOB, READER, SECRETS, WRITER, Harness, harness, make_config

JSON = {"Content-Type": "application/json"}
TICK = 2**-10  # binary fractions keep the fake clock exact
RTT = 0.125


def set_presence(
    request_id: str, user: str, availability: str, activity: str, **extra: Any
) -> dict[str, Any]:
    body = {"sessionId": WRITER, "availability": availability, "activity": activity}
    url = f"/users/{user}/presence/setPresence"
    return {"id": request_id, "method": "POST", "url": url, "headers": JSON, "body": body, **extra}


def get_presence(request_id: str, user: str = ADELE, **extra: Any) -> dict[str, Any]:
    return {"id": request_id, "method": "GET", "url": f"/users/{user}/presence", **extra}


async def batch(h: Harness, requests: list[dict[str, Any]], *, app: str = WRITER) -> httpx.Response:
    return await h.call("POST", "/$batch", {"requests": requests}, app=app)


def by_id(response: httpx.Response) -> dict[str, dict[str, Any]]:
    assert response.status_code == 200, response.text
    return {r["id"]: r for r in response.json()["responses"]}


async def test_inner_requests_reach_the_same_handlers_as_direct_calls() -> None:
    async with harness() as h:
        response = await batch(
            h,
            [
                set_presence("w", ADELE, "Busy", "InACall"),
                set_presence("bad", BOB, "Busy", "Busy"),  # not a setPresence pair: 400 as direct
                get_presence("r", BOB),
                get_presence("missing", "no-such-user"),
            ],
        )
        inner = by_id(response)
        assert {k: v["status"] for k, v in inner.items()} == {"w": 200, "bad": 400, "r": 200, "missing": 404}
        assert h.emu.presence_of(ADELE).availability == "Busy"  # the write took effect
        direct = await h.call("GET", f"/users/{BOB}/presence")
        assert inner["r"]["body"] == direct.json()
        assert inner["r"]["headers"]["Content-Type"] == "application/json"
        assert inner["bad"]["body"]["error"]["code"] == "BadRequest"
        assert inner["missing"]["body"]["error"]["innerError"]["request-id"]


async def test_each_inner_request_is_authorised_on_its_own() -> None:
    async with harness() as h:
        inner = by_id(
            await batch(h, [set_presence("w", ADELE, "Busy", "InACall"), get_presence("r")], app=READER)
        )
        assert (inner["w"]["status"], inner["r"]["status"]) == (403, 200)
        assert (
            await h.client.post("/v1.0/$batch", json={"requests": [get_presence("1")]})
        ).status_code == 401


async def test_more_than_twenty_requests_is_a_400_in_graphs_error_shape() -> None:
    async with harness() as h:
        response = await batch(h, [get_presence(str(i)) for i in range(21)])
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "BadRequest" and "20" in error["message"]
        assert error["innerError"]["request-id"] == response.headers["request-id"]
        assert len(h.emu.journal) == 2  # token + the refused batch: nothing inside ran
        assert len(by_id(await batch(h, [get_presence(str(i)) for i in range(20)]))) == 20


async def test_duplicate_ids_are_a_400_and_nothing_runs() -> None:
    async with harness() as h:
        response = await batch(h, [set_presence("A", ADELE, "Busy", "InACall"), get_presence("a")])
        assert response.status_code == 400 and response.json()["error"]["code"] == "BadRequest"
        assert h.emu.presence_of(ADELE).availability == "Offline"


async def test_each_inner_request_counts_against_the_budget_and_a_429_has_its_own_retry_after() -> None:
    async with harness(make_config(rate_limit=3)) as h:
        await h.call("GET", f"/users/{ADELE}/presence")  # 1 of 3, at t=0
        await h.clock.advance(10)
        inner = by_id(await batch(h, [get_presence(str(i)) for i in range(4)]))
        statuses = sorted(r["status"] for r in inner.values())
        assert statuses == [200, 200, 429, 429]  # the batch itself spent nothing
        for refused in (r for r in inner.values() if r["status"] == 429):
            assert float(refused["headers"]["Retry-After"]) == pytest.approx(20.0)  # t=0 hit leaves at 30
            assert refused["body"]["error"]["code"] == "TooManyRequests"
        assert (await h.call("GET", f"/users/{ADELE}/presence")).status_code == 429  # 3 of 3 spent
        assert h.emu.stats()["rate_throttled"] == 3


async def test_the_envelope_itself_is_not_a_presence_call() -> None:
    async with harness(make_config(rate_limit=2)) as h:
        inner = by_id(await batch(h, [get_presence("1"), get_presence("2")]))
        assert [r["status"] for r in inner.values()] == [200, 200]


async def test_depends_on_runs_in_order_and_a_failed_dependency_is_424_and_not_executed() -> None:
    async with harness() as h:
        requests = [
            set_presence("1", ADELE, "Busy", "InACall"),
            set_presence("2", ADELE, "Busy", "Busy", dependsOn=["1"]),  # 400
            set_presence("3", BOB, "Busy", "InACall", dependsOn=["2"]),  # 424
            get_presence("4", BOB, dependsOn=["3"]),  # 424: its dependency failed too
        ]
        response = await batch(h, requests)
        inner = by_id(response)
        assert [r["id"] for r in response.json()["responses"]] == ["1", "2", "3", "4"]
        assert {k: v["status"] for k, v in inner.items()} == {"1": 200, "2": 400, "3": 424, "4": 424}
        assert inner["3"]["body"]["error"]["code"] == "FailedDependency"
        assert h.emu.presence_of(BOB).availability == "Offline"  # 3 never ran
        paths = [e["path"] for e in h.emu.journal.entries()]
        assert not any(BOB in p for p in paths)


async def test_a_mixed_sequential_and_parallel_batch_is_refused() -> None:
    async with harness() as h:
        response = await batch(h, [get_presence("1"), get_presence("2", dependsOn=["1"]), get_presence("3")])
        assert response.status_code == 400
        assert "fully sequential or fully parallel" in response.json()["error"]["message"]


async def _timed(h: Harness, requests: list[dict[str, Any]]) -> tuple[asyncio.Task[httpx.Response], float]:
    """Start the batch; return it and the number of inner requests the journal shows at each RTT."""
    await h.token()
    h.emu.latency.set(LatencySpec.parse(f"{RTT * 1000:g}ms"))
    task = asyncio.ensure_future(batch(h, requests))
    await h.clock.settle()
    return task, h.clock.monotonic()


async def test_twenty_inner_requests_run_four_at_a_time_each_with_its_own_delay() -> None:
    async with harness() as h:
        task, _ = await _timed(h, [get_presence(str(i)) for i in range(20)])
        served = []
        for _ in range(5):
            await h.clock.advance(RTT)
            served.append(sum(1 for e in h.emu.journal.entries() if e["path"].endswith("/presence")))
        assert served == [4, 8, 12, 16, 20]  # four at a time, 5 x 125 ms in all
        assert task.done() and len(by_id(await task)) == 20


async def test_a_batch_answers_exactly_when_its_last_wave_does() -> None:
    async with harness() as h:
        task, _ = await _timed(h, [get_presence(str(i)) for i in range(9)])  # 3 waves: 4 + 4 + 1
        await h.clock.advance(3 * RTT - TICK)
        assert not task.done()
        await h.clock.advance(TICK)
        assert task.done()
        small, _ = await _timed(h, [get_presence(str(i)) for i in range(4)])
        await h.clock.advance(RTT)  # up to four: one delay, the same as a direct call
        assert small.done()


async def test_a_sequential_batch_takes_one_delay_per_request() -> None:
    async with harness() as h:
        chain = [get_presence("1"), get_presence("2", dependsOn=["1"]), get_presence("3", dependsOn=["2"])]
        task, _ = await _timed(h, chain)
        await h.clock.advance(3 * RTT - TICK)
        assert not task.done()
        await h.clock.advance(TICK)
        assert [r["status"] for r in (await task).json()["responses"]] == [200, 200, 200]


async def test_faults_hit_inner_requests_one_by_one_not_the_envelope() -> None:
    async with harness() as h:
        await h.token()
        await h.admin("POST", "/faults", {"kind": "429", "count": 1, "retryAfter": 1.5})
        await h.admin("POST", "/faults", {"kind": "503", "count": 1})
        response = await batch(h, [get_presence(str(i)) for i in range(3)])
        inner = by_id(response)
        assert [inner[i]["status"] for i in ("0", "1", "2")] == [429, 503, 200]
        assert inner["0"]["headers"]["Retry-After"] == "1.5"
        assert inner["1"]["body"]["error"]["code"] == "ServiceUnavailable"


async def test_a_slow_fault_delays_only_its_inner_request() -> None:
    async with harness() as h:
        await h.token()
        await h.admin("POST", "/faults", {"kind": "slow", "delay": 2})
        task = asyncio.ensure_future(batch(h, [get_presence("slow"), get_presence("quick")]))
        await h.clock.advance(0)
        assert [e["path"] for e in h.emu.journal.entries()][-1].endswith("/presence")  # quick answered
        assert not task.done()
        await h.clock.advance(2)
        assert [r["id"] for r in (await task).json()["responses"]] == ["quick", "slow"]  # completion order


async def test_a_drop_fault_inside_a_batch_drops_the_connection_and_starts_nothing_more() -> None:
    async with harness() as h:
        await h.token()
        await h.admin("POST", "/faults", {"kind": "drop"})
        requests = [get_presence(str(i)) for i in range(4)] + [set_presence("late", BOB, "Busy", "InACall")]
        with pytest.raises(httpx.RemoteProtocolError) as err:
            await batch(h, requests)
        assert isinstance(err.value, ConnectionDropped)
        assert h.emu.presence_of(BOB).availability == "Offline"  # the fifth request never started
        envelope = h.emu.journal.entries()[-1]
        assert (
            envelope["path"] == "/v1.0/$batch"
            and envelope["status"] == 0
            and "dropped" in envelope["summary"]
        )


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
async def test_over_real_http_a_batch_answers_and_an_inner_drop_closes_the_connection(tls: bool) -> None:
    async with run_emulator(make_config(), clock=FakeClock(), tls=tls) as served:
        verify = ssl.create_default_context(cafile=str(served.ca_file)) if served.ca_file else True
        async with httpx.AsyncClient(base_url=served.base_url, timeout=5.0, verify=verify) as client:
            tenant = served.emulator.config.tenant_id
            form = {
                "grant_type": "client_credentials",
                "client_id": WRITER,
                "client_secret": SECRETS[WRITER],
                "scope": "https://graph.microsoft.com/.default",
            }
            token = (await client.post(f"/{tenant}/oauth2/v2.0/token", data=form)).json()["access_token"]
            auth = {"Authorization": f"Bearer {token}"}
            payload = {"requests": [get_presence("1"), get_presence("2", BOB)]}
            response = await client.post("/v1.0/$batch", json=payload, headers=auth)
            assert sorted(r["status"] for r in response.json()["responses"]) == [200, 200]
            await client.post("/_emulator/faults", json={"kind": "drop"})
            with pytest.raises(httpx.RemoteProtocolError):
                await client.post("/v1.0/$batch", json=payload, headers=auth)
            assert (await client.get(f"/v1.0/users/{ADELE}/presence", headers=auth)).status_code == 200
