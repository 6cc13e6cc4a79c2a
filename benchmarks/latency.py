"""Benchmark: bridge-added latency, PBX event in -> Graph request received by the emulator.

Three processes on loopback, so that the bridge has a core of its own and the clocks compare:

- the **Graph emulator** (``latency_emulator``), spawned, HTTPS on 127.0.0.1; an outermost ASGI
  wrapper stamps each ``/v1.0/users/{id}/...`` request as its first statement, once the request
  line and headers have arrived (before the body, auth, JSON or state work);
- the **bridge** in this process: the real ``BridgeService`` (generic CTI adapter on its TCP ingress,
  engine, publisher, msal tokens over HTTPS, SQLite state store in a temporary file);
- the **load generator** (``latency_load``), spawned: blocking writes of CTI JSON lines at a fixed
  rate, ``perf_counter()`` taken right before each write (``latency_ami`` does the same as a fake
  AMI server replaying recorded Asterisk frames into the Asterisk adapter).

Timestamps are ``time.perf_counter()``, which on Linux is ``clock_gettime(CLOCK_MONOTONIC)``: one
system-wide clock, so a stamp from one process compares with a stamp from another. The run checks
this: every process (bridge, emulator, load generator, fake PBX) reports
``perf_counter() - clock_gettime(CLOCK_MONOTONIC)``, which must be within 1 ms of 0, or the run stops.

The event mix (``latency_schedule``): calls answered, held and resumed, missed, conferences and DND,
over 5,000 people with 1-3 devices each, so that only some events publish at once. Which events do
(an immediate Teams write) is predicted by replaying the schedule through the bridge's own engine;
each is matched to the Graph request it caused and its latency is arrival - sent. Matching rule
(``latency_match``): an event for person P sent at ``t`` is matched to the first presence write for
P's user id that arrived at or after ``t`` and was not matched to an earlier event of P. Events in the
warm-up are not reported. Unmatched events are counted (0 expected unless the bridge falls behind).

Full mode (about 130 s): CTI 100 events/s for 30 s after a 3 s warm-up; CTI 500, 1,000 (no bar:
where the knee is) and 2,000 events/s for 10 s after 2 s each; AMI 100 events/s for 20 s after 2 s;
the naive bridge at 100 events/s for 15 s after 2 s; 1,000 bare writes. Quick mode (seconds, 1,000
people) runs the "100" and "2000" CTI phases, the latter at 400/s, and the others as above, shorter.

Set-up: the tenant budget is raised to 100,000 requests / 30 s (the configuration's maximum) and the
emulator's limit to 1,000,000 / 30 s, so this measures the bridge, not a queue in front of Graph.

Baseline: the naive bridge (``benchmarks.naive``) behind the same CTI adapter and TCP load, one
``setPresence`` per event, reported as ``naive_*`` with its write count.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import random
import shutil
import ssl
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import httpx

from adapters.base import AdapterDeps, Health
from adapters.generic_cti.adapter import CtiFactory
from adapters.generic_cti.config import CtiConfig
from adapters.generic_cti.parse import parse_events
from benchmarks.latency_ami import FakePbx, ami_yaml
from benchmarks.latency_ami import emitted as ami_emitted
from benchmarks.latency_emulator import EmulatorProcess, clock_offset
from benchmarks.latency_load import CtiLoad
from benchmarks.latency_match import WRITES, Matched, Measured, match, percentile, predict
from benchmarks.latency_schedule import Planned, build
from benchmarks.naive import NaiveBridge, fetch_token, router
from benchmarks.population import ADAPTER, Person, config_yaml, people, users
from benchmarks.results import Bar, Result
from bridge.config import BridgeConfig, load_config_text
from bridge.demo import running_service
from bridge.emulator.config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from bridge.kit.clock import SystemClock
from bridge.kit.heap import freeze_long_lived
from bridge.model import StateChange
from bridge.runtime.service import BridgeService

NAME = "latency"
BAR_100 = Bar("<=", 2.0)
BAR_2000 = Bar("<=", 20.0)
BUDGET = 100_000  # per 30 s (the configuration's maximum)
EMULATOR_LIMIT = 1_000_000  # per 30 s
CTI_TOKEN = "bench-latency-token-0123456789"
CLOCK_TOLERANCE = 0.001  # seconds: perf_counter must be CLOCK_MONOTONIC in every process
SETTLE_LIMIT = 15.0  # seconds to wait for the bridge to go idle after the last event (a bound)


@dataclasses.dataclass(frozen=True)
class Phase:
    """One measured run: events per second, seconds measured after ``warmup`` seconds, call pace."""

    label: str
    rate: float
    seconds: float
    warmup: float
    pace: float


@dataclasses.dataclass(frozen=True)
class Plan:
    people: int
    cti: tuple[Phase, ...]
    naive: tuple[Phase, ...]
    ami: tuple[Phase, ...]
    bare_writes: int


FULL = Plan(
    people=5000,
    # 500 and 1,000 events/s have no bar: they show where this machine's knee is, between the bars
    cti=(
        Phase("100", 100, 30, 3, 1.0),
        Phase("500", 500, 10, 2, 1.0),
        Phase("1000", 1000, 10, 2, 0.5),
        Phase("2000", 2000, 10, 2, 0.1),
    ),
    naive=(Phase("100", 100, 15, 2, 1.0),),
    ami=(Phase("100", 100, 20, 2, 1.0),),
    bare_writes=1000,
)
QUICK = Plan(
    people=1000,
    cti=(Phase("100", 100, 2, 0.5, 0.3), Phase("2000", 400, 1, 0.25, 0.1)),
    naive=(Phase("100", 100, 1, 0.25, 0.3),),
    ami=(Phase("100", 100, 1.5, 0.25, 0.3),),
    bare_writes=20,
)


@dataclasses.dataclass
class Outcome:
    """What one phase measured (for the results and the tests)."""

    label: str
    offered: int  # events sent
    acks: int  # acks received from the ingress
    refused: int  # acks refusing a line
    measured: int  # events that publish at once, after the warm-up
    matched: Matched
    writes: int  # presence writes the emulator received during the phase
    timer_writes: int  # publishes caused by timers (predicted), not measured
    throttled: float  # 429s the emulator sent
    naive_writes: int = 0
    # the bridge process's CPU time (all threads) per event sent, in user space and in the kernel
    cpu_user_ms_per_event: float = 0.0
    cpu_sys_ms_per_event: float = 0.0


class LatencyError(RuntimeError):
    """The benchmark could not run as designed (clocks differ, a process did not start...)."""


# --- set-up --------------------------------------------------------------------------------


def bench_config(population: tuple[Person, ...], emulator: EmulatorProcess, state_path: Path) -> BridgeConfig:
    """The bridge configuration: the benchmark population, TCP ingress only, the raised budget."""
    text = config_yaml(
        population,
        authority=emulator.authority_base,
        graph_url=emulator.graph_url,
        ca_file=Path(emulator.ca_file),
        budget_requests=BUDGET,
        state_path=str(state_path),
        cti_token=CTI_TOKEN,
    )
    text = text.replace(
        "    http_listen: 127.0.0.1:0\n", "    http_listen: null\n    tcp_listen: 127.0.0.1:0\n"
    )
    return load_config_text(text, "<latency benchmark>", environ={})


def _fresh_store(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def _until(predicate: Callable[[], bool], what: str, limit: float = SETTLE_LIMIT) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not predicate():
        if loop.time() > deadline:
            raise LatencyError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def check_clock(offset: float, process: str) -> None:
    if abs(offset) > CLOCK_TOLERANCE:
        raise LatencyError(f"perf_counter is not CLOCK_MONOTONIC in the {process} ({offset:+.6f} s)")


def _cpu() -> tuple[float, float]:
    times = os.times()
    return times.user, times.system


def _per_event(began: tuple[float, float], ended: tuple[float, float], events: int) -> tuple[float, float]:
    n = max(1, events)
    return (ended[0] - began[0]) * 1000 / n, (ended[1] - began[1]) * 1000 / n


async def _settle(service: BridgeService) -> None:
    """Wait (bounded) until the bridge has no Graph work pending; an overloaded bridge is not waited
    for longer: what it has not sent by then counts as unmatched."""
    with contextlib.suppress(LatencyError):
        await _until(service.idle, "the bridge to finish its Graph writes")


def _emitted(
    planned: Sequence[Planned], population: tuple[Person, ...]
) -> list[tuple[float, list[StateChange]]]:
    return [(p.at, parse_events(p.json_line(population[p.person].extension), ADAPTER)) for p in planned]


# --- one phase -----------------------------------------------------------------------------


async def _drive(
    address: tuple[str, int], planned: Sequence[Planned], population: tuple[Person, ...]
) -> tuple[list[float], int, int, tuple[float, float]]:
    """Run the load generator; returns send stamps, acks, refusals and this process's CPU time
    (user, system) when sending began (the generator's start-up is not the bridge's work)."""
    lines = [p.json_line(population[p.person].extension) for p in planned]
    load = CtiLoad.start(address, CTI_TOKEN, lines, [p.at for p in planned])
    try:
        check_clock(await asyncio.to_thread(load.ready), "load generator")
        began = _cpu()
        load.go(time.perf_counter() + 0.2)
        duration = planned[-1].at if planned else 0.0
        sent, acks, refused = await asyncio.to_thread(load.result, duration + 60.0)
        return sent, acks, refused, began
    finally:
        load.kill()


async def _cti_phase(
    phase: Phase, config: BridgeConfig, population: tuple[Person, ...], emulator: EmulatorProcess
) -> Outcome:
    planned = build(population, phase.rate, phase.seconds + phase.warmup, pace=phase.pace)
    measured, timer_writes = predict(config, _emitted(planned, population))
    _fresh_store(Path(config.state.path))
    async with running_service(config, SystemClock()) as service:
        publisher = next(iter(service.tenants.values())).publisher
        await _until(lambda: publisher.health is Health.CONNECTED, "the publisher's first token")
        freeze_long_lived()  # as `presence-bridge run` does once the service is built
        address = service.adapters[ADAPTER].tcp_address  # type: ignore[attr-defined]
        sent, acks, refused, cpu = await _drive(address, planned, population)
        await _settle(service)
        used = _cpu()
        await asyncio.sleep(0.2)  # the last responses' bookkeeping
    outcome = _outcome(phase, planned, measured, timer_writes, sent, acks, refused, emulator)
    outcome.cpu_user_ms_per_event, outcome.cpu_sys_ms_per_event = _per_event(cpu, used, len(sent))
    return outcome


async def _naive_phase(
    phase: Phase, config: BridgeConfig, population: tuple[Person, ...], emulator: EmulatorProcess
) -> Outcome:
    planned = build(population, phase.rate, phase.seconds + phase.warmup, pace=phase.pace)
    route = router(config)
    emitted = _emitted(planned, population)
    measured = [
        Measured(i, user)
        for i, (_, changes) in enumerate(emitted)
        for change in changes
        if (user := route(change.endpoint)) is not None
    ]
    settings = CtiConfig.model_validate(
        {"token": CTI_TOKEN, "http_listen": None, "tcp_listen": "127.0.0.1:0"}
    )
    deps = AdapterDeps(SystemClock(), random.Random(1), mapped=lambda key: config.route(key) is not None)
    adapter = CtiFactory().create(ADAPTER, settings, deps)
    trust = ssl.create_default_context(cafile=emulator.ca_file)
    async with httpx.AsyncClient(verify=trust, trust_env=False, timeout=30.0) as client:
        token = await fetch_token(
            client,
            f"{emulator.base_url}/{config.tenants['bench'].tenant_id}",
            DEFAULT_CLIENT_ID,
            DEFAULT_CLIENT_SECRET,
        )
        naive = NaiveBridge(client, emulator.graph_url, token, DEFAULT_CLIENT_ID, route)

        async def pump() -> None:
            async for event in adapter.events():
                if isinstance(event, StateChange):
                    naive.submit(event)

        await adapter.start()
        pumping = asyncio.create_task(pump(), name="naive-pump")
        try:
            await _until(lambda: adapter.health is Health.CONNECTED, "the CTI listener")
            address = adapter.tcp_address  # type: ignore[attr-defined]
            sent, acks, refused, _ = await _drive(address, planned, population)
            await _until(lambda: naive.counters["events"] >= acks, "the naive bridge's events")
            await naive.drain()
        finally:
            await adapter.stop()
            await asyncio.gather(pumping, return_exceptions=True)
    outcome = _outcome(phase, planned, measured, 0, sent, acks, refused, emulator)
    outcome.naive_writes = naive.counters["writes"]
    return outcome


async def _ami_phase(
    phase: Phase, population: tuple[Person, ...], emulator: EmulatorProcess, directory: Path
) -> Outcome:
    planned = build(population, phase.rate, phase.seconds + phase.warmup, pace=phase.pace)
    pbx = await asyncio.to_thread(FakePbx.start, population, planned)
    try:
        check_clock(pbx.offset, "fake AMI server")
        state_path = directory / "ami-state.db"
        text = ami_yaml(
            population,
            pbx.port,
            emulator.authority_base,
            emulator.graph_url,
            emulator.ca_file,
            budget=BUDGET,
            state_path=state_path,
        )
        config = await asyncio.to_thread(load_config_text, text, "<latency benchmark, AMI>", environ={})
        prelude, items = ami_emitted(population, planned)
        measured, timer_writes = predict(config, items, prelude)
        _fresh_store(state_path)
        async with running_service(config, SystemClock()) as service:
            publisher = next(iter(service.tenants.values())).publisher
            await _until(lambda: publisher.health is Health.CONNECTED, "the publisher's first token")
            freeze_long_lived()  # as `presence-bridge run` does once the service is built
            cpu = _cpu()  # the fake PBX was started before the bridge
            pbx.go(time.perf_counter() + 0.2)
            sent, acks, refused = await asyncio.to_thread(pbx.result, planned[-1].at + 60.0)
            await _settle(service)
            used = _cpu()
            await asyncio.sleep(0.2)
    finally:
        await asyncio.to_thread(pbx.stop)
    outcome = _outcome(phase, planned, measured, timer_writes, sent, acks, refused, emulator)
    outcome.cpu_user_ms_per_event, outcome.cpu_sys_ms_per_event = _per_event(cpu, used, len(sent))
    return outcome


def _outcome(
    phase: Phase,
    planned: Sequence[Planned],
    measured: list[Measured],
    timer_writes: int,
    sent: list[float],
    acks: int,
    refused: int,
    emulator: EmulatorProcess,
) -> Outcome:
    stamps, throttled = emulator.collect(reset=True)
    if len(sent) != len(planned):
        raise LatencyError(f"the load generator sent {len(sent)} of {len(planned)} events")
    from_time = sent[0] + phase.warmup if sent else 0.0
    matched = match(measured, sent.__getitem__, stamps, from_time=from_time)
    counted = sum(1 for m in measured if sent[m.index] >= from_time)
    writes = sum(1 for s in stamps if s[1] in WRITES)
    return Outcome(phase.label, len(sent), acks, refused, counted, matched, writes, timer_writes, throttled)


# --- scale: a bare setPresence ------------------------------------------------------------


async def bare_writes(emulator: EmulatorProcess, tenant_id: str, user_id: str, count: int) -> list[float]:
    """Round trips of ``setPresence`` straight to the emulator over HTTPS keep-alive (ms)."""
    trust = ssl.create_default_context(cafile=emulator.ca_file)
    async with httpx.AsyncClient(verify=trust, trust_env=False, timeout=10.0) as client:
        token = await fetch_token(
            client, f"{emulator.base_url}/{tenant_id}", DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
        )
        headers = {"Authorization": f"Bearer {token}"}
        body = {
            "sessionId": DEFAULT_CLIENT_ID,
            "availability": "Busy",
            "activity": "InACall",
            "expirationDuration": "PT15M",
        }
        url = f"{emulator.graph_url}/users/{user_id}/presence/setPresence"
        times = []
        for n in range(count + 20):
            began = time.perf_counter()
            response = await client.post(url, headers=headers, json=body)
            response.raise_for_status()
            if n >= 20:
                times.append((time.perf_counter() - began) * 1000)
    return times


# --- the run -------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _emulator(population: tuple[Person, ...], directory: Path) -> AsyncIterator[EmulatorProcess]:
    emulator = await asyncio.to_thread(
        EmulatorProcess.start, users(population), EMULATOR_LIMIT, directory / "tls"
    )
    try:
        check_clock(clock_offset(), "bridge")
        check_clock(emulator.offset, "emulator")
        yield emulator
    finally:
        await asyncio.to_thread(emulator.stop)


@dataclasses.dataclass
class Measurements:
    cti: list[Outcome]
    naive: list[Outcome]
    ami: list[Outcome]
    bare_ms: list[float]


async def measure(plan: Plan) -> Measurements:
    population = people(plan.people)
    with tempfile.TemporaryDirectory(prefix="presence-bridge-latency-") as tmp:
        directory = Path(tmp)
        async with _emulator(population, directory) as emulator:
            config = await asyncio.to_thread(bench_config, population, emulator, directory / "state.db")
            cti = [await _cti_phase(phase, config, population, emulator) for phase in plan.cti]
            naive = [await _naive_phase(phase, config, population, emulator) for phase in plan.naive]
            ami = [await _ami_phase(phase, population, emulator, directory) for phase in plan.ami]
            tenant_id = config.tenants["bench"].tenant_id
            bare = await bare_writes(emulator, tenant_id, population[0].object_id, plan.bare_writes)
            await asyncio.to_thread(emulator.collect, reset=True)
        shutil.rmtree(directory, ignore_errors=True)
    return Measurements(cti, naive, ami, bare)


def _latency_results(prefix: str, outcome: Outcome, bar: Bar | None, note: str) -> list[Result]:
    values = outcome.matched.latencies_ms
    if not values:
        raise LatencyError(f"{prefix}: no event was measured")
    extra = {
        "events_sent": float(outcome.offered),
        "events_measured": float(outcome.measured),
        "matched": float(len(values)),
        "unmatched": float(outcome.matched.unmatched),
        "graph_writes": float(outcome.writes),
        "emulator_429": outcome.throttled,
    }
    if outcome.cpu_user_ms_per_event:
        extra["bridge_cpu_user_ms_per_event"] = round(outcome.cpu_user_ms_per_event, 4)
        extra["bridge_cpu_sys_ms_per_event"] = round(outcome.cpu_sys_ms_per_event, 4)
    if outcome.matched.service_ms:
        extra["emulator_service_p50_ms"] = round(statistics.median(outcome.matched.service_ms), 3)
    if outcome.matched.unmatched:
        note += (
            f"; {outcome.matched.unmatched} events never got their own request (the bridge fell behind and "
            "a later event for the same person superseded them): percentiles are over the matched ones"
        )
    return [
        Result(NAME, f"{prefix}_p50_ms", round(statistics.median(values), 3), "ms", note=note, extra=extra),
        Result(NAME, f"{prefix}_p99_ms", round(percentile(values, 99), 3), "ms", bar, note=note),
        Result(NAME, f"{prefix}_max_ms", round(max(values), 3), "ms"),
    ]


def results(m: Measurements, plan: Plan) -> list[Result]:
    out: list[Result] = []
    bars = {"100": BAR_100, "2000": BAR_2000}
    for phase, outcome in zip(plan.cti, m.cti, strict=True):
        note = (
            f"CTI over TCP at {phase.rate:g} events/s, {plan.people:,} people, {outcome.measured} of "
            f"{outcome.offered} events publish at once; line written -> Graph request at the emulator; "
            f"budget {BUDGET:,}/30 s, emulator limit {EMULATOR_LIMIT:,}/30 s, warm-up {phase.warmup:g} s"
        )
        out += _latency_results(f"cti_{phase.label}", outcome, bars.get(phase.label), note)
        out.append(Result(NAME, f"cti_{phase.label}_unmatched", float(outcome.matched.unmatched), "events"))
    for phase, outcome in zip(plan.ami, m.ami, strict=True):
        note = (
            f"Asterisk adapter fed by a fake AMI server (recorded Asterisk 22 frame shapes) at "
            f"{phase.rate:g} events/s, {plan.people:,} people, {outcome.measured} of {outcome.offered} "
            "events publish at once; frames written -> Graph request at the emulator"
        )
        out += _latency_results(f"ami_{phase.label}", outcome, bars.get(phase.label), note)
        out.append(Result(NAME, f"ami_{phase.label}_unmatched", float(outcome.matched.unmatched), "events"))
    for phase, outcome in zip(plan.naive, m.naive, strict=True):
        note = (
            f"naive bridge behind the same CTI adapter at {phase.rate:g} events/s: one setPresence per event"
        )
        out += [
            dataclasses.replace(r, bar=None)
            for r in _latency_results(f"naive_cti_{phase.label}", outcome, None, note)
        ]
        out.append(Result(NAME, f"naive_cti_{phase.label}_writes", float(outcome.naive_writes), "writes"))
    out.append(
        Result(
            NAME,
            "graph_https_p50_ms",
            round(statistics.median(m.bare_ms), 3),
            "ms",
            note="a bare setPresence round trip over HTTPS keep-alive to the emulator process, for scale",
            extra={"p99_ms": round(percentile(m.bare_ms, 99), 3)},
        )
    )
    return out


def run(quick: bool = False) -> list[Result]:
    plan = QUICK if quick else FULL
    return results(asyncio.run(measure(plan)), plan)
