"""Benchmark 5 (cold start) beside the naive baseline: a restart that finds 10,000 people mid-day.

The PBX side is one full ``Snapshot`` of every endpoint of 10,000 people (1-3 endpoints each,
seeded mix: idle, in_call, on_hold, in_conference, ringing, unavailable, DND on). The Teams side
is the emulator (in-process, ``benchmarks.harness``) where people have a Teams desktop session in
various states (Available, Away, in a meeting, Do not disturb, Be right back, or none signed in),
and 20 % of them still have a session of ours left by the previous run (in a call, a conference or
DND, with 1-14 minutes of its 15-minute expiry left), with the matching ownership rows and endpoint
rows in the state store, in a file, as a restart finds them. The bridge then starts as the service
does (``engine.restore`` from the store, ``decide_all``, publisher ``run`` which reconciles the
store) and the adapter's snapshot arrives. Budget 1,200 / 30 s, emulator limit 1,500 / 30 s.

Measured for ours: simulated seconds until every person's session of ours in Teams is what the
mapping wants (none when it wants none) with no decision timer left (idle holds over), checked
against the emulator itself; Graph requests by
kind until then; 429s; CPU seconds the engine takes to apply the snapshot (it also writes every
endpoint to the store); and, 15 minutes later (past every expiry), that nobody drifted and no
session of ours lapsed. The minimum possible number of writes (people whose session differs from
the wanted one at the start) is given beside the requests.

The naive bridge (``benchmarks.naive``) gets the same snapshot against a fresh emulator in the same
state: one ``setPresence`` per snapshot entry (Available for idle phones, last endpoint wins), all
at once. Reported after the same simulated time: its requests, 429s, and people whose Teams view
differs from the aggregate of their desktop and the session our mapping wants (a shadow of our
core, publishing nothing, took the same snapshot), and how many show Available over an Away desktop.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from benchmarks.fidelity import our_session, place_desktops, wrong_now
from benchmarks.harness import (
    csv_config,
    emulated_graph,
    naive_bridge,
    our_engine,
    our_tenant,
    tenant_of,
    tick,
)
from benchmarks.population import ADAPTER, Person, people, users
from benchmarks.results import Bar, Result
from bridge.config import BridgeConfig
from bridge.emulator.config import DEFAULT_CLIENT_ID
from bridge.emulator.state import PresenceState
from bridge.kit.clock import FakeClock
from bridge.model import EndpointState, LineState, Snapshot, StateChange, Toggle
from bridge.presence import AVAILABLE, AWAY, IN_A_CALL, IN_A_CONFERENCE_CALL, PRESENTING, Pair, TeamsIntent
from bridge.runtime.engine import Engine, held_intents
from bridge.runtime.store import PublishedRecord, StateStore

NAME = "cold_start"
PEOPLE = 10_000
QUICK_PEOPLE = 300
EMULATOR_LIMIT = 1500
STEP = 1.0
SETTLED_STEP = 10.0
MAX_SECONDS = 3600
AFTER_SECONDS = 900  # past the 15-minute expiry of everything set before convergence
SEED = 11

LINE_MIX: dict[LineState, float] = {
    LineState.IDLE: 0.55,
    LineState.IN_CALL: 0.14,
    LineState.ON_HOLD: 0.03,
    LineState.IN_CONFERENCE: 0.03,
    LineState.RINGING: 0.05,
    LineState.UNAVAILABLE: 0.20,
}
DND_SHARE = 0.05  # per endpoint
DESKTOP_MIX: dict[Pair | None, float] = {
    AVAILABLE: 0.45,
    AWAY: 0.25,
    Pair("Busy", "InAMeeting"): 0.08,
    Pair("DoNotDisturb", "DoNotDisturb"): 0.05,
    Pair("BeRightBack", "BeRightBack"): 0.05,
    None: 0.12,  # no desktop signed in
}
STALE_SHARE = 0.2
# A stale session of ours and the desk phone state the previous run had for it
STALE_KINDS: tuple[tuple[Pair, LineState, Toggle], ...] = (
    (IN_A_CALL, LineState.IN_CALL, Toggle.OFF),
    (IN_A_CONFERENCE_CALL, LineState.IN_CONFERENCE, Toggle.OFF),
    (PRESENTING, LineState.IDLE, Toggle.ON),
)
SESSION_EXPIRY = timedelta(minutes=15)


@dataclass(frozen=True)
class World:
    """Everything both bridges start from (seeded)."""

    population: tuple[Person, ...]
    config: BridgeConfig
    snapshot: Snapshot
    desktops: dict[str, Pair | None]
    stale: dict[str, tuple[Pair, float]]  # user -> (our old session, seconds of expiry left)


def world(people_count: int, clock: FakeClock, directory: Path, seed: int = SEED) -> World:
    rng = random.Random(seed)
    population = people(people_count)
    lines, weights = list(LINE_MIX), list(LINE_MIX.values())
    changes = tuple(
        StateChange(
            endpoint,
            line=rng.choices(lines, weights)[0],
            dnd=Toggle.ON if rng.random() < DND_SHARE else Toggle.OFF,
            away=Toggle.OFF,
        )
        for person in population
        for endpoint in person.endpoints
    )
    desktop_pairs, desktop_weights = list(DESKTOP_MIX), list(DESKTOP_MIX.values())
    desktops = {p.object_id: rng.choices(desktop_pairs, desktop_weights)[0] for p in population}
    stale = {
        p.object_id: (rng.choice(STALE_KINDS)[0], rng.uniform(60, 840))
        for p in population
        if rng.random() < STALE_SHARE
    }
    snapshot = Snapshot(ADAPTER, changes, partial=False, at=clock.now())
    return World(population, csv_config(population, directory), snapshot, desktops, stale)


def prepare_teams(state: PresenceState, clock: FakeClock, w: World) -> None:
    """Desktop sessions, and the sessions the previous run left (set ``15 min - left`` ago)."""
    place_desktops(state, w.desktops, clock)
    now = clock.now()
    for user, (pair, left) in w.stale.items():
        set_at = now - SESSION_EXPIRY + timedelta(seconds=left)
        state.set_session(user, DEFAULT_CLIENT_ID, pair, set_at, expires_in=SESSION_EXPIRY, fades=True)


def prepare_store(store: StateStore, clock: FakeClock, w: World) -> None:
    """What the previous run left in the store: ownership of its sessions and every endpoint's state."""
    tenant = tenant_of(w.config)[0]
    now = clock.now()
    seen = now - timedelta(minutes=20)
    with store.batch():
        for person in w.population:
            stale = w.stale.get(person.object_id)
            for n, endpoint in enumerate(person.endpoints):
                line, dnd = LineState.IDLE, Toggle.OFF
                if stale is not None and n == 0:
                    line, dnd = next((ln, d) for pair, ln, d in STALE_KINDS if pair == stale[0])
                state = EndpointState(line=line, dnd=dnd, away=Toggle.OFF, observed_at=seen)
                store.save_endpoint(endpoint, state)
            if stale is not None:
                pair, left = stale
                record = PublishedRecord(person.object_id, tenant, pair, now + timedelta(seconds=left))
                store.save_published(record, seen)


