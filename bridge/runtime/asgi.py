"""Serve an ASGI app with uvicorn as a task of the running loop (our HTTP endpoints, the emulator).

uvicorn's own signal handling is switched off (stopping is the owner's business) and the socket is
bound here, so a port in use is a clear ``ServeError`` instead of uvicorn's ``sys.exit``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from bridge.errors import BridgeError
from bridge.kit.config_types import parse_listen
from bridge.kit.net import bind_listening

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
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


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
) -> AsyncIterator[ServedApp]:
    """Serve ``app`` until the block exits; TLS when a certificate and key are given."""
    sock = bind(host, port)
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_config=None,  # leave the process's logging alone
        access_log=False,
        lifespan="auto",
        ssl_certfile=str(cert_file) if cert_file else None,
        ssl_keyfile=str(key_file) if key_file else None,
        timeout_graceful_shutdown=1,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name=f"{name}:{bound_port}")
    try:
        await _wait_started(server, task)
        base_url = advertised_url("https" if cert_file else "http", host, bound_port)
        log.info("%s listening on %s", name, base_url)
        yield ServedApp(base_url, bound_port, task)
    finally:
        await _stop(server, task, name)
        sock.close()


async def _wait_started(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
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
