"""Benchmark 2: bridge-added latency, CTI event in -> the Graph request arriving at the emulator.

Everything real on loopback, in this process: the CTI ingress over HTTP, the bridge (engine,
publisher, msal tokens over HTTPS), the Graph emulator over HTTPS. The budget and the emulator's
limit are raised (100,000 / 30 s and 1,000,000 / 30 s) so this measures the bridge, not the queue.
Each person answers a call (``in_call`` publishes at once), one transition at a time after a warm-up;
timestamps are ``time.perf_counter()`` in this process: when the CTI POST is sent, when its answer
arrives, and when the emulator applies the ``setPresence`` (its state listener).

For scale, the same run measures a bare ``setPresence`` over HTTPS keep-alive to the emulator (what
one Graph write costs here), so the table can say how much of the latency is HTTP/TLS.
Bar: p99 from POST sent to Graph request applied <= 50 ms.
"""

from __future__ import annotations

import asyncio
import math
import ssl
import statistics
import time

import httpx

from benchmarks.live import Live, live_bridge
from benchmarks.population import people
from benchmarks.results import Bar, Result
from bridge.emulator.config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from bridge.emulator.state import PresenceChange
from bridge.runtime.clock import SystemClock

NAME = "latency"
BAR = Bar("<=", 50.0)
TRANSITIONS = 300
WARMUP = 20
BUDGET = 100_000  # per 30 s (the configuration's maximum)
EMULATOR_LIMIT = 1_000_000  # per 30 s


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100), nearest rank."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


async def _bare_writes(live: Live, count: int) -> list[float]:
    """Round trips of ``setPresence`` straight to the emulator over HTTPS keep-alive (ms)."""
    handle = live.handle
    trust = ssl.create_default_context(cafile=str(handle.ca_file))
    async with httpx.AsyncClient(verify=trust, trust_env=False, timeout=10.0) as client:
        token = await client.post(
            f"{handle.authority_url}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": DEFAULT_CLIENT_ID,
                "client_secret": DEFAULT_CLIENT_SECRET,
                "scope": "https://graph.microsoft.com/.default",
            },
        )
        token.raise_for_status()
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        user = live.emulator.state.users()[0].id
        body = {
            "sessionId": DEFAULT_CLIENT_ID,
            "availability": "Busy",
            "activity": "InACall",
            "expirationDuration": "PT15M",
        }
        url = f"{handle.graph_url}/users/{user}/presence/setPresence"
        times = []
        for n in range(count + WARMUP):
            began = time.perf_counter()
            response = await client.post(url, headers=headers, json=body)
            response.raise_for_status()
            if n >= WARMUP:
                times.append((time.perf_counter() - began) * 1000)
    return times


async def measure(transitions: int) -> dict[str, list[float]]:
    population = people(transitions + WARMUP)
    arrived: dict[str, float] = {}

    def on_change(change: PresenceChange) -> None:
        arrived.setdefault(change.user_id, time.perf_counter())

    total: list[float] = []
    cti: list[float] = []
    clock = SystemClock()
    async with live_bridge(population, clock, budget_requests=BUDGET, emulator_limit=EMULATOR_LIMIT) as live:
        live.emulator.state.add_listener(on_change)
        for n, person in enumerate(population):
            sent = time.perf_counter()
            await live.post(person.extension, device="desk", line="in_call")
            answered = time.perf_counter()
            await live.until(lambda p=person: p.object_id in arrived, f"{person.extension}'s setPresence")
            if n >= WARMUP:
                total.append((arrived[person.object_id] - sent) * 1000)
                cti.append((answered - sent) * 1000)
        bare = await _bare_writes(live, transitions)
    return {"total": total, "cti_post": cti, "bare_set_presence": bare}


def run(transitions: int = TRANSITIONS) -> list[Result]:
    samples = asyncio.run(measure(transitions))
    total = samples["total"]
    setup = (
        f"{transitions} in_call transitions, budget {BUDGET:,}/30 s, emulator limit {EMULATOR_LIMIT:,}/30 s"
    )
    parts = {
        "cti_post_p50_ms": statistics.median(samples["cti_post"]),
        "bare_set_presence_p50_ms": statistics.median(samples["bare_set_presence"]),
        "bare_set_presence_p99_ms": percentile(samples["bare_set_presence"], 99),
    }
    extra = {k: round(v, 3) for k, v in parts.items()}
    return [
        Result(NAME, "p50_ms", round(statistics.median(total), 3), "ms", note=setup, extra=extra),
        Result(
            NAME,
            "p99_ms",
            round(percentile(total, 99), 3),
            "ms",
            BAR,
            note="CTI POST sent -> setPresence applied at the emulator",
            extra=extra,
        ),
        Result(NAME, "max_ms", round(max(total), 3), "ms"),
        Result(
            NAME,
            "graph_https_p50_ms",
            round(parts["bare_set_presence_p50_ms"], 3),
            "ms",
            note="a bare setPresence over HTTPS keep-alive, for scale",
        ),
        Result(
            NAME,
            "cti_post_p50_ms",
            round(parts["cti_post_p50_ms"], 3),
            "ms",
            note="the CTI POST round trip as the PBX sees it (its 202 comes after the Graph write)",
        ),
    ]
