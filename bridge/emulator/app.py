"""The Graph presence emulator as one object and one ASGI app.

``Emulator`` holds the config, clock, presence state, rate limiter, fault plan, journal,
subscriptions and identity platform; ``create_app`` mounts the identity routes, the Graph routes
under ``/v1.0`` and the admin API under ``/_emulator``. Its lifespan starts the ticker that
applies timeouts and expiries on time (so subscribers hear about them); in-process users without
a server run ``async with emulator:`` instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bridge.emulator.admin import AdminRoutes
from bridge.emulator.batch import DROP_CONNECTION, BatchRoutes
from bridge.emulator.batch_payload import BATCH_PATH
from bridge.emulator.config import EmulatorConfig
from bridge.emulator.faults import FaultKind, FaultPlan, drop_connection, send_fault_response
from bridge.emulator.graph_routes import GraphRoutes, Journal, JournalEntry
from bridge.emulator.identity import Identity
from bridge.emulator.latency import LatencyModel
from bridge.emulator.state import PresenceChange, PresenceState, Visible
from bridge.emulator.subscriptions import SubscriptionRoutes, Subscriptions
from bridge.emulator.throttle import SlidingWindowLimiter
from bridge.kit.clock import Clock, sleep_or_wake
from bridge.presence import Pair

log = logging.getLogger(__name__)

_IDLE_TICK_SECONDS = 3600.0


class Emulator:
    """Everything the emulated Graph presence service knows; usable in-process by the demo."""

    def __init__(
        self, config: EmulatorConfig, clock: Clock, *, http: httpx.AsyncClient | None = None
    ) -> None:
        self.config = config
        self.clock = clock
        self.state = PresenceState(config.users, presenting_supported=config.presenting_supported)
        self.limiter = SlidingWindowLimiter(config.rate_limit, config.rate_window_seconds)
        self.faults = FaultPlan()
        self.latency = LatencyModel(config.latency, config.latency_seed)
        self.journal = Journal()
        self.identity = Identity(config, clock)
        self._own_http = http is None
        self.http = http if http is not None else httpx.AsyncClient(timeout=10.0)
        self._wake = asyncio.Event()
        self.subscriptions = Subscriptions(
            self.state, clock, self.http, tenant_id=config.tenant_id, wake=self._wake.set
        )
        self.state.add_schedule_listener(self._wake.set)
        self._ticker: asyncio.Task[None] | None = None

    # ---- lifecycle ----

    async def start(self) -> None:
        """Start the ticker (idempotent)."""
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.get_running_loop().create_task(self._tick_loop(), name="emulator-ticker")

    async def aclose(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        await self.subscriptions.aclose()
        if self._own_http:
            await self.http.aclose()

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _tick_loop(self) -> None:
        while True:
            self._wake.clear()
            now = self.clock.now()
            try:
                self.refresh()
            except Exception:  # keep applying the rules; one bad tick must not stop time
                log.exception("emulator tick failed")
            deadlines = [
                d
                for d in (self.state.next_deadline(now), self.subscriptions.next_deadline(now))
                if d is not None
            ]
            delay = max((min(deadlines) - now).total_seconds(), 0.0) if deadlines else _IDLE_TICK_SECONDS
            await sleep_or_wake(self.clock, delay, self._wake)

    # ---- in-process helpers (demo, tests) ----

    def refresh(self) -> list[PresenceChange]:
        """Apply timeouts and expiries now (the ticker does this on time by itself)."""
        now = self.clock.now()
        changes = self.state.refresh(now)
        self.subscriptions.refresh(now)
        return changes

    def presence_of(self, user_id: str) -> Pair:
        """What Graph would return for ``user_id`` now (availability/activity)."""
        return self.state.presence(user_id, self.clock.now()).pair

    def visible(self, user_id: str) -> Visible:
        return self.state.presence(user_id, self.clock.now())

    async def advance(self, seconds: float) -> None:
        """Move a manual clock (FakeClock or any clock with ``advance``); then apply the rules."""
        advance = getattr(self.clock, "advance", None)
        if advance is None:
            raise TypeError("the emulator's clock is not a manual clock")
        result = advance(seconds)
        if asyncio.iscoroutine(result):
            await result
        self.refresh()

    async def settle(self) -> None:
        """Wait for every notification delivery started so far."""
        await self.subscriptions.drain()

    def reset(self) -> None:
        """Back to the start: no sessions, preferred states, subscriptions, faults or journal; the
        latency model keeps its spec and restarts its random sequence (a rerun draws the same)."""
        self.state.reset()
        self.limiter.reset()
        self.latency.reseed()
        self.faults.clear()
        self.journal.clear()
        self.subscriptions.clear()

    def stats(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for prefix, part in (
            ("rate_", self.limiter.stats()),
            ("faults_", self.faults.stats()),
            ("subscriptions_", self.subscriptions.counters),
            ("identity_", self.identity.stats()),
            ("latency_", self.latency.stats()),
        ):
            out.update({prefix + k: float(v) for k, v in part.items()})
        out["journal_entries"] = float(len(self.journal))
        return out


class _RequestMiddleware:
    """Request ids, the latency model, fault injection and the journal, around every request.

    The modelled delay is served first (before the fault or the handler), on the emulator's clock,
    for every request but the admin API's: Graph and the identity platform are both far away. A
    ``$batch`` envelope draws neither delay nor fault: its inner requests, replayed through this
    middleware one by one, draw their own (batch.py).
    """

    def __init__(self, app: ASGIApp, emulator: Emulator) -> None:
        self.app = app
        self.emu = emulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        request_id = state.setdefault("request_id", str(uuid.uuid4()))
        status = 0

        dropped = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, dropped
            if dropped:
                return
            if message["type"] == "http.response.start" and state.get(DROP_CONNECTION):
                dropped = True
                await drop_connection(send, self.emu.clock)
                return
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message.setdefault("headers", [])
                MutableHeaders(scope=message)["request-id"] = request_id
            await send(message)

        path: str = scope["path"]
        envelope = path == BATCH_PATH
        fault = None if envelope else self.emu.faults.take(path)
        if fault is not None:
            log.info("injecting fault %s on %s %s", fault.kind.value, scope["method"], path)
        try:
            if not envelope and not path.startswith("/_emulator"):
                delay = self.emu.latency.next_delay()
                if delay > 0:
                    await self.emu.clock.sleep(delay)
            if fault is None:
                await self.app(scope, receive, send_with_id)
            elif fault.kind is FaultKind.SLOW:
                state["summary"] = f"fault: slow {fault.delay} s"
                await self.emu.clock.sleep(fault.delay)
                await self.app(scope, receive, send_with_id)
            elif fault.kind is FaultKind.DROP:
                state["summary"] = "fault: connection dropped"
                await drop_connection(send, self.emu.clock)
            else:
                state["summary"] = f"fault: {fault.kind.value}"
                await send_fault_response(fault, send_with_id, request_id, self.emu.clock.now())
        finally:
            if not path.startswith("/_emulator"):
                self.emu.journal.record(
                    JournalEntry(
                        at=self.emu.clock.now().isoformat(),
                        method=scope["method"],
                        path=path,
                        client_id=state.get("client_id"),
                        status=status,
                        summary=str(state.get("summary", "")),
                        request_id=request_id,
                    )
                )


def create_app(emulator: Emulator) -> Starlette:
    """The emulator's ASGI app: identity, Graph ``/v1.0`` and admin ``/_emulator`` routes."""
    graph = GraphRoutes(emulator)
    batch = BatchRoutes(emulator)
    routes = [
        *emulator.identity.routes,
        *batch.routes(),
        *SubscriptionRoutes(emulator.subscriptions, graph).routes(),
        *graph.routes(),
        *AdminRoutes(emulator).routes(),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await emulator.start()
        try:
            yield
        finally:
            await emulator.aclose()

    app = _EmulatorApp(emulator, routes=routes, lifespan=lifespan)
    batch.app = app  # inner requests go through the whole app, middleware included
    return app


class _EmulatorApp(Starlette):
    """Starlette with the request middleware *outside* its error handling.

    Outermost, the middleware receives the server's own ``send`` and can really drop a connection
    (Starlette's ServerErrorMiddleware would otherwise turn the drop into a 500).
    """

    def __init__(self, emulator: Emulator, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._front = _RequestMiddleware(self._inner, emulator)

    async def _inner(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._front(scope, receive, send)
