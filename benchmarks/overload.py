"""Benchmark 4 (and 6's fidelity): offered load at twice the Graph budget, on simulated time; ours and naive.

2,000 people (1-3 endpoints each) change state 2,400 times per 30 s of simulated time for five
minutes (the bridge's budget is 1,200 / 30 s, the emulator's limit 1,500 / 30 s), then the load
stops and the bridge runs on for 20 more minutes (past the 15-minute session expiry). The engine
and one tenant's publisher run as the service wires them; Graph is the emulator in-process
(``benchmarks.harness``), bridge and emulator share one ``FakeClock``.

Each change moves one person's desk phone to a state whose Teams mapping differs from the one it
had (answer a call, join a conference, DND on/off, unplug the phone), so every change is a Teams
transition offered to the publisher. The changes are drawn from their own seed before the run, so
the naive bridge (``benchmarks.naive``) gets exactly the same ones, at the same simulated times,
against a fresh emulator with the same Teams desktops.

Checked for ours: the emulator answered zero 429s; no session of ours lapsed while the bridge meant
to keep it (from a log of every request: no live session went longer than its expiry without a
refresh); Teams ends holding exactly what the core wants. Reported:

- staleness p50/p99/max: for every desired-state change the core hands the publisher, the
  simulated seconds until Graph accepted the write that makes Teams hold exactly that session
  (``setPresence`` of that pair, or ``clearPresence`` answered 200/404), or, when the person's next
  change came first, until that next change (superseded: the intent was not shown for that long);
- fidelity (``benchmarks.fidelity``): every user has a Teams desktop session, 40 % of them Away
  (seeded), the rest Available; every 10 simulated seconds of the whole run each user is sampled:
  the share of (user, sample) pairs where Teams shows Available while the desktop is Away, and the
  share where Teams shows anything other than the aggregate of the desktop and the session our
  mapping wants for the PBX state at that moment;
- for the naive bridge: writes, 429s, people whose final Teams view differs from the desktop +
  mapping aggregate for the same final PBX state (a shadow of our core, publishing nothing, says
  what the mapping wants), and the same two fidelity shares.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

from benchmarks.fidelity import Fidelity, away_share_mix, give_desktops, our_session, wrong_now
from benchmarks.graph_log import RequestLog, Staleness, percentile
from benchmarks.harness import Graph, emulated_graph, naive_bridge, our_engine, our_tenant, tenant_of, tick
from benchmarks.population import Person, bridge_config, people, users
from benchmarks.results import Bar, Result
from bridge.config import BridgeConfig
from bridge.emulator.config import DEFAULT_CLIENT_ID
from bridge.model import LineState, StateChange, Toggle
from bridge.presence import Pair, TeamsIntent
from bridge.runtime.engine import Engine
from bridge.runtime.store import StateStore

__all__ = ["RequestLog", "run"]

NAME = "overload"
PEOPLE = 2000
CHANGES_PER_WINDOW = 2400  # per 30 s: twice the default budget of 1,200
WINDOW = 30.0
LOAD_SECONDS = 300
AFTER_SECONDS = 1200  # past the 15-minute session expiry
EMULATOR_LIMIT = 1500
STEP = 1.0  # simulated seconds per tick
SAMPLE_EVERY = 10  # ticks between fidelity samples
DESKTOP_AWAY_SHARE = 0.4
LOAD_SEED = 5
DESKTOP_SEED = 7

CALL_LINES = (LineState.IN_CALL, LineState.IN_CONFERENCE)


@dataclass
class _Phone:
    """What one person's desk phone is doing (their other endpoints stay quiet)."""

    line: LineState = LineState.UNAVAILABLE
    dnd: bool = False

    def next_change(self, person: Person, rng: random.Random) -> StateChange:
        """A change whose Teams mapping differs from the current one (so it is a transition)."""
        desk = person.endpoints[0]
        if self.dnd or rng.random() < 0.2:
            self.dnd = not self.dnd
            return StateChange(desk, dnd=Toggle.ON if self.dnd else Toggle.OFF)
        # unplugging clears at once (hanging up would hold 3 s); a call shows at once
        self.line = LineState.UNAVAILABLE if self.line in CALL_LINES else rng.choice(CALL_LINES)
        return StateChange(desk, line=self.line)


def offered_load(population: tuple[Person, ...], load_seconds: int, seed: int) -> list[list[StateChange]]:
    """The changes of each tick of the load, drawn once (both bridges get this very list)."""
    rng = random.Random(seed)
    phones = {p.object_id: _Phone() for p in population}
    per_tick = CHANGES_PER_WINDOW * STEP / WINDOW
    owed = 0.0
    ticks: list[list[StateChange]] = []
    for _ in range(int(load_seconds / STEP)):
        owed += per_tick
        changes = []
        while owed >= 1:
            owed -= 1
            person = rng.choice(population)
            changes.append(phones[person.object_id].next_change(person, rng))
        ticks.append(changes)
    return ticks


