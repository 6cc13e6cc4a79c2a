"""In-process wiring shared by the overload and cold-start benchmarks: emulator, our bridge, the naive one.

Graph is the emulator over ``httpx.ASGITransport`` (wrapped in a ``RequestLog``); bridge and
emulator share one ``FakeClock``. The emulator's ticker is not started: its rules (expiry, fading)
are applied on every read anyway, and the ticker only pushes change notifications, which nobody
subscribes to here (it walks every user at each wake-up: 10-15 % of the wall time at 3,000 users).
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from benchmarks.graph_log import RequestLog
from benchmarks.naive import NaiveBridge, fetch_token, router
from benchmarks.population import ADAPTER, Person, config_yaml
from benchmarks.round_trip import RoundTripDelay
from bridge.config import BridgeConfig, TenantConfig, load_config_text
from bridge.emulator.app import Emulator, create_app
from bridge.emulator.config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, EmulatorConfig, UserRecord
from bridge.kit.clock import FakeClock
from bridge.presence import TeamsIntent
from bridge.runtime.engine import Engine
from bridge.runtime.service import TenantRuntime, build_tenant
from bridge.runtime.store import StateStore

START = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def csv_config(population: tuple[Person, ...], directory: Path) -> BridgeConfig:
    """The population's bridge config with its people in a CSV file (how a 10,000-person site keeps
    them; the YAML loader needs ~10 s for 10,000 inline people, the CSV ~0.4 s)."""
    path = directory / "people.csv"
    rows = "".join(f"{p.object_id},{e.extension},{e.device}\n" for p in population for e in p.endpoints)
    path.write_text("person,extension,device\n" + rows, encoding="utf-8")
    text = config_yaml(()).replace("people:\n", f"people:\n  - {{csv: '{path}', adapter: {ADAPTER}}}\n", 1)
    return load_config_text(text, "<benchmark>", environ={})


class Tokens:
    """Client-credentials tokens from the emulator's token endpoint (msal needs real HTTPS)."""

    def __init__(self, http: httpx.AsyncClient, authority_url: str) -> None:
        self._http = http
        self._authority = authority_url
        self._token: str | None = None

    async def token(self) -> str:
        if self._token is None:
            self._token = await fetch_token(
                self._http, self._authority, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
            )
        return self._token

    def invalidate(self) -> None:
        self._token = None


@dataclass
class Graph:
    """One emulator reached through a logging in-process transport."""

    emu: Emulator
    clock: FakeClock
    log: RequestLog
    http: httpx.AsyncClient


@asynccontextmanager
async def emulated_graph(
    users: tuple[UserRecord, ...], rate_limit: int, clock: FakeClock | None = None, rtt: float = 0.0
) -> AsyncIterator[Graph]:
    """The emulator in-process; ``rtt`` seconds (simulated) away when given (``RoundTripDelay``)."""
    clock = clock or FakeClock(START)
    emu = Emulator(EmulatorConfig(users=users, rate_limit=rate_limit), clock)
    inner: httpx.AsyncBaseTransport = httpx.ASGITransport(app=create_app(emu))
    log = RequestLog(RoundTripDelay(inner, clock, rtt) if rtt > 0 else inner, clock)
    try:
        async with httpx.AsyncClient(transport=log) as http:
            yield Graph(emu, clock, log, http)
    finally:
        await emu.aclose()


def tenant_of(config: BridgeConfig) -> tuple[str, TenantConfig]:
    return next(iter(config.tenants.items()))


def our_tenant(config: BridgeConfig, graph: Graph, store: StateStore, rng: random.Random) -> TenantRuntime:
    """Our publisher for the config's one tenant, as ``bridge.runtime.service`` builds it."""
    name, cfg = tenant_of(config)
    tokens = Tokens(graph.http, f"{cfg.authority}/{cfg.tenant_id}")
    return build_tenant(name, cfg, clock=graph.clock, store=store, rng=rng, tokens=tokens, http=graph.http)


def our_engine(
    config: BridgeConfig,
    clock: FakeClock,
    store: StateStore | None,
    publish: Callable[[str, TeamsIntent], None],
) -> Engine:
    """The core, publishing ``(object id, intent)`` (``publish`` may be a no-op: a shadow of the mapping)."""
    return Engine(
        config,
        publish=lambda _tenant, object_id, intent, _cause: publish(object_id, intent),
        store=store,
        monotonic=clock.monotonic,
    )


async def naive_bridge(config: BridgeConfig, graph: Graph) -> NaiveBridge:
    _, cfg = tenant_of(config)
    authority = f"{cfg.authority}/{cfg.tenant_id}"
    token = await fetch_token(graph.http, authority, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
    return NaiveBridge(graph.http, cfg.graph_url, token, DEFAULT_CLIENT_ID, router(config))


async def tick(clock: FakeClock, engine: Engine, seconds: float) -> None:
    """Move simulated time and fire the core's timers that ran out (the service's timer task)."""
    await clock.advance(seconds)
    due = engine.next_timer()
    if due is not None and due <= clock.monotonic():
        engine.due()