@dataclass
class Held:
    """What our app's session holds per user, from the accepted writes (a fast convergence check)."""

    clock: FakeClock
    expiry: float
    sessions: dict[str, tuple[Pair, float]] = field(default_factory=dict)

    def written(self, at: float, user: str, session: Pair | None) -> None:
        if session is None:
            self.sessions.pop(user, None)
        else:
            self.sessions[user] = (session, at + self.expiry)

    def get(self, user: str) -> Pair | None:
        held = self.sessions.get(user)
        return held[0] if held is not None and held[1] > self.clock.monotonic() else None


def _wanted(engine: Engine) -> dict[str, Pair | None]:
    return {
        slot.object_id: slot.previous.session if slot.previous else None
        for slot in engine.slots()
        if slot.object_id is not None
    }


def _wrong_sessions(state: PresenceState, clock: FakeClock, wanted: dict[str, Pair | None]) -> int:
    return sum(our_session(state, clock, user, DEFAULT_CLIENT_ID) != pair for user, pair in wanted.items())


@dataclass
class Ours:
    converge_s: float
    kinds: dict[str, int]
    throttled: int
    snapshot_cpu_s: float
    snapshot_wall_s: float
    min_writes: int
    wrong_at_converge: int
    available_over_away: int
    wrong_after: int
    lapses: int
    refreshes: int
    clears_absent: int
    alarms: list[str]