@dataclass
class Outcome:
    offered_transitions: int
    offered_per_window: float
    throttled: int
    lapses: int
    wrong_final: int
    wrong_final_shown: int
    max_staleness: float
    staleness: list[float]
    superseded: int
    busiest_window: int
    requests: int
    refreshes: int
    fidelity: Fidelity


@dataclass
class NaiveOutcome:
    writes: int
    throttled: int
    failed: int
    wrong_final: int
    fidelity: Fidelity
    kinds: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Setup:
    population: tuple[Person, ...]
    config: BridgeConfig
    load: list[list[StateChange]]
    after_seconds: int


def _wanted(engine: Engine) -> dict[str, Pair | None]:
    """What the mapping wants for every person now (the session; None: no session of ours)."""
    return {
        slot.object_id: slot.previous.session if slot.previous else None
        for slot in engine.slots()
        if slot.object_id is not None
    }


def _setup(people_count: int, load_seconds: int, after_seconds: int) -> Setup:
    population = people(people_count)
    load = offered_load(population, load_seconds, LOAD_SEED)
    return Setup(population, bridge_config(population), load, after_seconds)


def _desktops(population: tuple[Person, ...], graph: Graph) -> dict[str, Pair | None]:
    """The same seeded Teams desktops for both bridges' runs (40 % Away)."""
    return give_desktops(
        graph.emu.state,
        [p.object_id for p in population],
        graph.clock,
        random.Random(DESKTOP_SEED),
        away_share_mix(DESKTOP_AWAY_SHARE),
    )


async def _ours(setup: Setup, seed: int) -> Outcome:
    population, config = setup.population, setup.config
    _, tenant_cfg = tenant_of(config)
    async with emulated_graph(users(population), EMULATOR_LIMIT) as graph:
        clock, state = graph.clock, graph.emu.state
        desktops = _desktops(population, graph)
        staleness = Staleness()
        graph.log.listeners.append(staleness.written)
        tracking = False
        with StateStore(":memory:") as store:
            tenant = our_tenant(config, graph, store, random.Random(seed))
            publisher = tenant.publisher

            def publish(object_id: str, intent: TeamsIntent) -> None:
                if tracking:
                    staleness.desired(object_id, clock.monotonic(), intent.session)
                publisher.desire(object_id, intent, "benchmark")

            engine = our_engine(config, clock, store, publish)
            engine.decide_all()
            tracking = True
            task = asyncio.create_task(publisher.run(), name="bench-publisher")
            fidelity = Fidelity()
            max_stale = 0.0
            try:
                await clock.settle()
                start_transitions = engine.counters["transitions"]
                for n, changes in enumerate(setup.load, start=1):
                    for change in changes:
                        engine.handle(change)
                    await tick(clock, engine, STEP)
                    max_stale = max(max_stale, publisher.stats()["publisher_max_staleness_seconds"])
                    if n % SAMPLE_EVERY == 0:
                        fidelity.sample(state, clock, desktops, _wanted(engine))
                offered = engine.counters["transitions"] - start_transitions
                for n in range(len(setup.load) + 1, len(setup.load) + int(setup.after_seconds / STEP) + 1):
                    await tick(clock, engine, STEP)
                    max_stale = max(max_stale, publisher.stats()["publisher_max_staleness_seconds"])
                    if n % SAMPLE_EVERY == 0:
                        fidelity.sample(state, clock, desktops, _wanted(engine))
                stats = publisher.stats()
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                await tenant.aclose()
            wanted = _wanted(engine)
            wrong = sum(our_session(state, clock, u, DEFAULT_CLIENT_ID) != pair for u, pair in wanted.items())
            wrong_shown = wrong_now(state, clock, desktops, wanted)
        load_seconds = len(setup.load) * STEP
        return Outcome(
            offered_transitions=offered,
            offered_per_window=offered * WINDOW / load_seconds,
            throttled=int(graph.emu.limiter.counters["throttled"]),
            lapses=graph.log.lapses(tenant_cfg.session_expiry.total_seconds(), clock.monotonic()),
            wrong_final=wrong,
            wrong_final_shown=wrong_shown,
            max_staleness=max_stale,
            staleness=staleness.waits(clock.monotonic()),
            superseded=len(staleness.superseded_waits),
            busiest_window=graph.log.busiest_window(WINDOW),
            requests=len(graph.log.entries),
            refreshes=int(stats["publisher_refreshes"]),
            fidelity=fidelity,
        )


