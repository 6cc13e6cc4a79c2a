"""TCP front end: JSON lines. The first line is ``{"token": "..."}``; then one event (object
or array) or snapshot per line, each answered by one JSON ack line (docs/cti.md).

The login's ack asks for a snapshot (``{"ok": true, "request": "snapshot"}``): TCP is push-only,
so whatever changed while the connection (or the bridge) was down is only learnt from one. The
request rides on the ack rather than on a line of its own, so "one answer line per line sent"
stays true for clients that never heard of snapshots."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import Callable

from adapters.generic_cti.http_ingress import error_body
from adapters.generic_cti.ingest import Ingest, Outcome, token_matches
from bridge.kit.clock import Clock, Expired, within

log = logging.getLogger(__name__)


AUTH_TIMEOUT_SECONDS = 10.0  # a connection that has not sent its token by then is closed
LOGIN_ACK: dict[str, object] = {"ok": True, "request": "snapshot"}  # docs/cti.md, "Snapshots"


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


def _presented_token(line: bytes) -> str | None:
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if isinstance(value, dict) and set(value) == {"token"} and isinstance(value["token"], str):
        return value["token"]
    return None


class TcpListener:
    """An asyncio stream server; ``close()`` also closes every client connection and waits for it."""

    kind = "tcp"

    def __init__(
        self,
        *,
        token: str,
        max_line_bytes: int,
        ingest: Ingest,
        emit: Callable[[Outcome], None],
        clock: Clock,
    ) -> None:
        self._token = token
        self._max_line = max_line_bytes
        self._ingest = ingest
        self._emit = emit
        self._clock = clock
        self._server: asyncio.Server | None = None
        self._closed = asyncio.Event()
        self._clients: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    @property
    def connections(self) -> int:
        return len(self._clients)

    async def open(self, sock: socket.socket) -> None:
        self._closed.clear()
        # The stream limit leaves room for "\r\n"; the exact limit is checked per line.
        self._server = await asyncio.start_server(self._handle, sock=sock, limit=self._max_line + 2)

    async def closed(self) -> None:
        await self._closed.wait()

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._clients.values()):
            writer.close()
        tasks = list(self._clients)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=1.0)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if server is not None:
            await server.wait_closed()
        self._closed.set()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients[task] = writer
        peer = writer.get_extra_info("peername")
        source = str(peer[0]) if isinstance(peer, tuple) else "?"
        try:
            await self._converse(reader, writer, source)
        except (ConnectionError, asyncio.IncompleteReadError):
            log.debug("cti %s: TCP client %s went away", self._ingest.name, source)
        except Exception:
            log.exception("cti %s: TCP connection from %s failed", self._ingest.name, source)
        finally:
            del self._clients[task]
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(self, writer: asyncio.StreamWriter, body: dict[str, object]) -> None:
        writer.write(json.dumps(body).encode() + b"\n")
        await writer.drain()

    async def _converse(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, source: str
    ) -> None:
        ingest = self._ingest
        try:
            first = await within(self._clock, AUTH_TIMEOUT_SECONDS, _read_line(reader, self._max_line))
            if first is None:
                return
            presented = _presented_token(first)
            if presented is None or not token_matches(presented, self._token):
                level = logging.WARNING if ingest.counters["bad_token"] == 0 else logging.DEBUG
                log.log(level, "cti %s: TCP client %s sent no valid token", ingest.name, source)
                ingest.count("bad_token")
                await self._answer(writer, {"ok": False, "error": "unauthorized"})
                return
            await self._answer(writer, LOGIN_ACK)
            while (line := await _read_line(reader, self._max_line)) is not None:
                if not line.strip():
                    continue  # blank lines keep the connection alive
                outcome = ingest.offer(line, source)
                if outcome.error is not None:
                    await self._answer(writer, {"ok": False, **error_body(outcome.error)})
                    continue
                self._emit(outcome)
                ignored = [item.as_json() for item in outcome.ignored]
                await self._answer(writer, {"ok": True, "accepted": outcome.accepted, "ignored": ignored})
        except Expired:  # no token line in time
            ingest.count("bad_token")
            log.info(
                "cti %s: TCP client %s sent no token within %.0f s", ingest.name, source, AUTH_TIMEOUT_SECONDS
            )
            await self._answer(writer, {"ok": False, "error": "unauthorized: no token in time"})
        except _LineTooLong:
            ingest.count("rejected_oversize")
            log.info("cti %s: TCP client %s sent a line over %d bytes", ingest.name, source, self._max_line)
            await self._answer(writer, {"ok": False, "error": f"line over {self._max_line} bytes"})
