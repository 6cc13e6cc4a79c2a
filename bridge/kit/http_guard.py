"""uvicorn's h11 protocol with the timeouts it lacks, and its warnings summarised.

What uvicorn (0.3x..0.5x) and h11 offer, and what they do not:

- h11 bounds the size of unfinished headers (``h11_max_incomplete_event_size``, 16 KiB by
  default) but not their duration, and uvicorn arms no timer until a first response completes: a
  client that sends ``POST /cti/events HTTP/1.1\\r\\nHost: x\\r\\n`` and stops holds the
  connection for ever (slowloris). Nor is there a body read timeout.
- uvicorn's ``timeout_keep_alive`` (whole seconds) closes a kept-alive connection: used, as a
  backstop behind our own idle deadline.
- uvicorn logs one WARNING per malformed request (``Invalid HTTP request received.``) on
  ``uvicorn.error``: 5,000 garbage requests made 5,000 lines.

:class:`GuardedH11Protocol` follows h11's view of the client (``conn.their_state``) after every
read and moves its :class:`~bridge.kit.gate.Lease` deadline: waiting for a request (idle
timeout, then header timeout from the first byte), reading a body (body timeout), request
complete (none: the app has the floor). The gate's sweep calls :meth:`_expired`. Its
``uvicorn.error`` logger is a :class:`SummarisingLogger`: every line still goes to the same
handlers, at most once a minute per message, with the count of those left out.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from bridge.kit.clock import Clock
from bridge.kit.gate import Lease
from bridge.kit.listen_limits import ListenerLimits
from bridge.kit.ratelog import RateLimitedLog

GUARD_COUNTERS = (
    "http_header_timeouts",  # connections closed: request headers not complete in time
    "http_body_timeouts",  # connections closed: request body not complete in time
    "http_malformed",  # requests h11 could not parse (answered 400), failed TLS handshakes
)

_WAITING, _HEADERS, _BODY, _SERVING = "waiting", "headers", "body", "serving"


class SummarisingLogger(logging.Logger):
    """A stand-in for ``uvicorn.error`` that lets each distinct message through at most once per
    interval (``RateLimitedLog.admit``), noting how many it held back. Records still propagate to
    ``uvicorn.error``'s handlers and level, so logging configuration applies as before."""

    def __init__(self, summaries: RateLimitedLog, name: str = "uvicorn.error") -> None:
        super().__init__(name)
        self.parent = logging.getLogger(name)
        self._summaries = summaries

    def handle(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            held = self._summaries.admit(f"uvicorn {record.msg}")
            if held is None:
                return
            if held:
                record.msg = f"{record.getMessage()} (and {held} more like it since the last such line)"
                record.args = ()
        super().handle(record)


@dataclass
class Guard:
    """What every connection of one server shares: limits, clock, counters, log summaries."""

    name: str
    limits: ListenerLimits
    clock: Clock
    counters: MutableMapping[str, int]
    summaries: RateLimitedLog
    logger: logging.Logger = field(init=False)

    def __post_init__(self) -> None:
        for key in GUARD_COUNTERS:
            self.counters.setdefault(key, 0)
        self.logger = SummarisingLogger(self.summaries)

    def count(self, key: str) -> None:
        self.counters[key] = self.counters.get(key, 0) + 1

    def malformed(self, source: str, detail: str) -> None:
        self.count("http_malformed")
        self.summaries.note(
            "malformed", "%s: malformed request from %s: %s", self.name, source, detail, level=logging.INFO
        )


class GuardedH11Protocol(H11Protocol):
    """uvicorn's ``H11Protocol`` with header, body and idle deadlines on its gate lease."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        guard: Guard,
        lease: Lease,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.logger = guard.logger
        self._guard = guard
        self._lease = lease
        self._phase = _WAITING

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        lease = self._lease
        lease.abort = transport.abort
        lease.expire = self._expired
        self._enter(_HEADERS, self._guard.limits.header_timeout_seconds)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._lease.release()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.transport.is_closing():
            return
        self._lease.proven = True
        if self.conn.their_state is h11.IDLE and self._phase == _SERVING:
            self._enter(_WAITING, self._guard.limits.idle_timeout_seconds)
        else:
            self._follow()

    def send_400_response(self, msg: str) -> None:
        self._guard.malformed(self._source, msg)
        super().send_400_response(msg)

    @property
    def _source(self) -> str:
        return self.client[0] if self.client else "?"

    def _follow(self) -> None:
        """Move the deadline to what the client owes us now (after a read or a response)."""
        state = self.conn.their_state
        if state is h11.IDLE:
            if self._phase == _WAITING:  # first bytes of a new request on a kept-alive connection
                self._enter(_HEADERS, self._guard.limits.header_timeout_seconds)
        elif state is h11.SEND_BODY:
            if self._phase != _BODY:
                self._enter(_BODY, self._guard.limits.body_timeout_seconds)
        elif self._phase != _SERVING:
            self._enter(_SERVING, math.inf)

    def _enter(self, phase: str, seconds: float) -> None:
        self._phase = phase
        lease = self._lease
        lease.idle = phase in (_WAITING, _HEADERS)
        lease.deadline = self._guard.clock.monotonic() + seconds

    def _expired(self) -> None:
        guard, phase = self._guard, self._phase
        if phase == _HEADERS:
            guard.count("http_header_timeouts")
            guard.summaries.note(
                "header timeout",
                "%s: closed connections from %s: request headers not complete within %g s",
                guard.name,
                self._source,
                guard.limits.header_timeout_seconds,
                level=logging.INFO,
            )
        elif phase == _BODY:
            guard.count("http_body_timeouts")
            guard.summaries.note(
                "body timeout",
                "%s: closed connections from %s: request body not complete within %g s",
                guard.name,
                self._source,
                guard.limits.body_timeout_seconds,
                level=logging.INFO,
            )
        if phase == _SERVING or self.transport.is_closing():
            return
        if phase == _HEADERS:
            self.transport.abort()  # nothing of ours is in flight: no need to flush
        else:
            self.transport.close()
