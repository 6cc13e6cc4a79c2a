"""Generic CTI ingress adapter: thin I/O around ``parse`` and ``ingest``, on the listener SDK.

Listens for the documented JSON event (docs/cti.md) over HTTP (``POST /cti/events``) and/or
JSON lines over TCP, and emits canonical ``StateChange`` values on ``events()``. Binding,
rebinding with backoff on the same port, health and the ``listener_failures`` counter belong to
:class:`~adapters.sdk.ListenerAdapter`; this module only serves. A wrong client token is the
client's problem: it is answered 401, counted, and leaves health alone.

A snapshot (the PBX's full state: asked for on every TCP login, sent by an HTTP PBX when it
starts) is emitted as one ``Snapshot``, which resets the endpoints it does not list.

Events about endpoints the configuration routes to nobody (``deps.mapped``) are answered as
``ignored`` and counted instead of emitted.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Mapping
from typing import Protocol

from pydantic import BaseModel

from adapters.base import Adapter, AdapterDeps, KnownExtensions, WriteBack
from adapters.generic_cti.config import CtiConfig
from adapters.generic_cti.http_ingress import HttpListener, build_app
from adapters.generic_cti.http_ingress import log as http_log
from adapters.generic_cti.ingest import Ingest, Outcome
from adapters.generic_cti.tcp_ingress import TcpListener
from adapters.sdk import Listener, ListenerAdapter
from bridge.errors import AdapterError
from bridge.kit.ratelog import RateLimitedLog
from bridge.model import Snapshot


class _Front(Protocol):
    """One front end (HTTP or TCP) serving on a socket we bound."""

    async def open(self, sock: socket.socket) -> None: ...

    async def closed(self) -> None: ...

    async def close(self) -> None: ...


class CtiAdapter(ListenerAdapter):
    """One generic CTI ingress (implements ``adapters.base.Adapter``)."""

    kind = "cti"

    def __init__(self, name: str, config: CtiConfig, deps: AdapterDeps) -> None:
        listen: dict[str, tuple[str, int]] = {}
        if config.http_bind is not None:
            listen["http"] = config.http_bind
        if config.tcp_bind is not None:
            listen["tcp"] = config.tcp_bind
        super().__init__(name, deps, listen)
        self._ingest = Ingest(
            name, mapped=deps.mapped, now=deps.clock.now, max_future=config.max_future_seconds
        )
        self._seen: set[str] = set()  # extensions the PBX sent an event about since start
        token = config.token.get_secret_value()
        self._fronts: dict[str, _Front] = {}
        if "http" in listen:
            app = build_app(
                token=token,
                max_body_bytes=config.max_body_bytes,
                ingest=self._ingest,
                emit=self._emit,
                summaries=RateLimitedLog(http_log, self.clock.monotonic),
            )
            self._fronts["http"] = HttpListener(
                app, name, clock=self.clock, limits=config.http_limits, counters=self._ingest.counters
            )
        if "tcp" in listen:
            self._fronts["tcp"] = TcpListener(
                token=token,
                max_line_bytes=config.max_line_bytes,
                ingest=self._ingest,
                emit=self._emit,
                clock=self.clock,
                limits=config.tcp_limits,
            )

    @property
    def http_address(self) -> tuple[str, int] | None:
        """Where the HTTP listener is bound right now (port 0 resolved), None when not bound."""
        return self.address("http")

    @property
    def tcp_address(self) -> tuple[str, int] | None:
        return self.address("tcp")

    def extra_counters(self) -> Mapping[str, int]:
        return self._ingest.counters

    async def write_back(self, command: WriteBack) -> None:
        raise AdapterError(f"cti {self.name}: write-back is not supported yet (planned: signed webhook)")

    async def serve(self, listener: Listener) -> None:
        front = self._fronts[listener.name]
        sock = listener.bind()
        try:
            await front.open(sock)
        except BaseException:
            sock.close()
            raise
        try:
            listener.listening()
            await front.closed()
        finally:
            with contextlib.suppress(Exception):
                await front.close()

    async def known_extensions(self) -> KnownExtensions | None:
        """The extensions the PBX sent events (or a snapshot) about since this adapter started
        (``adapters.base.KnowsExtensions``): a push-only PBX cannot be asked which exist, so an
        absent one is "not seen yet", never "unknown". Only mapped ones: the others are ignored."""
        return KnownExtensions(
            frozenset(self._seen), complete=False, source="events received since it started"
        )

    def _emit(self, outcome: Outcome) -> None:
        self._seen.update(change.endpoint.extension for change in outcome.changes)
        if outcome.snapshot:
            self.emit(Snapshot(self.name, outcome.changes, partial=False, at=outcome.at))
            return
        for change in outcome.changes:
            self.emit(change)


class CtiFactory:
    """Registered as kind ``generic_cti``; ``config_model`` validates ``adapters.<name>`` sections."""

    kind = "generic_cti"
    config_model: type[BaseModel] = CtiConfig

    def create(self, name: str, config: BaseModel, deps: AdapterDeps) -> Adapter:
        if not isinstance(config, CtiConfig):
            raise AdapterError(f"cti {name}: expected a CtiConfig, got {type(config).__name__}")
        return CtiAdapter(name, config, deps)


FACTORY = CtiFactory()
