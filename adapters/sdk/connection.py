"""Connection adapters: the bridge dials the PBX, logs in, resyncs, then reads facts.

The subclass writes ``run_session(session)`` in protocol words only. The base owns the loop
around it (DESIGN 14):

* a session that ends (returns, or raises ``AdapterError`` / ``OSError``) is TRANSIENT_DISCONNECT,
  then a reconnect after a jittered, capped exponential :class:`~bridge.kit.backoff.Backoff`
  (reset once a session reached CONNECTED);
* ``AdapterAuthError`` is BAD_CREDENTIALS (one ERROR line, repeats at DEBUG) and a pause of
  ``auth_backoff`` seconds: never a hot loop against a PBX that refuses the password;
* every end of a session reports ``went_blind()`` (typically: the lines it watched are unknown);
* :meth:`Session.connect` has a connect timeout, :meth:`Session.within` bounds a login or an
  action, and :meth:`Session.lines` ends a session whose peer stays silent past ``idle_timeout``
  (a half-open TCP connection never says goodbye).
"""

from __future__ import annotations

import asyncio
import ssl
from abc import abstractmethod
from collections.abc import AsyncIterator, Awaitable, Iterable
from typing import ClassVar, TypeVar

from adapters.base import AdapterEvent
from adapters.sdk.base import AdapterBase
from bridge.errors import AdapterAuthError, AdapterError
from bridge.kit.backoff import Backoff
from bridge.kit.clock import Clock, Expired, within
from bridge.kit.health import Health

T = TypeVar("T")


class Session:
    """One connection attempt's tools: ``connect``, ``within``, ``lines``, ``connected``, ``emit``."""

    def __init__(self, adapter: ConnectionAdapter) -> None:
        self._adapter = adapter
        self.clock: Clock = adapter.clock
        self.reached_connected = False
        self._writers: list[asyncio.StreamWriter] = []

    async def connect(
        self,
        host: str,
        port: int,
        *,
        tls: ssl.SSLContext | None = None,
        within_s: float | None = None,
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP (or TLS) connection within ``within_s`` seconds (default: ``connect_timeout``)."""
        seconds = self._adapter.connect_timeout if within_s is None else within_s
        try:
            reader, writer = await within(self.clock, seconds, self._adapter.open_connection(host, port, tls))
        except Expired:
            raise AdapterError(f"cannot connect to {host}:{port}: no answer within {seconds:g} s") from None
        except OSError as exc:
            reason = exc.strerror or str(exc) or exc.__class__.__name__
            raise AdapterError(f"cannot connect to {host}:{port}: {reason}") from exc
        self._writers.append(writer)
        self._adapter.count("connects")
        return reader, writer

    async def within(self, seconds: float, awaitable: Awaitable[T], what: str) -> T:
        """``awaitable``'s result, or ``AdapterError("<what>: no answer within N s")``."""
        try:
            return await within(self.clock, seconds, awaitable)
        except Expired:
            raise AdapterError(f"{what}: no answer within {seconds:g} s") from None

    async def lines(
        self, reader: asyncio.StreamReader, *, idle_timeout: float | None = None, encoding: str = "utf-8"
    ) -> AsyncIterator[str]:
        """Decoded lines without their line ending, until the peer closes (then ``AdapterError``).

        ``idle_timeout`` (default: the adapter's): no byte for that long ends the session as a
        silent peer. Undecodable bytes are replaced, never raised.
        """
        limit = self._adapter.idle_timeout if idle_timeout is None else idle_timeout
        while True:
            try:
                raw = await within(self.clock, limit, reader.readline())
            except Expired:
                raise AdapterError(f"the PBX said nothing for {limit:g} s (half-open connection?)") from None
            except (ValueError, asyncio.LimitOverrunError) as exc:
                self._adapter.count("oversized_lines")
                raise AdapterError("a line longer than the read limit") from exc
            if not raw:
                raise AdapterError("connection closed by the PBX")
            yield raw.decode(encoding, errors="replace").rstrip("\r\n")

    def connected(self, detail: str = "connected") -> None:
        """The session is logged in and resynced: health CONNECTED, the backoff starts over."""
        self.reached_connected = True
        self._adapter.set_health(Health.CONNECTED, detail)

    def emit(self, event: AdapterEvent) -> None:
        self._adapter.emit(event)

    def count(self, name: str, n: int = 1) -> None:
        self._adapter.count(name, n)

    def close(self) -> None:
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()


class ConnectionAdapter(AdapterBase):
    """Subclass, set ``kind``, implement ``run_session``; tune the timings below if needed."""

    backoff_initial: ClassVar[float] = 1.0
    backoff_max: ClassVar[float] = 60.0
    auth_backoff: ClassVar[float] = 300.0
    connect_timeout: ClassVar[float] = 10.0
    idle_timeout: ClassVar[float | None] = None
    counter_names: ClassVar[tuple[str, ...]] = ("connects", "auth_failures", "disconnects")

    @abstractmethod
    async def run_session(self, session: Session) -> None:
        """Connect, log in, resync, then emit facts until the connection ends (return or raise)."""

    def went_blind(self) -> Iterable[AdapterEvent]:
        """Hook: what to report when a session ends (e.g. every watched line is now unknown)."""
        return ()

    def backoff(self) -> Backoff:
        """Hook: the reconnect backoff (default from ``backoff_initial`` / ``backoff_max``)."""
        return Backoff(self.backoff_initial, self.backoff_max, rng=self.deps.rng)

    def auth_pause(self) -> float:
        """Hook: seconds to wait after a refused login (default ``auth_backoff``)."""
        return self.auth_backoff

    async def open_connection(
        self, host: str, port: int, tls: ssl.SSLContext | None
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Hook: the transport under ``Session.connect`` (an in-memory wire in a benchmark)."""
        return await asyncio.open_connection(host, port, ssl=tls)

    async def _main(self) -> None:
        backoff = self.backoff()
        while True:
            session = Session(self)
            try:
                await self.run_session(session)
                detail = "connection closed by the PBX"
            except AdapterAuthError as exc:
                self.count("auth_failures")
                self._blind()
                self.set_health(Health.BAD_CREDENTIALS, str(exc))
                await self.clock.sleep(self.auth_pause())
                continue
            except (AdapterError, OSError) as exc:
                detail = str(exc) or exc.__class__.__name__
            finally:
                session.close()
            if session.reached_connected:
                backoff.reset()
            self.count("disconnects")
            self._blind()
            self.set_health(Health.TRANSIENT_DISCONNECT, detail)
            delay = backoff.next()
            self.log.debug("%s: reconnecting in %.1f s", self.label, delay)
            await self.clock.sleep(delay)

    def _blind(self) -> None:
        for event in self.went_blind():
            self.emit(event)
