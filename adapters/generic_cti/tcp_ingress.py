"""TCP front end: JSON lines. The first line is ``{"token": "..."}``; then one event (object
or array) or snapshot per line, each answered by one JSON ack line (docs/cti.md).

The login's ack asks for a snapshot (``{"ok": true, "request": "snapshot"}``): TCP is push-only,
so whatever changed while the connection (or the bridge) was down is only learnt from one. The
request rides on the ack rather than on a line of its own, so "one answer line per line sent"
stays true for clients that never heard of snapshots.

Connections are accepted by a :class:`~bridge.kit.gate.ConnectionGate` (caps per listener and per
source) and bounded by its deadlines: the login line within ``header_timeout_seconds``, then
``idle_timeout_seconds`` between lines (a blank line is a keep-alive, before the login too)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import Callable

from adapters.generic_cti.http_ingress import error_body
from adapters.generic_cti.ingest import Ingest, Outcome, token_matches
from adapters.generic_cti.parse import CtiParseError, decode_json
from bridge.kit.clock import Clock
from bridge.kit.gate import ConnectionGate, Lease, admit_stream
from bridge.kit.listen_limits import TCP_DEFAULTS, ListenerLimits
from bridge.kit.ratelog import RateLimitedLog

log = logging.getLogger(__name__)


AUTH_TIMEOUT_SECONDS = TCP_DEFAULTS.header_timeout_seconds  # default time to send the login line
LOGIN_ACK: dict[str, object] = {"ok": True, "request": "snapshot"}  # docs/cti.md, "Snapshots"
NO_TOKEN_IN_TIME: dict[str, object] = {"ok": False, "error": "unauthorized: no token in time"}


class _LineTooLong(Exception):
    pass


async def _read_line(reader: asyncio.StreamReader, max_line_bytes: int) -> bytes | None:
    """The next line without its terminator; None at EOF; _LineTooLong past the limit."""
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        line = exc.partial  # a last line without a newline still counts
        if not line:
            return None
    except asyncio.LimitOverrunError:
        raise _LineTooLong from None
    line = line.rstrip(b"\r\n")
    if len(line) > max_line_bytes:
        raise _LineTooLong
    return line


def presented_token(line: bytes) -> str | None:
    """The token of a login line ``{"token": "..."}``; None for anything else (a second ``token``
    key included: the JSON reader refuses duplicated keys rather than keeping the last)."""
    try:
        value = decode_json(line)
    except CtiParseError:
        return None
    if isinstance(value, dict) and set(value) == {"token"} and isinstance(value["token"], str):
        return value["token"]
    return None


def _line(body: dict[str, object]) -> bytes:
    return json.dumps(body).encode() + b"\n"


class TcpListener:
    """A gated stream server; ``close()`` also closes every client connection and waits for it."""

    kind = "tcp"

    def __init__(
        self,
        *,
        token: str,
        max_line_bytes: int,
        ingest: Ingest,
        emit: Callable[[Outcome], None],
        clock: Clock,
        limits: ListenerLimits = TCP_DEFAULTS,
    ) -> None:
        self._token = token
        self._max_line = max_line_bytes
        self._ingest = ingest
        self._emit = emit
        self._clock = clock
        self._limits = limits
        self._summaries = RateLimitedLog(log, clock.monotonic)
        self._gate: ConnectionGate | None = None
        self._serving: asyncio.Task[None] | None = None
        self._closed = asyncio.Event()
        self._clients: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    @property
    def connections(self) -> int:
        return len(self._clients)

    async def open(self, sock: socket.socket) -> None:
        self._closed.clear()
        gate = self._gate = ConnectionGate(
            f"cti {self._ingest.name} tcp",
            self._limits,
            self._clock,
            counters=self._ingest.counters,
            summaries=self._summaries,
        )
        self._serving = asyncio.create_task(self._serve(gate, sock), name=f"{gate.name}:accept")

    async def _serve(self, gate: ConnectionGate, sock: socket.socket) -> None:
        try:
            await gate.serve(sock, self._admit)
        except Exception:
            log.exception("%s: accepting connections failed", gate.name)
        finally:
            sock.close()
            self._closed.set()

    async def closed(self) -> None:
        await self._closed.wait()

    async def close(self) -> None:
        serving, self._serving = self._serving, None
        if serving is not None:
            serving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await serving
        for writer in list(self._clients.values()):
            writer.close()
        tasks = list(self._clients)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=1.0)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._gate is not None:
            await self._gate.close()
        self._closed.set()

    async def _admit(self, conn: socket.socket, lease: Lease) -> None:
        # The stream limit leaves room for "\r\n"; the exact limit is checked per line.
        reader, writer = await admit_stream(conn, self._max_line + 2)
        task = asyncio.current_task()
        assert task is not None
        self._clients[task] = writer
        lease.abort = writer.transport.abort
        lease.expire = lambda: self._expired(lease, writer)
        lease.deadline = self._clock.monotonic() + self._limits.header_timeout_seconds
        try:
            await self._handle(reader, writer, lease)
        finally:
            del self._clients[task]
            lease.release()

    def _expired(self, lease: Lease, writer: asyncio.StreamWriter) -> None:
        """The gate's sweep: no login line in time (counted as a bad token), or idle too long."""
        ingest = self._ingest
        if lease.idle:
            ingest.count("bad_token")
            self._summaries.note(
                "login timeout",
                "cti %s: TCP client %s sent no token within %g s",
                ingest.name,
                lease.source,
                self._limits.header_timeout_seconds,
                level=logging.INFO,
            )
            writer.write(_line(NO_TOKEN_IN_TIME))
        else:
            ingest.count("tcp_idle_timeouts")
            self._summaries.note(
                "idle timeout",
                "cti %s: closed TCP connections silent for %g s (latest from %s)",
                ingest.name,
                self._limits.idle_timeout_seconds,
                lease.source,
                level=logging.INFO,
            )
        writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, lease: Lease) -> None:
        source = lease.source
        try:
            await self._converse(reader, writer, lease)
        except (ConnectionError, asyncio.IncompleteReadError):
            log.debug("cti %s: TCP client %s went away", self._ingest.name, source)
        except Exception:
            log.exception("cti %s: TCP connection from %s failed", self._ingest.name, source)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(self, writer: asyncio.StreamWriter, body: dict[str, object]) -> None:
        if writer.is_closing():
            return
        writer.write(_line(body))
        await writer.drain()

    async def _login(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, lease: Lease) -> bool:
        """Blank lines first are keep-alives; the first other line must be the token."""
        ingest = self._ingest
        while (first := await _read_line(reader, self._max_line)) is not None:
            if writer.is_closing():  # the login timeout closed it: what was left is not a try
                return False
            if not first.strip():
                continue
            presented = presented_token(first)
            if presented is not None and token_matches(presented, self._token):
                lease.idle = False  # a logged-in PBX is never dropped to make room
                await self._answer(writer, LOGIN_ACK)
                return True
            ingest.count("bad_token")
            self._summaries.note(
                f"bad token {lease.source}",
                "cti %s: TCP client %s sent no valid token",
                ingest.name,
                lease.source,
            )
            await self._answer(writer, {"ok": False, "error": "unauthorized"})
            return False
        return False

    async def _converse(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, lease: Lease
    ) -> None:
        ingest, clock, idle = self._ingest, self._clock, self._limits.idle_timeout_seconds
        try:
            if not await self._login(reader, writer, lease):
                return
            lease.deadline = clock.monotonic() + idle
            while (line := await _read_line(reader, self._max_line)) is not None:
                lease.deadline = clock.monotonic() + idle
                if not line.strip():
                    continue  # blank lines keep the connection alive
                outcome = ingest.offer(line, lease.source)
                if outcome.error is not None:
                    await self._answer(writer, {"ok": False, **error_body(outcome.error)})
                    continue
                self._emit(outcome)
                ignored = [item.as_json() for item in outcome.ignored]
                await self._answer(writer, {"ok": True, "accepted": outcome.accepted, "ignored": ignored})
        except _LineTooLong:
            ingest.count("rejected_oversize")
            self._summaries.note(
                f"long line {lease.source}",
                "cti %s: TCP client %s sent a line over %d bytes",
                ingest.name,
                lease.source,
                self._max_line,
                level=logging.INFO,
            )
            await self._answer(writer, {"ok": False, "error": f"line over {self._max_line} bytes"})
