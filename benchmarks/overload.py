"""Benchmark 4: offered load at twice the Graph budget, on simulated time.

2,000 people (1-3 endpoints each) change state 2,400 times per 30 s of simulated time for five
minutes (the bridge's budget is 1,200 / 30 s, the emulator's limit 1,500 / 30 s), then the load
stops and the bridge runs on for 20 more minutes (past the 15-minute session expiry). The engine
and one tenant's publisher run as the service wires them; Graph is the emulator in-process
(``httpx.ASGITransport``), bridge and emulator share one ``FakeClock``.

Each change moves one person's desk phone to a state whose Teams mapping differs from the one it
had (answer a call, join a conference, DND on/off, unplug the phone), so every change is a Teams
transition offered to the publisher. Checked: the emulator answered zero 429s; no session of ours
lapsed while the bridge meant to keep it (from a log of every request: no live session went
longer than its expiry without a refresh); Teams ends holding exactly what the core wants.
Reported: the largest staleness (seconds a person's desired state waited), sampled every second.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from benchmarks.population import Person, bridge_config, people, users
from benchmarks.results import Bar, Result
from bridge.emulator.app import Emulator, create_app
from bridge.emulator.config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, EmulatorConfig
from bridge.model import LineState, StateChange, Toggle
from bridge.presence import Pair
from bridge.runtime.clock import FakeClock
from bridge.runtime.engine import Engine
from bridge.runtime.service import build_tenant
from bridge.runtime.store import StateStore

NAME = "overload"
PEOPLE = 2000
CHANGES_PER_WINDOW = 2400  # per 30 s: twice the default budget of 1,200
WINDOW = 30.0
LOAD_SECONDS = 300
AFTER_SECONDS = 1200  # past the 15-minute session expiry
EMULATOR_LIMIT = 1500
STEP = 1.0  # simulated seconds per tick

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


@dataclass
class RequestLog(httpx.AsyncBaseTransport):
    """Passes requests to ``inner`` and notes (simulated time, user, operation, status) of each."""

    inner: httpx.AsyncBaseTransport
    clock: FakeClock
    entries: list[tuple[float, str, str, int]] = field(default_factory=list)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        parts = request.url.path.split("/")
        if "users" in parts and request.method == "POST":
            user = parts[parts.index("users") + 1]
            self.entries.append((self.clock.monotonic(), user, parts[-1], response.status_code))
        return response

    def lapses(self, expiry: float, until: float) -> int:
        """Sessions of ours that went ``expiry`` seconds without a refresh while not cleared."""
        last_set: dict[str, float | None] = defaultdict(lambda: None)
        lapsed = 0
        for at, user, operation, status in self.entries:
            if status != 200:
                continue
            since = last_set[user]
            if since is not None and at - since > expiry:
                lapsed += 1
            last_set[user] = (
                at if operation == "setPresence" else None if operation == "clearPresence" else since
            )
        return lapsed + sum(1 for since in last_set.values() if since is not None and until - since > expiry)


class _Tokens:
    """Client-credentials tokens from the emulator's token endpoint (msal needs real HTTPS)."""

    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self._http = http
        self._url = url
        self._token: str | None = None

    async def token(self) -> str:
        if self._token is None:
            form = {
                "grant_type": "client_credentials",
                "client_id": DEFAULT_CLIENT_ID,
                "client_secret": DEFAULT_CLIENT_SECRET,
                "scope": "https://graph.microsoft.com/.default",
            }
            response = await self._http.post(self._url, data=form)
            response.raise_for_status()
            self._token = str(response.json()["access_token"])
        return self._token

    def invalidate(self) -> None:
        self._token = None


@dataclass
class Outcome:
    offered_transitions: int
    offered_per_window: float
    throttled: int
    lapses: int
    wrong_final: int
    max_staleness: float
    busiest_window: int
    requests: int
    refreshes: int


