"""The world a chaos run plays in: the Graph emulator over real HTTPS, the real ``BridgeService``
with the generic CTI adapter on loopback HTTP and TCP, a scripted PBX, the users' own Teams
(through the emulator's admin API), all on one fake clock.

``Bridge`` starts and ends the service the way ``running_service`` does (a kill is the task
cancelled at any moment, with writes in flight; nothing is cleared). ``quiesce`` advances the fake
clock until nothing is pending: no Graph request in flight (counted at the bridge's own HTTP
transport), no person waiting for a write or a retry, no engine timer due soon.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from adapters.generic_cti.adapter import CtiAdapter
from bridge.config import BridgeConfig, load_config_text
from bridge.demo import demo_yaml
from bridge.emulator.config import EmulatorConfig, UserRecord
from bridge.emulator.server import EmulatorHandle, run_emulator
from bridge.kit.clock import FakeClock
from bridge.kit.health import Health
from bridge.runtime.release import release
from bridge.runtime.service import BridgeService
from bridge.runtime.store import StateStore
from bridge.runtime.tenant import TenantRuntime, build_tenant
from bridge.teams.auth_http import tls_context

TOKEN = "chaos-cti-token-0123456789"
REAL_LIMIT = 20.0  # real seconds: a bound on work already due, never a wait
START_WAIT = 5.0  # state.start_wait_seconds for the runs (the default 30 only lengthens runs)


@dataclass(frozen=True)
class Person:
    name: str
    extension: str
    object_id: str


PEOPLE: tuple[Person, ...] = (
    Person("Alice", "1001", "a1a1a1a1-0000-4000-8000-000000001001"),
    Person("Bob", "1002", "b2b2b2b2-0000-4000-8000-000000001002"),
    Person("Dave", "1004", "d4d4d4d4-0000-4000-8000-000000001004"),
)
USERS = tuple(UserRecord(p.object_id, f"{p.name.lower()}@chaos.example", p.name) for p in PEOPLE)


class Violation(AssertionError):
    """An invariant broke (the message names the seed's step, the person and both values)."""


async def bounded(predicate: Any, what: str, limit: float = REAL_LIMIT) -> None:
    """Until ``predicate()``, bounded in real time (work already due must finish: a task runs)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not predicate():
        if loop.time() > deadline:
            raise Violation(f"{what}: not within {limit:g} real seconds")
        await asyncio.sleep(0.002)


class CountingTransport(httpx.AsyncHTTPTransport):
    """The bridge's Graph transport, counting requests in flight (quiescence needs none)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.inflight = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.inflight += 1
        try:
            response = await super().handle_async_request(request)
            await response.aread()
            return response
        finally:
            self.inflight -= 1


def bridge_config(handle: EmulatorHandle, state: Path) -> BridgeConfig:
    extra = f"  start_wait_seconds: {START_WAIT:g}\n"
    text = demo_yaml(handle, TOKEN, state, tcp_port=0, state_extra=extra, people=PEOPLE)
    return load_config_text(text, "<chaos>", environ={})


class Bridge:
    """One bridge process after another on the same SQLite store."""

    def __init__(self, config: BridgeConfig, clock: FakeClock, rng: random.Random) -> None:
        self.config, self.clock, self.rng = config, clock, rng
        self.service: BridgeService | None = None
        self.transport: CountingTransport | None = None
        self._task: asyncio.Task[None] | None = None
        self._store: StateStore | None = None
        self.starts = 0

    @property
    def running(self) -> bool:
        return self.service is not None

    def _tenants(self, store: StateStore) -> dict[str, TenantRuntime]:
        tenants = {}
        for name, cfg in self.config.tenants.items():
            self.transport = CountingTransport(verify=tls_context(str(cfg.ca_file)))
            http = httpx.AsyncClient(transport=self.transport, trust_env=False, timeout=30.0)
            tenants[name] = build_tenant(name, cfg, clock=self.clock, store=store, rng=self.rng, http=http)
        return tenants

    async def start(self, *, connected: bool = True) -> BridgeService:
        """Start on the store; ``connected``: wait for every adapter to be CONNECTED as well."""
        assert self.service is None
        store = StateStore(self.config.state.path).open()
        service = BridgeService(
            self.config, clock=self.clock, store=store, tenants=self._tenants(store), rng=self.rng
        )
        task = asyncio.create_task(service.run(), name="chaos-bridge")
        self.service, self._task, self._store = service, task, store
        self.starts += 1
        await bounded(lambda: service.started.is_set() or task.done(), "the bridge started")
        if task.done():
            task.result()
        if connected:
            await bounded(
                lambda: all(a.health is Health.CONNECTED for a in service.adapters.values()),
                "the adapters connected",
            )
        publishers = [t.publisher for t in service.tenants.values()]
        await bounded(lambda: all(p.health is not Health.CONNECTING for p in publishers), "a Graph token")
        return service

    async def kill(self) -> None:
        """Cancel the service now, whatever is in flight (the store is what a kill -9 leaves)."""
        task, store = self._task, self._store
        self.service = self._task = self._store = None
        self.transport = None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if store is not None:
            store.close()

    def cti(self) -> CtiAdapter:
        assert self.service is not None
        adapter = self.service.adapters["pbx"]
        assert isinstance(adapter, CtiAdapter)
        return adapter

    def idle(self) -> bool:
        """Nothing in flight, nobody waiting for a write or retry, no engine timer due within a minute."""
        service = self.service
        if service is None:
            return True
        if self.transport is not None and self.transport.inflight:
            return False
        if not service.idle():
            return False
        due = service.engine.next_timer()
        return due is None or due > self.clock.monotonic() + 60.0

    async def release(self, retry_for: float = 60.0) -> tuple[bool, str]:
        """``presence-bridge release`` on the fake clock (the bridge must be stopped)."""
        assert self.service is None
        out = io.StringIO()
        with StateStore(self.config.state.path) as store:
            task = asyncio.create_task(
                release(
                    self.config, store, clock=self.clock, out=out, err=out, retry_for=retry_for, rng=self.rng
                )
            )
            loop = asyncio.get_running_loop()
            deadline = loop.time() + REAL_LIMIT
            while not task.done():
                if loop.time() > deadline:
                    task.cancel()
                    raise Violation("release did not finish")
                await asyncio.sleep(0.002)
                await self.clock.advance(0.5)
            return task.result(), out.getvalue()


class Pbx:
    """The PBX: phones' states, a TCP CTI link that answers the bridge's snapshot request, and HTTP."""

    def __init__(self) -> None:
        self.lines: dict[str, tuple[str | None, bool]] = {p.extension: (None, False) for p in PEOPLE}
        self.tcp: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self.http = httpx.AsyncClient(trust_env=False, timeout=10.0)

    def snapshot_events(self, *, at_rest_too: bool = False) -> list[dict[str, object]]:
        """Every phone not at rest (docs/cti.md: the unlisted are reset to rest), or every phone
        the PBX knows with ``at_rest_too``."""
        events: list[dict[str, object]] = []
        for extension, (line, dnd) in self.lines.items():
            if line is None and not dnd:
                continue
            if not at_rest_too and line in (None, "idle") and not dnd:
                continue
            event: dict[str, object] = {"extension": extension, "dnd": dnd}
            if line is not None:
                event["line"] = line
            events.append(event)
        return events

    async def connect(self, adapter: CtiAdapter, events: list[dict[str, object]]) -> None:
        """Log in over TCP; the ack asks for a snapshot, which is answered at once."""
        await self.hang_up_link()
        assert adapter.tcp_address is not None
        self.tcp = await asyncio.open_connection(*adapter.tcp_address)
        ack = await self._line({"token": TOKEN})
        if ack != {"ok": True, "request": "snapshot"}:
            raise Violation(f"TCP login answered {ack}")
        answer = await self._line({"snapshot": True, "events": events})
        if not answer or answer.get("ok") is not True:
            raise Violation(f"snapshot answered {answer}")

    async def http_snapshot(self, adapter: CtiAdapter, events: list[dict[str, object]]) -> None:
        """A PBX without the TCP link posts its full state (docs/cti.md "When to send one")."""
        await self.hang_up_link()
        await self._post(adapter, {"snapshot": True, "events": events}, len(events))

    async def hang_up_link(self) -> None:
        if self.tcp is not None:
            _, writer = self.tcp
            self.tcp = None
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _line(self, body: object) -> dict[str, Any] | None:
        assert self.tcp is not None
        reader, writer = self.tcp
        writer.write(json.dumps(body).encode() + b"\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), REAL_LIMIT)
        return json.loads(line) if line else None

    async def send(self, adapter: CtiAdapter, event: dict[str, object], *, tcp: bool) -> None:
        """Deliver one event (the caller knows the bridge is up); a refusal is a violation."""
        if tcp and self.tcp is not None:
            answer = await self._line(event)
            if not answer or answer.get("ok") is not True or answer.get("accepted") != 1:
                raise Violation(f"TCP event {event} answered {answer}")
            return
        await self._post(adapter, event, 1)

    async def _post(self, adapter: CtiAdapter, body: object, accepted: int) -> None:
        assert adapter.http_address is not None
        host, port = adapter.http_address
        response = await self.http.post(
            f"http://{host}:{port}/cti/events", json=body, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        if response.status_code != 202 or response.json().get("accepted") != accepted:
            raise Violation(f"HTTP {body} answered {response.status_code} {response.text}")

    async def aclose(self) -> None:
        await self.hang_up_link()
        await self.http.aclose()


@contextlib.asynccontextmanager
async def graph(tls_dir: Path, clock: FakeClock) -> AsyncIterator[EmulatorHandle]:
    async with run_emulator(EmulatorConfig(users=USERS), clock=clock, state_dir=tls_dir) as handle:
        yield handle


def new_clock(seed: int) -> FakeClock:
    """Each seed starts at its own fixed moment (wall time matters to expiries only)."""
    return FakeClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC).replace(minute=seed % 60))