async def measure_ours(w: World, clock: FakeClock, store_path: Path, rtt: float = 0.0) -> Ours:
    async with emulated_graph(users(w.population), EMULATOR_LIMIT, clock, rtt) as graph:
        state = graph.emu.state
        prepare_teams(state, clock, w)
        with StateStore(store_path) as store:
            prepare_store(store, clock, w)
        held = Held(clock, SESSION_EXPIRY.total_seconds())
        for user, (pair, left) in w.stale.items():
            held.sessions[user] = (pair, clock.monotonic() + left)
        graph.log.listeners.append(held.written)
        unsettled: set[str] = set()
        with StateStore(store_path) as store:  # the restart
            tenant = our_tenant(w.config, graph, store, random.Random(SEED))
            publisher = tenant.publisher

            def publish(object_id: str, intent: TeamsIntent) -> None:
                unsettled.add(object_id)
                publisher.desire(object_id, intent, "cold start")

            engine = our_engine(w.config, clock, store, publish)
            engine.restore(store.load_endpoints())
            engine.decide_all(held_intents(store.load_published().values(), clock.now()))
            task = asyncio.create_task(publisher.run(), name="bench-publisher")
            try:
                await clock.settle()
                start = clock.monotonic()
                cpu, wall = time.process_time(), time.perf_counter()
                engine.handle(w.snapshot)
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                unsettled.update(_wanted(engine))
                converged_at = None
                while clock.monotonic() - start < MAX_SECONDS:
                    await tick(clock, engine, STEP)
                    wanted = _wanted(engine)
                    unsettled = {u for u in unsettled if held.get(u) != wanted[u]}
                    if (
                        not unsettled
                        and engine.next_timer() is None
                        and not _wrong_sessions(state, clock, wanted)
                    ):
                        converged_at = clock.monotonic()
                        break
                converge_s = (converged_at or clock.monotonic()) - start
                min_writes = sum(_initial(w, user) != pair for user, pair in wanted.items())
                kinds = dict(graph.log.kinds)
                throttled = int(graph.emu.limiter.counters["throttled"])
                wrong_at_converge = wrong_now(state, clock, w.desktops, wanted)
                available_over_away = _available_over_away(state, clock, w)
                stats = publisher.stats()
                alarms = sorted(publisher.alarms)
                for _ in range(int(AFTER_SECONDS / SETTLED_STEP)):
                    await tick(clock, engine, SETTLED_STEP)
                wanted = _wanted(engine)
                wrong_after = _wrong_sessions(state, clock, wanted) + wrong_now(
                    state, clock, w.desktops, wanted
                )
                throttled = int(graph.emu.limiter.counters["throttled"])
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                await tenant.aclose()
        tenant_cfg = tenant_of(w.config)[1]
        return Ours(
            converge_s=converge_s,
            kinds=kinds,
            throttled=throttled,
            snapshot_cpu_s=cpu,
            snapshot_wall_s=wall,
            min_writes=min_writes,
            wrong_at_converge=wrong_at_converge,
            available_over_away=available_over_away,
            wrong_after=wrong_after,
            lapses=graph.log.lapses(tenant_cfg.session_expiry.total_seconds(), clock.monotonic()),
            refreshes=int(stats["publisher_refreshes"]),
            clears_absent=int(stats["publisher_clear_presence_absent"]),
            alarms=alarms,
        )


def _available_over_away(state: PresenceState, clock: FakeClock, w: World) -> int:
    """People whose Teams shows Available while their desktop is Away."""
    now = clock.now()
    return sum(
        desktop == AWAY and state.presence(user, now).pair.availability == "Available"
        for user, desktop in w.desktops.items()
    )


def _initial(w: World, user: str) -> Pair | None:
    stale = w.stale.get(user)
    return stale[0] if stale is not None else None


@dataclass
class Naive:
    requests: int
    throttled: int
    wrong: int
    available_over_away: int
    kinds: dict[str, int]


