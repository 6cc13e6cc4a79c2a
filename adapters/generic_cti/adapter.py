"""Generic CTI ingress adapter: thin I/O around ``parse`` and ``ingest``.

Listens for the documented JSON event (docs/cti.md) over HTTP (``POST /cti/events``) and/or
JSON lines over TCP, and emits canonical ``StateChange`` values on ``events()``. Each
configured listener is supervised: a failed bind (address in use, address not yet configured)
or a listener that stops serving is TRANSIENT_DISCONNECT and is rebound with capped backoff
and jitter on the injected clock, on the same port. A wrong client token is the client's
problem: it is answered 401, counted, and leaves health alone.

The runtime may set ``adapter.mapped`` (EndpointKey -> bool) before start; events about
unmapped endpoints are then answered as ``ignored`` and counted instead of emitted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from pydantic import BaseModel

from adapters.base import Adapter, AdapterDeps, AdapterEvent, Health, HealthChange, WriteBack
from adapters.generic_cti.binding import bind_listening, bound_address, retry_delay
from adapters.generic_cti.config import CtiConfig
from adapters.generic_cti.http_ingress import HttpListener, build_app
from adapters.generic_cti.ingest import Ingest, Outcome
from adapters.generic_cti.tcp_ingress import TcpListener
from bridge.errors import AdapterError
from bridge.model import EndpointKey

log = logging.getLogger(__name__)

_END = object()  # queued once by stop(): ends events()


class _Listener(Protocol):
    kind: str

    async def open(self, sock: socket.socket) -> None: ...

    async def closed(self) -> None: ...

    async def close(self) -> None: ...


class CtiAdapter:
    """One generic CTI ingress (implements ``adapters.base.Adapter``)."""

    def __init__(self, name: str, config: CtiConfig, deps: AdapterDeps) -> None:
        self.name = name
        self._config = config
        self._clock = deps.clock
        self._rng = deps.rng
        self._ingest = Ingest(name)
        self._ingest.mapped = deps.mapped
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._health = Health.STOPPED
        self._started = False
        self._stopping = False
        self._failures = 0
        self._tasks: list[asyncio.Task[None]] = []
        token = config.token.get_secret_value()
        self._listeners: dict[str, _Listener] = {}
        self._binds: dict[str, tuple[str, int]] = {}
        if config.http_bind is not None:
            app = build_app(
                token=token, max_body_bytes=config.max_body_bytes, ingest=self._ingest, emit=self._emit
            )
            self._listeners["http"] = HttpListener(app, name)
            self._binds["http"] = config.http_bind
        if config.tcp_bind is not None:
            self._listeners["tcp"] = TcpListener(
                token=token,
                max_line_bytes=config.max_line_bytes,
                ingest=self._ingest,
                emit=self._emit,
                clock=self._clock,
            )
            self._binds["tcp"] = config.tcp_bind
        self._up: dict[str, bool | None] = dict.fromkeys(self._listeners)  # None: not tried yet
        self._addresses: dict[str, tuple[str, int] | None] = dict.fromkeys(self._listeners)

    def __repr__(self) -> str:
        return f"CtiAdapter(name={self.name!r}, health={self._health.value}, listen={self._binds!r})"

    # --- Adapter protocol ------------------------------------------------------------

    @property
    def health(self) -> Health:
        return self._health

    @property
    def counters(self) -> dict[str, int]:
        return {**self._ingest.counters, "listener_failures": self._failures}

    @property
    def mapped(self) -> Callable[[EndpointKey], bool] | None:
        """Set by the runtime: events about endpoints for which it returns False are ignored."""
        return self._ingest.mapped

    @mapped.setter
    def mapped(self, predicate: Callable[[EndpointKey], bool] | None) -> None:
        self._ingest.mapped = predicate

    @property
    def http_address(self) -> tuple[str, int] | None:
        """Where the HTTP listener is bound right now (port 0 resolved), None when not bound."""
        return self._addresses.get("http")

    @property
    def tcp_address(self) -> tuple[str, int] | None:
        return self._addresses.get("tcp")

    @property
    def supports_write_back(self) -> bool:
        return False

    async def write_back(self, command: WriteBack) -> None:
        raise AdapterError(f"cti {self.name}: write-back is not supported yet (planned: signed webhook)")

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        self._set_health(Health.CONNECTING, "binding listeners")
        for kind, listener in self._listeners.items():
            task = asyncio.create_task(self._supervise(kind, listener), name=f"cti-{self.name}-{kind}")
            task.add_done_callback(self._task_done)
            self._tasks.append(task)

    async def stop(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for listener in self._listeners.values():
            await listener.close()
        for kind in self._addresses:
            self._addresses[kind] = None
        if self._started:
            self._set_health(Health.STOPPED, "stopped")
        self._queue.put_nowait(_END)

    async def events(self) -> AsyncIterator[AdapterEvent]:
        while True:
            item = await self._queue.get()
            if item is _END:
                self._queue.put_nowait(_END)  # a second reader ends too
                return
            yield item  # type: ignore[misc]

    # --- internals -------------------------------------------------------------------

    def _emit(self, outcome: Outcome) -> None:
        for change in outcome.changes:
            self._queue.put_nowait(change)

    def _set_health(self, health: Health, detail: str) -> None:
        if health == self._health:
            log.debug("cti %s: still %s: %s", self.name, health.value, detail)
            return
        level = logging.WARNING if health == Health.TRANSIENT_DISCONNECT else logging.INFO
        log.log(level, "cti %s: %s (%s)", self.name, health.value, detail)
        self._health = health
        self._queue.put_nowait(HealthChange(self.name, health, detail))

    def _listener_state(self, kind: str, up: bool, detail: str) -> None:
        self._up[kind] = up
        if any(state is False for state in self._up.values()):
            self._set_health(Health.TRANSIENT_DISCONNECT, detail)
        elif all(self._up.values()):
            self._set_health(Health.CONNECTED, detail)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("cti %s: listener supervisor died", self.name, exc_info=task.exception())

    async def _supervise(self, kind: str, listener: _Listener) -> None:
        host, port = self._binds[kind]
        attempt = 0
        while True:
            try:
                sock = bind_listening(host, port)
            except OSError as exc:
                attempt += 1
                delay = retry_delay(attempt, self._rng)
                reason = exc.strerror or str(exc)
                self._listener_state(kind, False, f"{kind} cannot listen on {host}:{port}: {reason}")
                log.debug("cti %s: %s rebind attempt %d in %.1f s", self.name, kind, attempt, delay)
                await self._clock.sleep(delay)
                continue
            address = bound_address(sock)
            try:
                await listener.open(sock)
            except BaseException:
                sock.close()
                raise
            port = address[1]  # sticky: a rebind keeps the port the PBX was given
            self._addresses[kind] = address
            attempt = 0
            self._listener_state(kind, True, f"{kind} listening on {address[0]}:{address[1]}")
            await listener.closed()
            self._addresses[kind] = None
            if self._stopping:
                return
            self._failures += 1
            attempt = 1
            self._listener_state(kind, False, f"{kind} listener on {host}:{port} stopped unexpectedly")
            with contextlib.suppress(Exception):
                await listener.close()
            await self._clock.sleep(retry_delay(attempt, self._rng))


class CtiFactory:
    """Registered as kind ``generic_cti``; ``config_model`` validates ``adapters.<name>`` sections."""

    kind = "generic_cti"
    config_model: type[BaseModel] = CtiConfig

    def create(self, name: str, config: BaseModel, deps: AdapterDeps) -> Adapter:
        if not isinstance(config, CtiConfig):
            raise AdapterError(f"cti {name}: expected a CtiConfig, got {type(config).__name__}")
        return CtiAdapter(name, config, deps)


FACTORY = CtiFactory()
