"""Run the Graph emulator in-process on a loopback port (uvicorn as a task of the current loop).

::

    async with run_emulator(config) as handle:
        handle.authority_url   # https://127.0.0.1:PORT/<tenant>   (msal authority)
        handle.graph_url       # https://127.0.0.1:PORT/v1.0
        handle.ca_file         # the CA a client must trust (None with tls=False)
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bridge.emulator.config import EmulatorConfig
from bridge.emulator.tls import TlsFiles, ensure_tls_files
from bridge.kit.asgi import ServedApp, ServeError
from bridge.kit.asgi import serve_asgi as shared_serve_asgi
from bridge.kit.clock import Clock, SystemClock
from bridge.kit.listen_limits import ListenerLimits

# Graph's stand-in serves one bridge (and benchmarks' load) from one address: httpx pools up to
# 100 connections per client, so the per-source cap of a production listener would refuse them.
EMULATOR_LIMITS = ListenerLimits(max_connections=4096, max_connections_per_source=4096)

if TYPE_CHECKING:
    from bridge.emulator.app import Emulator


class EmulatorStartError(ServeError):
    """The emulator's HTTP server could not start (port taken, bad TLS material...)."""


@dataclass(frozen=True)
class EmulatorHandle:
    base_url: str
    authority_url: str  # base_url + "/" + tenant: what msal takes as authority
    graph_url: str  # base_url + "/v1.0"
    admin_url: str  # base_url + "/_emulator"
    ca_file: Path | None
    emulator: Emulator
    served: ServedApp | None = field(default=None, repr=False, compare=False)


@contextlib.asynccontextmanager
async def serve_asgi(
    app: Any, *, tls_files: TlsFiles | None, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[ServedApp]:
    """Serve ``app`` (HTTPS with ``tls_files``) until the block exits (bridge.kit.asgi underneath)."""
    try:
        async with shared_serve_asgi(
            app,
            host=host,
            port=port,
            cert_file=tls_files.cert_file if tls_files else None,
            key_file=tls_files.key_file if tls_files else None,
            name="graph emulator",
            limits=EMULATOR_LIMITS,
        ) as served:
            yield served
    except ServeError as exc:
        if isinstance(exc, EmulatorStartError):
            raise
        raise EmulatorStartError(str(exc)) from exc


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