async def measure_naive(w: World, clock: FakeClock, after: float) -> Naive:
    async with emulated_graph(users(w.population), EMULATOR_LIMIT, clock) as graph:
        state = graph.emu.state
        prepare_teams(state, clock, w)
        naive = await naive_bridge(w.config, graph)
        shadow = our_engine(w.config, clock, None, lambda _oid, _intent: None)  # what the mapping wants
        shadow.handle(w.snapshot)
        for change in w.snapshot.changes:
            await naive.handle(change)
        await tick(clock, shadow, after)
        wanted = _wanted(shadow)
        over_away = _available_over_away(state, clock, w)
        return Naive(
            requests=naive.counters["writes"],
            throttled=naive.counters["throttled"],
            wrong=wrong_now(state, clock, w.desktops, wanted),
            available_over_away=over_away,
            kinds=dict(graph.log.kinds),
        )


async def compare(people_count: int) -> tuple[World, Ours, Naive]:
    with tempfile.TemporaryDirectory(prefix="bench-cold-start-") as tmp:
        clock = FakeClock()
        w = world(people_count, clock, Path(tmp))
        ours = await measure_ours(w, clock, Path(tmp) / "state.db")
    naive = await measure_naive(w, FakeClock(), ours.converge_s)
    return w, ours, naive


def run(quick: bool = False) -> list[Result]:
    w, ours, naive = asyncio.run(compare(QUICK_PEOPLE if quick else PEOPLE))
    endpoints = len(w.snapshot.changes)
    writes = {k: v for k, v in ours.kinds.items() if k in ("setPresence", "clearPresence")}
    requests = sum(v for k, v in ours.kinds.items() if k != "token")
    setup = (
        f"{len(w.population):,} people, {endpoints:,} endpoints in one snapshot; {len(w.stale):,} stale "
        f"sessions of ours in Teams and the store; budget 1,200 / 30 s, emulator limit {EMULATOR_LIMIT:,}"
    )
    by_kind = ", ".join(f"{v:,} {k}" for k, v in sorted(writes.items()))
    return [
        Result(
            NAME,
            "converge_s",
            round(ours.converge_s, 1),
            "s (simulated)",
            note=setup + (f"; alarms raised: {', '.join(ours.alarms)}" if ours.alarms else ""),
        ),
        Result(
            NAME,
            "graph_requests",
            requests,
            "requests",
            note=f"{by_kind} ({ours.refreshes:,} refreshes, {ours.clears_absent:,} clears found nothing); "
            f"minimum possible {ours.min_writes:,}",
            extra={k: float(v) for k, v in ours.kinds.items()},
        ),
        Result(NAME, "throttled_429", ours.throttled, "responses", Bar("==", 0)),
        Result(
            NAME,
            "wrong_states",
            ours.wrong_at_converge + ours.wrong_after,
            "people",
            Bar("==", 0),
            note=f"at convergence and {AFTER_SECONDS // 60} min later (Teams view vs desktop + mapping)",
        ),
        Result(NAME, "session_lapses", ours.lapses, "sessions", Bar("==", 0)),
        Result(
            NAME,
            "available_over_away",
            ours.available_over_away,
            "people",
            Bar("==", 0),
            note="Teams shows Available over an Away desktop, at convergence",
        ),
        Result(
            NAME,
            "snapshot_cpu_s",
            round(ours.snapshot_cpu_s, 3),
            "s",
            note=f"engine.handle(Snapshot) incl. saving every endpoint; wall {ours.snapshot_wall_s:.3f} s",
        ),
        Result(
            NAME,
            "naive_graph_requests",
            naive.requests,
            "requests",
            note="benchmarks.naive: one setPresence per snapshot entry, same Teams start, fresh emulator",
        ),
        Result(NAME, "naive_throttled_429", naive.throttled, "responses"),
        Result(
            NAME,
            "naive_wrong_states",
            naive.wrong,
            "people",
            note=f"after the same {ours.converge_s:.0f} simulated s",
        ),
        Result(
            NAME,
            "naive_available_over_away",
            naive.available_over_away,
            "people",
            note=f"Teams shows Available over an Away desktop after {ours.converge_s:.0f} s",
        ),
    ]
