"""Benchmark 5 (informative): memory per 1,000 people held by the engine and the publisher.

Builds the configuration for N people (1-3 endpoints each), then, with ``tracemalloc`` running,
the engine and one tenant's publisher, and feeds every endpoint one event (half the people in a
call, so the publisher holds a desired session for everyone). The traced growth is the engine's
and publisher's own state; the configuration's size is reported apart. Nothing is sent to Graph
(the publisher is not running), so confirmed-session bookkeeping is not included.
"""

from __future__ import annotations

import asyncio
import gc
import random
import resource
import tracemalloc

import httpx

from benchmarks.population import bridge_config, people
from benchmarks.results import Result
from bridge.model import LineState, StateChange
from bridge.runtime.clock import FakeClock
from bridge.runtime.engine import Engine
from bridge.runtime.service import build_tenant
from bridge.runtime.store import StateStore

NAME = "memory"
PEOPLE = 2000


class _NoTokens:
    async def token(self) -> str:
        return "unused"

    def invalidate(self) -> None:
        return None


def _refuse(request: httpx.Request) -> httpx.Response:
    return httpx.Response(503)


async def measure(people_count: int) -> dict[str, float]:
    gc.collect()
    tracemalloc.start()
    population = people(people_count)
    before_config = tracemalloc.get_traced_memory()[0]
    config = bridge_config(population)
    gc.collect()
    after_config = tracemalloc.get_traced_memory()[0]
    clock = FakeClock()
    tenant_name, tenant_cfg = next(iter(config.tenants.items()))
    http = httpx.AsyncClient(transport=httpx.MockTransport(_refuse))
    with StateStore(":memory:") as store:
        tenant = build_tenant(
            tenant_name,
            tenant_cfg,
            clock=clock,
            store=store,
            rng=random.Random(1),
            tokens=_NoTokens(),
            http=http,
        )
        publisher = tenant.publisher
        engine = Engine(
            config,
            publish=lambda _t, object_id, intent, cause: publisher.desire(object_id, intent, cause),
            store=None,
            monotonic=clock.monotonic,
        )
        for n, person in enumerate(population):
            for endpoint in person.endpoints:
                line = LineState.IN_CALL if n % 2 == 0 and endpoint.device == "desk" else LineState.IDLE
                engine.handle(StateChange(endpoint, line=line))
        gc.collect()
        after_state = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        people_known = publisher.stats()["publisher_people"]
        await tenant.aclose()
    return {
        "config_bytes": float(after_config - before_config),
        "state_bytes": float(after_state - after_config),
        "publisher_people": people_known,
        "max_rss_bytes": float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024),
    }


def run(people_count: int = PEOPLE) -> list[Result]:
    numbers = asyncio.run(measure(people_count))
    per_1000 = 1000 / people_count / (1024 * 1024)
    endpoints = sum(len(p.endpoints) for p in people(people_count))
    return [
        Result(
            NAME,
            "engine_publisher_mib_per_1000_people",
            round(numbers["state_bytes"] * per_1000, 3),
            "MiB",
            note=f"tracemalloc, {people_count:,} people, {endpoints:,} endpoints",
        ),
        Result(NAME, "config_mib_per_1000_people", round(numbers["config_bytes"] * per_1000, 3), "MiB"),
        Result(
            NAME,
            "process_max_rss_mib",
            round(numbers["max_rss_bytes"] / (1024 * 1024), 1),
            "MiB",
            note="whole benchmark process so far (includes earlier benchmarks and tracemalloc)",
        ),
    ]
