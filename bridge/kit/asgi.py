"""The one embedded HTTP server: an ASGI app on uvicorn as a task of the running loop.

Every HTTP listener we run goes through :class:`AsgiServer` (the CTI ingress, the status
endpoints, the emulator): uvicorn's own signal handling is switched off (stopping is the owner's
business), the socket is bound by us (``bridge.kit.net``), so a port in use is a clear
``ServeError`` instead of uvicorn's ``sys.exit``, and a server that dies is logged once and seen by
its owner through ``closed()``.

Connections are accepted by our :class:`~bridge.kit.gate.ConnectionGate` (caps per listener and
per source, file descriptor headroom, rate-limited summaries), not by uvicorn's
``loop.create_server``: uvicorn serves with no socket of its own (``serve(sockets=[])`` still runs
its lifespan and graceful shutdown) and the gate hands each admitted connection to
:class:`GuardedH11Protocol`, which adds the timeouts uvicorn lacks (``bridge.kit.http_guard``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
import ssl
from collections.abc import AsyncIterator, Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import uvicorn

from bridge.errors import BridgeError
from bridge.kit.clock import Clock, SystemClock
from bridge.kit.config_types import parse_listen
from bridge.kit.gate import ConnectionGate, Lease
from bridge.kit.http_guard import Guard, GuardedH11Protocol
from bridge.kit.listen_limits import HTTP_DEFAULTS, ListenerLimits
from bridge.kit.net import bind_listening
from bridge.kit.ratelog import RateLimitedLog

log = logging.getLogger(__name__)

STARTUP_TIMEOUT_SECONDS = 10.0
SHUTDOWN_TIMEOUT_SECONDS = 5.0
_STARTUP_POLL_SECONDS = 0.005
_WILDCARD_HOSTS = ("", "0.0.0.0", "::")  # advertised as 127.0.0.1


class ServeError(BridgeError):
    """An HTTP server could not start (port taken, bad TLS material...)."""


@dataclass(frozen=True)
class ServedApp:
    """An ASGI app being served: where, and a way to wait until the server stops."""

    base_url: str
    port: int
    _task: asyncio.Task[None] = field(repr=False, compare=False)

    async def wait_stopped(self) -> None:
        await asyncio.shield(self._task)


class _Server(uvicorn.Server):
    """uvicorn without its process-wide signal handlers: the runtime owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class AsgiServer:
    """One uvicorn server for ``app`` on a socket the owner bound.

    ``start`` returns once it serves (``ServeError`` if it stops first); ``closed`` returns when it
    stops serving for any reason (without stopping it); ``close`` stops it gracefully, then by
    force after ``SHUTDOWN_TIMEOUT_SECONDS``. The socket is closed with the server.

    ``limits`` bound every connection (``ListenerLimits``); refusals, timeouts and malformed
    requests are counted in ``counters`` (names in ``bridge.kit.gate.GATE_COUNTERS`` and
    ``bridge.kit.http_guard.GUARD_COUNTERS``) and summarised in the log at most once a minute per
    kind. ``clock`` drives the timeouts (a fake one in tests).
    """

    def __init__(
        self,
        app: Any,
        *,
        name: str,
        lifespan: Literal["auto", "on", "off"] = "auto",
        cert_file: Path | None = None,
        key_file: Path | None = None,
        graceful_seconds: int = 1,
        limits: ListenerLimits = HTTP_DEFAULTS,
        clock: Clock | None = None,
        counters: MutableMapping[str, int] | None = None,
    ) -> None:
        self.name = name
        self.limits = limits
        clock = clock or SystemClock()
        summaries = RateLimitedLog(log, clock.monotonic)
        self.gate = ConnectionGate(name, limits, clock, counters=counters, summaries=summaries)
        self.counters = self.gate.counters
        self._guard = Guard(name, limits, clock, self.counters, summaries)
        self._config = uvicorn.Config(
            app,
            log_config=None,  # leave the process's logging alone
            access_log=False,
            lifespan=lifespan,
            server_header=False,
            proxy_headers=False,
            ssl_certfile=str(cert_file) if cert_file else None,
            ssl_keyfile=str(key_file) if key_file else None,
            timeout_graceful_shutdown=graceful_seconds,
            http=GuardedH11Protocol,
            # our idle timer (the guard's) closes first; uvicorn's own stays as a backstop
            timeout_keep_alive=math.ceil(limits.idle_timeout_seconds) + 1,
        )
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._accepting: asyncio.Task[None] | None = None

    async def start(self, sock: socket.socket) -> None:
        server = self._server = _Server(self._config)
        port = sock.getsockname()[1]
        self._task = asyncio.create_task(self._serve(server, sock), name=f"{self.name}:{port}")
        await _wait_started(server, self._task)
        self._accepting = asyncio.create_task(self._accept(server, sock), name=f"{self.name}:accept")

    async def _serve(self, server: _Server, sock: socket.socket) -> None:
        """uvicorn with no socket of its own (lifespan, graceful shutdown); the gate accepts."""
        try:
            await server.serve(sockets=[])
        except SystemExit as exc:  # uvicorn exits the process on some start-up failures
            log.error("%s: HTTP server failed to start (uvicorn exit %s)", self.name, exc.code)
        except Exception:
            log.exception("%s: HTTP server failed", self.name)
        finally:
            accepting, self._accepting = self._accepting, None
            if accepting is not None:
                accepting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await accepting
            await self.gate.close()
            sock.close()

    async def _accept(self, server: _Server, sock: socket.socket) -> None:
        config = server.config
        state = server.lifespan.state
        loop = asyncio.get_running_loop()

        async def admit(conn: socket.socket, lease: Lease) -> None:
            def protocol() -> GuardedH11Protocol:
                return GuardedH11Protocol(config, server.server_state, state, guard=self._guard, lease=lease)

            handshake = self.limits.header_timeout_seconds if config.ssl else None
            try:
                await loop.connect_accepted_socket(
                    protocol, conn, ssl=config.ssl, ssl_handshake_timeout=handshake
                )
            except (OSError, ssl.SSLError, TimeoutError) as exc:  # a failed TLS handshake, a reset
                self._guard.malformed(lease.source, f"connection setup failed: {exc!r}")
                conn.close()
                lease.release()

        try:
            await self.gate.serve(sock, admit)
        except Exception:
            log.exception("%s: accepting connections failed", self.name)
            server.should_exit = True  # stop serving: the owner sees closed() and rebinds

    @property
    def task(self) -> asyncio.Task[None]:
        if self._task is None:
            raise ServeError(f"{self.name}: not started")
        return self._task

    async def closed(self) -> None:
        if self._task is not None:
            await asyncio.wait([self._task])

    async def close(self) -> None:
        server, task, self._server, self._task = self._server, self._task, None, None
        if self._accepting is not None:  # no new connections while the others finish
            self._accepting.cancel()
        if server is not None and task is not None:
            await _stop(server, task, self.name)