async def measure(people_count: int, load_seconds: int, after_seconds: int, seed: int = 5) -> Outcome:
    population = people(people_count)
    config = bridge_config(population)
    tenant_name, tenant_cfg = next(iter(config.tenants.items()))
    clock = FakeClock(datetime(2026, 11, 28, 10, 0, tzinfo=UTC))
    emulator_config = EmulatorConfig(users=users(population), rate_limit=EMULATOR_LIMIT)
    rng = random.Random(seed)
    async with Emulator(emulator_config, clock) as emu:
        log = RequestLog(httpx.ASGITransport(app=create_app(emu)), clock)
        http = httpx.AsyncClient(transport=log)
        token_url = f"{tenant_cfg.authority}/{tenant_cfg.tenant_id}/oauth2/v2.0/token"
        with StateStore(":memory:") as store:
            tenant = build_tenant(
                tenant_name,
                tenant_cfg,
                clock=clock,
                store=store,
                rng=rng,
                tokens=_Tokens(http, token_url),
                http=http,
            )
            publisher = tenant.publisher
            engine = Engine(
                config,
                publish=lambda _t, object_id, intent, cause: publisher.desire(object_id, intent, cause),
                store=store,
                monotonic=clock.monotonic,
            )
            engine.decide_all()
            task = asyncio.create_task(publisher.run(), name="bench-publisher")
            phones = {p.object_id: _Phone() for p in population}
            per_tick = CHANGES_PER_WINDOW * STEP / WINDOW
            owed = 0.0
            max_stale = 0.0
            try:
                await clock.settle()
                start_transitions = engine.counters["transitions"]
                for _ in range(int(load_seconds / STEP)):
                    owed += per_tick
                    while owed >= 1:
                        owed -= 1
                        person = rng.choice(population)
                        engine.handle(phones[person.object_id].next_change(person, rng))
                    await _tick(clock, engine)
                    max_stale = max(max_stale, publisher.stats()["publisher_max_staleness_seconds"])
                offered = engine.counters["transitions"] - start_transitions
                for _ in range(int(after_seconds / STEP)):
                    await _tick(clock, engine)
                    max_stale = max(max_stale, publisher.stats()["publisher_max_staleness_seconds"])
                stats = publisher.stats()
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                await tenant.aclose()
            wrong = _wrong_final(engine, emu, clock)
    return Outcome(
        offered_transitions=offered,
        offered_per_window=offered * WINDOW / load_seconds,
        throttled=int(emu.limiter.counters["throttled"]),
        lapses=log.lapses(tenant_cfg.session_expiry.total_seconds(), clock.monotonic()),
        wrong_final=wrong,
        max_staleness=max_stale,
        busiest_window=_busiest_window(log),
        requests=len(log.entries),
        refreshes=int(stats["publisher_refreshes"]),
    )


async def _tick(clock: FakeClock, engine: Engine) -> None:
    await clock.advance(STEP)
    due = engine.next_timer()
    if due is not None and due <= clock.monotonic():
        engine.due()


def _wrong_final(engine: Engine, emu: Emulator, clock: FakeClock) -> int:
    wrong = 0
    for slot in engine.slots():
        wanted = slot.previous.session if slot.previous else None
        sessions = emu.state.describe(slot.object_id or "", clock.now())["sessions"]
        ours = sessions.get(DEFAULT_CLIENT_ID) if isinstance(sessions, dict) else None
        shown = Pair(ours["availability"], ours["activity"]) if ours else None
        wrong += shown != wanted
    return wrong


def _busiest_window(log: RequestLog) -> int:
    times = [at for at, *_ in log.entries]
    busiest, first = 0, 0
    for last, at in enumerate(times):
        while times[first] <= at - WINDOW:
            first += 1
        busiest = max(busiest, last - first + 1)
    return busiest


def run(*, quick: bool = False) -> list[Result]:
    if quick:
        outcome = asyncio.run(measure(200, 60, 960))
    else:
        outcome = asyncio.run(measure(PEOPLE, LOAD_SECONDS, AFTER_SECONDS))
    setup = (
        f"{outcome.offered_per_window:,.0f} Teams transitions offered per 30 s "
        f"(budget 1,200, emulator limit {EMULATOR_LIMIT:,})"
    )
    return [
        Result(NAME, "throttled_429", outcome.throttled, "responses", Bar("==", 0), note=setup),
        Result(NAME, "session_lapses", outcome.lapses, "sessions", Bar("==", 0)),
        Result(NAME, "wrong_final_states", outcome.wrong_final, "people", Bar("==", 0)),
        Result(
            NAME,
            "max_staleness_s",
            round(outcome.max_staleness, 1),
            "s",
            note=f"{outcome.requests:,} Graph writes, {outcome.refreshes:,} of them refreshes, "
            f"busiest 30 s window {outcome.busiest_window:,}",
        ),
    ]
