"""Benchmark 5 (memory): resident memory with 10,000 users, and the engine's and publisher's share.

Resident set (the bar: under 150 MB, 10^6 bytes, for 10,000 users): measured in a fresh interpreter
(``python -m benchmarks.memory --rss N``), so nothing of this process or other benchmarks counts. The
child imports what ``presence-bridge run`` imports (reads VmRSS: the "imports only" figure, for
scale), writes the YAML for N people (1-3 endpoints each, benchmarks/population.py) to a file and
loads it as the CLI does, opens the SQLite state store on a file, builds ``BridgeService`` (engine,
tenant publisher with its Graph client and budget, the CTI adapter, not started), then gives every
endpoint one event: half of the people have their desk phone in a call, so their desired sessions
are queued in the publisher (nothing is sent: the service is not running). It reports VmRSS and
VmHWM from /proc/self/status after a garbage collection.

Informative, in this process: ``tracemalloc`` growth per 1,000 people of the engine and publisher
(the configuration's own size apart). Nothing is sent to Graph.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path

import httpx

from benchmarks.population import bridge_config, config_yaml, people
from benchmarks.results import Bar, Result
from bridge.kit.clock import FakeClock
from bridge.model import EndpointKey, LineState, StateChange
from bridge.runtime.engine import Engine
from bridge.runtime.service import build_tenant
from bridge.runtime.store import StateStore

NAME = "memory"
PEOPLE = 2000  # tracemalloc share (informative)
QUICK_PEOPLE = 200
RSS_PEOPLE = 10_000
QUICK_RSS_PEOPLE = 1_000
RSS_BAR = Bar("<=", 149.9)  # MB (10^6 bytes, reported to 0.1): the target is "under 150 MB"
MB = 1_000_000
CHILD_TIMEOUT = 120.0  # seconds: a bound, not a wait


class _NoTokens:
    async def token(self) -> str:
        return "unused"

    def invalidate(self) -> None:
        return None


def _refuse(request: httpx.Request) -> httpx.Response:
    return httpx.Response(503)


def _line(n: int, device: str) -> LineState:
    return LineState.IN_CALL if n % 2 == 0 and device == "desk" else LineState.IDLE


# --- the fresh interpreter (resident set) ---------------------------------------------------


def proc_status() -> dict[str, int]:
    """VmRSS and VmHWM of this process, in bytes."""
    found: dict[str, int] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) * 1024  # kB
    return found


async def _resident(path: Path, top: int) -> dict[str, float]:
    # what ``presence-bridge run`` imports, before anything is built
    from bridge.config import load_config
    from bridge.kit import asgi  # noqa: F401
    from bridge.runtime import http  # noqa: F401  (the status endpoints the service serves)
    from bridge.runtime.service import BridgeService

    gc.collect()
    imports_rss = proc_status()["VmRSS"]
    if top:
        tracemalloc.start(25)
    config = load_config(path, environ={})
    config_rss = proc_status()["VmRSS"]  # no collection here: the CLI builds the service right away
    with StateStore(config.state.path) as store:
        service = BridgeService(config, clock=FakeClock(), store=store, rng=random.Random(1))
        endpoints = 0
        for n, person in enumerate(config.people):
            for ep in person.endpoints:
                key = EndpointKey(ep.adapter, ep.extension, ep.context, ep.device)
                service.engine.handle(StateChange(key, line=_line(n, ep.device)))
                endpoints += 1
        gc.collect()
        status = proc_status()
        publisher = next(iter(service.tenants.values())).publisher
        stats = publisher.stats()
        if top:
            snapshot = tracemalloc.take_snapshot()
            for stat in snapshot.statistics("lineno")[:top]:
                print(stat, file=sys.stderr)
        for tenant in service.tenants.values():
            await tenant.aclose()
    return {
        "people": float(len(config.people)),
        "endpoints": float(endpoints),
        "imports_rss_bytes": float(imports_rss),
        "config_rss_bytes": float(config_rss),
        "rss_bytes": float(status["VmRSS"]),
        "hwm_bytes": float(status["VmHWM"]),
        "publisher_people": stats["publisher_people"],
        "publisher_pending": stats["publisher_pending"],
    }


def resident(people_count: int, top: int = 0) -> dict[str, float]:
    """Write the YAML for ``people_count`` people, measure a fresh interpreter running on it."""
    with tempfile.TemporaryDirectory(prefix="presence-bridge-memory-") as tmp:
        path = Path(tmp) / "bridge.yaml"
        path.write_text(config_yaml(people(people_count), state_path=str(Path(tmp) / "state.db")))
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.memory", "--rss", str(path), "--top", str(top)],
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT,
            check=False,
        )
    if top:
        print(done.stderr, file=sys.stderr)
    if done.returncode != 0:
        raise RuntimeError(f"memory child failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    numbers: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return numbers


# --- in this process (tracemalloc share) ----------------------------------------------------


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
    http_client = httpx.AsyncClient(transport=httpx.MockTransport(_refuse))
    with StateStore(":memory:") as store:
        tenant = build_tenant(
            tenant_name,
            tenant_cfg,
            clock=clock,
            store=store,
            rng=random.Random(1),
            tokens=_NoTokens(),
            http=http_client,
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
                engine.handle(StateChange(endpoint, line=_line(n, endpoint.device)))
        gc.collect()
        after_state = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        await tenant.aclose()
    return {
        "config_bytes": float(after_config - before_config),
        "state_bytes": float(after_state - after_config),
    }


def run(quick: bool = False) -> list[Result]:
    traced_people = QUICK_PEOPLE if quick else PEOPLE
    rss_people = QUICK_RSS_PEOPLE if quick else RSS_PEOPLE
    child = resident(rss_people)
    numbers = asyncio.run(measure(traced_people))
    per_1000 = 1000 / traced_people / (1024 * 1024)
    traced_endpoints = sum(len(p.endpoints) for p in people(traced_people))
    setup = (
        f"fresh interpreter: {child['people']:,.0f} people, {child['endpoints']:,.0f} endpoints, "
        f"config loaded from YAML, BridgeService built (not started), one event per endpoint, "
        f"{child['publisher_pending']:,.0f} desired sessions queued"
    )
    return [
        Result(
            NAME,
            "resident_mb",
            round(child["rss_bytes"] / MB, 1),
            "MB",
            None if quick else RSS_BAR,
            note=setup,
            extra={"people": child["people"], "endpoints": child["endpoints"]},
        ),
        Result(NAME, "resident_peak_mb", round(child["hwm_bytes"] / MB, 1), "MB", note="VmHWM"),
        Result(
            NAME,
            "resident_after_imports_mb",
            round(child["imports_rss_bytes"] / MB, 1),
            "MB",
            note="the same interpreter after importing what the service imports, before any config",
        ),
        Result(
            NAME,
            "resident_config_load_mb",
            round((child["config_rss_bytes"] - child["imports_rss_bytes"]) / MB, 1),
            "MB",
            note="growth while loading the YAML (the loader's transient peak stays resident)",
        ),
        Result(
            NAME,
            "resident_service_and_events_mb",
            round((child["rss_bytes"] - child["config_rss_bytes"]) / MB, 1),
            "MB",
            note="growth for BridgeService and one event per endpoint",
        ),
        Result(
            NAME,
            "engine_publisher_mib_per_1000_people",
            round(numbers["state_bytes"] * per_1000, 3),
            "MiB",
            note=f"tracemalloc, {traced_people:,} people, {traced_endpoints:,} endpoints",
        ),
        Result(NAME, "config_mib_per_1000_people", round(numbers["config_bytes"] * per_1000, 3), "MiB"),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__)
    parser.add_argument("--rss", type=Path, metavar="YAML", help="measure the resident set (child mode)")
    parser.add_argument("--top", type=int, default=0, help="print tracemalloc's top N lines to stderr")
    args = parser.parse_args(argv)
    if args.rss:
        print(json.dumps(asyncio.run(_resident(args.rss, args.top))))
        return 0
    for result in run():
        print(result.line(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
