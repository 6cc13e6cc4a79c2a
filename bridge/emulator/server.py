"""Run the Graph emulator in-process on a loopback port (uvicorn as a task of the current loop).

::

    async with run_emulator(config) as handle:
        handle.authority_url   # https://127.0.0.1:PORT/<tenant>   (msal authority)
        handle.graph_url       # https://127.0.0.1:PORT/v1.0
        handle.ca_file         # the CA a client must trust (None with tls=False)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn

from bridge.emulator.config import EmulatorConfig
from bridge.emulator.tls import TlsFiles, ensure_tls_files
from bridge.errors import BridgeError
from bridge.runtime.clock import Clock, SystemClock

if TYPE_CHECKING:
    from bridge.emulator.app import Emulator

log = logging.getLogger(__name__)

STARTUP_TIMEOUT_SECONDS = 10.0
SHUTDOWN_TIMEOUT_SECONDS = 5.0
_STARTUP_POLL_SECONDS = 0.005
_WILDCARD_HOSTS = ("", "0.0.0.0", "::")  # advertised as 127.0.0.1


class EmulatorStartError(BridgeError):
    """The emulator's HTTP server could not start (port taken, bad TLS material...)."""


@dataclass(frozen=True)
class ServedApp:
    """An ASGI app being served: where, and a way to wait until the server stops."""

    base_url: str
    _task: asyncio.Task[None] = field(repr=False, compare=False)

    async def wait_stopped(self) -> None:
        await asyncio.shield(self._task)


@dataclass(frozen=True)
class EmulatorHandle:
    base_url: str
    authority_url: str  # base_url + "/" + tenant: what msal takes as authority
    graph_url: str  # base_url + "/v1.0"
    admin_url: str  # base_url + "/_emulator"
    ca_file: Path | None
    emulator: Emulator
    served: ServedApp | None = field(default=None, repr=False, compare=False)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: stopping is the owner's business (CLI, tests)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise EmulatorStartError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.set_inheritable(True)
    return sock


def _advertised_url(scheme: str, host: str, port: int) -> str:
    shown = "127.0.0.1" if host in _WILDCARD_HOSTS else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"{scheme}://{shown}:{port}"


@contextlib.asynccontextmanager
async def serve_asgi(
    app: Any, *, tls_files: TlsFiles | None, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[ServedApp]:
    """Serve ``app`` with uvicorn as a task of the running loop until the block exits."""
    sock = _bind(host, port)
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_config=None,  # leave the process's logging alone
        access_log=False,
        lifespan="auto",
        ssl_certfile=str(tls_files.cert_file) if tls_files else None,
        ssl_keyfile=str(tls_files.key_file) if tls_files else None,
        timeout_graceful_shutdown=1,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name=f"graph-emulator:{bound_port}")
    try:
        await _wait_started(server, task)
        base_url = _advertised_url("https" if tls_files else "http", host, bound_port)
        log.info("graph emulator listening on %s", base_url)
        yield ServedApp(base_url, task)
    finally:
        await _stop(server, task)
        sock.close()


async def _wait_started(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_TIMEOUT_SECONDS
    while not server.started:
        if task.done():
            exc = task.exception() if not task.cancelled() else None
            raise EmulatorStartError(f"emulator server stopped during start-up: {exc!r}") from exc
        if loop.time() > deadline:
            raise EmulatorStartError(f"emulator server did not start within {STARTUP_TIMEOUT_SECONDS:.0f} s")
        await asyncio.sleep(_STARTUP_POLL_SECONDS)


async def _stop(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    server.should_exit = True
    try:
        await asyncio.wait_for(asyncio.shield(task), SHUTDOWN_TIMEOUT_SECONDS)
    except TimeoutError:
        server.force_exit = True
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    except Exception:  # the server task failed while running: already stopped
        log.exception("graph emulator server failed")


@contextlib.asynccontextmanager
async def run_emulator(
    config: EmulatorConfig,
    *,
    clock: Clock | None = None,
    tls: bool = True,
    host: str = "127.0.0.1",
    port: int = 0,
    state_dir: Path | None = None,
    http: Any = None,
) -> AsyncIterator[EmulatorHandle]:
    """Run a Graph emulator for ``config`` on ``host:port`` (0: a free port) until the block exits.

    With ``tls`` the CA and server certificate live in ``state_dir`` (generated on first use,
    reused later); without a ``state_dir`` they go to a temporary directory removed on exit.
    ``http`` is the outbound client the emulator uses for webhooks (passed to ``Emulator``).
    """
    from bridge.emulator.app import Emulator, create_app  # part A's module; imported at use

    emulator = Emulator(config, clock or SystemClock(), http=http)
    with contextlib.ExitStack() as stack:
        tls_files: TlsFiles | None = None
        if tls:
            directory = state_dir or Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="graph-emu-"))
            )
            tls_files = ensure_tls_files(directory)
        async with serve_asgi(create_app(emulator), tls_files=tls_files, host=host, port=port) as served:
            base_url = served.base_url
            yield EmulatorHandle(
                base_url=base_url,
                authority_url=f"{base_url}/{config.tenant_id}",
                graph_url=f"{base_url}/v1.0",
                admin_url=f"{base_url}/_emulator",
                ca_file=tls_files.ca_file if tls_files else None,
                emulator=emulator,
                served=served,
            )