async def _naive(setup: Setup) -> NaiveOutcome:
    """The naive bridge under the same changes, a fresh emulator, the same desktops."""
    population, config = setup.population, setup.config
    async with emulated_graph(users(population), EMULATOR_LIMIT) as graph:
        clock, state = graph.clock, graph.emu.state
        desktops = _desktops(population, graph)
        naive = await naive_bridge(config, graph)
        shadow = our_engine(config, clock, None, lambda _oid, _intent: None)  # what the mapping wants
        shadow.decide_all()
        fidelity = Fidelity()
        total_ticks = len(setup.load) + int(setup.after_seconds / STEP)
        for n in range(1, total_ticks + 1):
            for change in setup.load[n - 1] if n <= len(setup.load) else ():
                shadow.handle(change)
                await naive.handle(change)
            await tick(clock, shadow, STEP)
            if n % SAMPLE_EVERY == 0:
                fidelity.sample(state, clock, desktops, _wanted(shadow))
        return NaiveOutcome(
            writes=naive.counters["writes"],
            throttled=naive.counters["throttled"],
            failed=naive.counters["failed"],
            wrong_final=wrong_now(state, clock, desktops, _wanted(shadow)),
            fidelity=fidelity,
            kinds=dict(graph.log.kinds),
        )


async def compare(people_count: int, load_seconds: int, after_seconds: int) -> tuple[Outcome, NaiveOutcome]:
    setup = _setup(people_count, load_seconds, after_seconds)
    return await _ours(setup, LOAD_SEED), await _naive(setup)


def _pct(fidelity: Fidelity, count: int) -> float:
    return round(100 * fidelity.share(count), 2)


def run(quick: bool = False) -> list[Result]:
    if quick:
        ours, naive = asyncio.run(compare(200, 60, 960))
    else:
        ours, naive = asyncio.run(compare(PEOPLE, LOAD_SECONDS, AFTER_SECONDS))
    setup = (
        f"{ours.offered_per_window:,.0f} Teams transitions offered per 30 s "
        f"(budget 1,200, emulator limit {EMULATOR_LIMIT:,})"
    )
    fid, nfid = ours.fidelity, naive.fidelity
    sampled = (
        f"{fid.samples:,} (user, 10 s sample) pairs over the whole run; "
        f"desktops {DESKTOP_AWAY_SHARE:.0%} Away, the rest Available"
    )
    return [
        Result(NAME, "throttled_429", ours.throttled, "responses", Bar("==", 0), note=setup),
        Result(NAME, "session_lapses", ours.lapses, "sessions", Bar("==", 0)),
        Result(
            NAME,
            "wrong_final_states",
            ours.wrong_final,
            "people",
            Bar("==", 0),
            note=f"our session vs the core's wanted one; {ours.wrong_final_shown} people whose Teams view "
            "differs from desktop + wanted",
        ),
        Result(
            NAME,
            "max_staleness_s",
            round(max(ours.staleness, default=0.0), 1),
            "s",
            note="the publisher's own gauge (a person kept pending by successive changes counts as one "
            f"wait) peaked at {ours.max_staleness:.0f} s",
        ),
        Result(
            NAME,
            "staleness_p50_s",
            round(percentile(ours.staleness, 50), 1),
            "s",
            note=f"{len(ours.staleness):,} desired-state changes, {ours.superseded:,} superseded before "
            "Teams held them (waited until superseded)",
        ),
        Result(NAME, "staleness_p99_s", round(percentile(ours.staleness, 99), 1), "s"),
        Result(
            NAME,
            "fidelity_available_over_away_pct",
            _pct(fid, fid.available_over_away),
            "% of samples",
            Bar("==", 0),
            note=sampled,
        ),
        Result(
            NAME,
            "fidelity_off_mapping_pct",
            _pct(fid, fid.off_mapping),
            "% of samples",
            note="Teams shows other than desktop + mapping (ours: writes still queued under 2x load)",
        ),
        Result(
            NAME,
            "graph_writes",
            ours.requests,
            "requests",
            note=f"{ours.refreshes:,} of them refreshes, busiest 30 s window {ours.busiest_window:,}",
        ),
        Result(
            NAME,
            "naive_graph_writes",
            naive.writes,
            "requests",
            note="benchmarks.naive under the same changes, fresh emulator, same desktops",
        ),
        Result(NAME, "naive_throttled_429", naive.throttled, "responses"),
        Result(NAME, "naive_wrong_final_states", naive.wrong_final, "people"),
        Result(
            NAME,
            "naive_fidelity_available_over_away_pct",
            _pct(nfid, nfid.available_over_away),
            "% of samples",
        ),
        Result(NAME, "naive_fidelity_off_mapping_pct", _pct(nfid, nfid.off_mapping), "% of samples"),
    ]
