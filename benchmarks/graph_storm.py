"""Graph-storm recovery and the faulty soak (issue 11), on simulated time.

The engine and one tenant's publisher run as the service wires them (``benchmarks.harness``);
Graph is the emulator in-process; bridge, emulator and the emulator's fault plan share one
``FakeClock`` (DESIGN 13: minutes named in acceptance lists are simulated), so a 10-minute soak
takes well under a minute of wall time. Changes go straight into the engine (the CTI listener's
own cost is measured by the latency benchmarks).

- **recovery**: 200 people, 50 changes/s; after 30 s of steady load the emulator answers the next
  30 Graph requests with 429 (Retry-After 2 s); reported: how long the storm lasted, the budget's
  limit at its end, the time from its end to the full budget (bar: 3 minutes), the oldest waiting
  change during the storm and in the minute after it, the longest time Graph heard nothing while
  changes waited (bar: the Retry-After, plus one tick).
- **soak**: 600 s, 50 changes/s, 200 people, with the fault schedule ``SCHEDULE`` (429 storms of
  30 and 60 with Retry-After 2, 40 x 503, 40 x 504, 40 dropped connections, a slow spell of 100
  requests answered 1 s late), then 60 quiet seconds. Bars: 0 wrong final states (Teams holds
  what the core wants for everyone), staleness p99 < 30 s, the refresh-capacity alarm never
  raised.

Staleness is ``benchmarks.graph_log.Staleness``: per desired-state change, the simulated seconds
until Graph accepted the write that shows it (or until the next change superseded it).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

from benchmarks.fidelity import our_session
from benchmarks.graph_log import Staleness, percentile
from benchmarks.harness import emulated_graph, our_engine, our_tenant, tick
from benchmarks.population import Person, bridge_config, people, users
from benchmarks.results import Bar, Result
from bridge.emulator.config import DEFAULT_CLIENT_ID
from bridge.emulator.faults import Fault, FaultKind
from bridge.model import LineState, StateChange, Toggle
from bridge.presence import TeamsIntent
from bridge.runtime.store import StateStore
from bridge.teams.planner import ALARM_REFRESH_CAPACITY

NAME = "graph_storm"
PEOPLE = 200
RATE = 50  # changes per simulated second
STEP = 0.1  # simulated seconds per tick
EMULATOR_LIMIT = 1500
RETRY_AFTER = 2.0
SOAK_SECONDS = 600.0
QUIET_SECONDS = 60.0
FULL_BUDGET_BAR = 180.0  # seconds from the storm's end (issue 11: "within 3 minutes of quiet")

# simulated second -> (fault, how many requests it hits)
SCHEDULE: tuple[tuple[float, Fault, int], ...] = (
    (30.0, Fault(FaultKind.THROTTLE, retry_after=RETRY_AFTER), 30),
    (120.0, Fault(FaultKind.UNAVAILABLE), 40),
    (180.0, Fault(FaultKind.GATEWAY_TIMEOUT), 40),
    (240.0, Fault(FaultKind.DROP), 40),
    (300.0, Fault(FaultKind.THROTTLE, retry_after=RETRY_AFTER), 60),
    (420.0, Fault(FaultKind.SLOW, delay=1.0), 100),
    (500.0, Fault(FaultKind.THROTTLE, retry_after=RETRY_AFTER), 30),
)
STATES = (LineState.IN_CALL, LineState.IDLE, LineState.IN_CONFERENCE, LineState.IDLE, LineState.ON_HOLD)


def changes(population: tuple[Person, ...], seed: int) -> Iterator[list[StateChange]]:
    """``RATE x STEP`` changes per tick, forever: a random endpoint to a random line state, and
    now and then DND."""
    rng = random.Random(seed)
    per_tick = round(RATE * STEP)
    while True:
        batch = []
        for _ in range(per_tick):
            person = rng.choice(population)
            endpoint = rng.choice(person.endpoints)
            if rng.random() < 0.1:
                batch.append(StateChange(endpoint, dnd=Toggle.ON if rng.random() < 0.5 else Toggle.OFF))
            else:
                batch.append(StateChange(endpoint, line=rng.choice(STATES)))
        yield batch


@dataclass
class Run:
    storms: list[tuple[float, float, int]] = field(default_factory=list)  # (began, ended, limit at end)
    full_after: list[float] = field(default_factory=list)  # seconds from a 429 storm's end to full budget
    stale_during: float = 0.0  # the publisher's max staleness gauge while a storm lasts
    stale_after: float = 0.0  # and in the minute after it
    waits: list[float] = field(default_factory=list)
    wrong: int = 0
    capacity_alarm: bool = False
    limit_min: int = 0
    longest_silence: float = 0.0  # longest simulated gap between Graph requests while work waited


async def simulate(seconds: float, schedule: tuple[tuple[float, Fault, int], ...], seed: int = 11) -> Run:
    population = people(PEOPLE, seed=3)
    config = bridge_config(population)
    run = Run()
    async with emulated_graph(users(population), EMULATOR_LIMIT) as graph:
        clock, emu = graph.clock, graph.emu
        staleness = Staleness()
        graph.log.listeners.append(staleness.written)
        with StateStore(":memory:") as store:
            tenant = our_tenant(config, graph, store, random.Random(seed))
            publisher, budget = tenant.publisher, tenant.budget

            def publish(object_id: str, intent: TeamsIntent) -> None:
                staleness.desired(object_id, clock.monotonic(), intent.session)
                publisher.desire(object_id, intent, "benchmark")

            engine = our_engine(config, clock, store, publish)
            engine.decide_all()
            task = asyncio.create_task(publisher.run(), name="bench-publisher")
            start = clock.monotonic()
            load, pending = changes(population, seed), list(schedule)
            storm: tuple[float, bool] | None = None  # (began, is a 429 storm)
            waiting_full: float | None = None
            run.limit_min = budget.limit
            last_request, requests = clock.monotonic(), 0
            try:
                await clock.settle()
                while (now := clock.monotonic() - start) < seconds + QUIET_SECONDS:
                    if pending and now >= pending[0][0]:
                        _, fault, count = pending.pop(0)
                        emu.faults.inject(fault, count)
                        storm = (now, fault.kind is FaultKind.THROTTLE)
                    if now < seconds:
                        for change in next(load):
                            engine.handle(change)
                    await tick(clock, engine, STEP)
                    seen = sum(graph.log.kinds.values())
                    if seen != requests:
                        last_request, requests = clock.monotonic(), seen
                    elif publisher.stats()["publisher_pending"]:
                        run.longest_silence = max(run.longest_silence, clock.monotonic() - last_request)
                    stale = publisher.stats()["publisher_max_staleness_seconds"]
                    if storm is not None:
                        run.stale_during = max(run.stale_during, stale)
                    elif run.storms and now - run.storms[-1][1] <= 60.0:
                        run.stale_after = max(run.stale_after, stale)
                    run.limit_min = min(run.limit_min, budget.limit)
                    run.capacity_alarm |= ALARM_REFRESH_CAPACITY in publisher.alarms
                    if storm is not None and not emu.faults.pending():
                        run.storms.append((storm[0], now, budget.limit))
                        if storm[1]:
                            waiting_full = now
                        storm = None
                    if waiting_full is not None and budget.limit == budget.max_requests:
                        run.full_after.append(clock.monotonic() - start - waiting_full)
                        waiting_full = None
                if waiting_full is not None:
                    run.full_after.append(float("inf"))
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                await tenant.aclose()
            run.waits = staleness.waits(clock.monotonic())
            wanted = {
                slot.object_id: slot.previous.session if slot.previous else None
                for slot in engine.slots()
                if slot.object_id is not None
            }
            held = {u: our_session(emu.state, clock, u, DEFAULT_CLIENT_ID) for u in wanted}
            run.wrong = sum(held[u] != pair for u, pair in wanted.items())
    return run


def run(quick: bool = False) -> list[Result]:
    first = SCHEDULE[:1]
    recovery = asyncio.run(simulate(60.0 if quick else 240.0, first))
    began, ended, limit_at_end = recovery.storms[0]
    soak = asyncio.run(simulate(120.0 if quick else SOAK_SECONDS, SCHEDULE[:3] if quick else SCHEDULE))
    waits = soak.waits
    return [
        Result(NAME, "storm_30x429_seconds", ended - began, "s", note="30 x 429, Retry-After 2 s"),
        Result(NAME, "storm_30x429_limit_at_end", limit_at_end, "req/30 s", note="budget 1,200"),
        Result(
            NAME,
            "full_budget_after_30x429",
            recovery.full_after[0],
            "s",
            Bar("<=", FULL_BUDGET_BAR),
            "from the storm's end",
        ),
        Result(NAME, "recovery_staleness_during", recovery.stale_during, "s", note="oldest waiting change"),
        Result(NAME, "recovery_staleness_after", recovery.stale_after, "s", note="the minute after"),
        Result(NAME, "recovery_staleness_p99", percentile(recovery.waits, 99), "s", note="every change"),
        Result(NAME, "longest_tenant_silence", recovery.longest_silence, "s", Bar("<=", RETRY_AFTER + STEP)),
        Result(NAME, "soak_wrong_final_states", soak.wrong, "people", Bar("==", 0)),
        Result(NAME, "soak_staleness_p50", percentile(waits, 50), "s"),
        Result(NAME, "soak_staleness_p99", percentile(waits, 99), "s", Bar("<=", 30.0)),
        Result(NAME, "soak_staleness_max", max(waits, default=0.0), "s"),
        Result(NAME, "soak_capacity_alarm", float(soak.capacity_alarm), "", Bar("==", 0)),
        Result(NAME, "soak_budget_min", soak.limit_min, "req/30 s"),
        Result(
            NAME,
            "soak_full_budget_after_429_storms_max",
            max(soak.full_after, default=0.0),
            "s",
            Bar("<=", FULL_BUDGET_BAR),
        ),
        Result(NAME, "soak_changes", (120.0 if quick else SOAK_SECONDS) * RATE, "changes"),
    ]