def split_listen(listen: str) -> tuple[str, int]:
    """``"127.0.0.1:9108"`` or ``"[::1]:9108"`` -> (host, port): the one parser of the config."""
    return parse_listen(listen)


def bind(host: str, port: int) -> socket.socket:
    try:
        sock = bind_listening(host, port)
    except OSError as exc:
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.set_inheritable(True)
    return sock


def advertised_url(scheme: str, host: str, port: int) -> str:
    shown = "127.0.0.1" if host in _WILDCARD_HOSTS else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"{scheme}://{shown}:{port}"


@contextlib.asynccontextmanager
async def serve_asgi(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    cert_file: Path | None = None,
    key_file: Path | None = None,
    name: str = "http",
    limits: ListenerLimits = HTTP_DEFAULTS,
    counters: MutableMapping[str, int] | None = None,
) -> AsyncIterator[ServedApp]:
    """Serve ``app`` until the block exits; TLS when a certificate and key are given."""
    sock = bind(host, port)
    bound_port = sock.getsockname()[1]
    server = AsgiServer(
        app, name=name, cert_file=cert_file, key_file=key_file, limits=limits, counters=counters
    )
    await server.start(sock)
    try:
        base_url = advertised_url("https" if cert_file else "http", host, bound_port)
        log.info("%s listening on %s", name, base_url)
        yield ServedApp(base_url, bound_port, server.task)
    finally:
        await server.close()


async def _wait_started(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    """uvicorn has no start-up event to await: poll its flag (real time: sockets are real)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_TIMEOUT_SECONDS
    while not server.started:
        if task.done():
            exc = task.exception() if not task.cancelled() else None
            raise ServeError(f"server stopped during start-up: {exc!r}") from exc
        if loop.time() > deadline:
            raise ServeError(f"server did not start within {STARTUP_TIMEOUT_SECONDS:.0f} s")
        await asyncio.sleep(_STARTUP_POLL_SECONDS)


async def _stop(server: uvicorn.Server, task: asyncio.Task[None], name: str) -> None:
    server.should_exit = True
    try:
        await asyncio.wait_for(asyncio.shield(task), SHUTDOWN_TIMEOUT_SECONDS)
    except TimeoutError:
        server.force_exit = True
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    except Exception:  # the server task failed while running: already stopped
        log.exception("%s server failed", name)
