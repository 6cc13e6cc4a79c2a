"""``presence-bridge graph-emulator``: run the Graph presence emulator until interrupted.

On start it prints one line each (stdout): the authority URL, the Graph base URL and, with TLS,
the CA file a client must trust. Secrets are never printed. The integrator wires
:func:`add_parser` and :func:`run` into ``bridge/cli.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TextIO

from bridge.emulator.cli_config import APPS_ENV, EmulatorOptions, build_config
from bridge.emulator.server import EmulatorHandle, EmulatorStartError, run_emulator
from bridge.errors import ConfigError
from bridge.kit.clock import Clock, FakeClock, SystemClock

DEFAULT_PORT = 8443


class ManualClock(FakeClock):
    """Emulator time that only moves when told (``POST /_emulator/clock`` or :meth:`advance`).

    ``now``/``monotonic``/``sleep``/``advance`` as :class:`FakeClock`, starting at a given wall time.
    """

    def __init__(self, start: datetime) -> None:
        super().__init__(start)


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "graph-emulator",
        help="run the local Microsoft Graph presence emulator",
        description=(
            "Run a local emulator of the Microsoft Graph presence API and its identity platform. "
            f"Secrets: CLIENT_ID:SECRET, CLIENT_ID:@FILE, or the {APPS_ENV} environment variable "
            "(entries separated by commas or spaces). Without any app, the demo app is registered."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="listen port (0: any free port)")
    parser.add_argument("--no-tls", action="store_true", help="plain HTTP (for curl; msal needs HTTPS)")
    parser.add_argument("--state-dir", type=Path, help="where the CA and server certificate are kept")
    parser.add_argument("--tenant", help="tenant id (default: the emulator's demo tenant)")
    parser.add_argument(
        "--app", action="append", default=[], metavar="CLIENT_ID:SECRET", help="register an app with a secret"
    )
    parser.add_argument(
        "--app-cert",
        action="append",
        default=[],
        metavar="CLIENT_ID:CERT.pem",
        help="register an app certificate (public PEM) for client assertions",
    )
    parser.add_argument(
        "--roles",
        action="append",
        default=[],
        metavar="CLIENT_ID:Role1,Role2",
        help="the app's roles (default Presence.ReadWrite.All, Presence.Read.All, User.Read.All)",
    )
    parser.add_argument("--users-file", type=Path, help="YAML list of users (id, userPrincipalName, ...)")
    parser.add_argument("--rate-limit", metavar="N/30s", help="presence calls per app per window (1500/30s)")
    parser.add_argument(
        "--latency",
        metavar="SPEC",
        help="delay per Graph/token request: 80ms, 80ms+-20ms (uniform) or 80ms,p99=400ms (log-normal)",
    )
    parser.add_argument(
        "--latency-seed", type=int, default=0, metavar="N", help="seed of the latency draws (default 0)"
    )
    parser.add_argument(
        "--manual-clock", action="store_true", help="time moves only through POST /_emulator/clock"
    )
    return parser


def default_state_dir(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "presence-bridge" / "graph-emulator"


def _announce(handle: EmulatorHandle, out: TextIO) -> None:
    print(f"authority: {handle.authority_url}", file=out)
    print(f"graph: {handle.graph_url}", file=out)
    if handle.ca_file is not None:
        print(f"ca-file: {handle.ca_file}", file=out)
    out.flush()


async def serve(
    args: argparse.Namespace,
    *,
    environ: Mapping[str, str],
    stop: asyncio.Event,
    out: TextIO,
    on_ready: Callable[[EmulatorHandle], None] | None = None,
) -> int:
    """Run until ``stop`` is set or the server ends; 0 on a clean stop, 2 on bad options, 1 otherwise."""
    try:
        config = build_config(
            EmulatorOptions(
                tenant=args.tenant,
                apps=args.app,
                app_certs=args.app_cert,
                roles=args.roles,
                users_file=args.users_file,
                rate_limit=args.rate_limit,
                latency=args.latency,
                latency_seed=args.latency_seed,
                environ=environ,
            )
        )
    except ConfigError as err:
        for problem in err.problems:
            print(f"graph-emulator: {problem}", file=sys.stderr)
        return 2
    clock: Clock = ManualClock(SystemClock().now()) if args.manual_clock else SystemClock()
    state_dir = args.state_dir or default_state_dir(environ)
    try:
        async with run_emulator(
            config, clock=clock, tls=not args.no_tls, host=args.host, port=args.port, state_dir=state_dir
        ) as handle:
            _announce(handle, out)
            if on_ready is not None:
                on_ready(handle)
            await _until_stopped(stop, handle)
    except EmulatorStartError as err:
        print(f"graph-emulator: {err}", file=sys.stderr)
        return 1
    return 0


async def _until_stopped(stop: asyncio.Event, handle: EmulatorHandle) -> None:
    waiters: list[asyncio.Future[object]] = [asyncio.ensure_future(stop.wait())]
    if handle.served is not None:
        waiters.append(asyncio.ensure_future(handle.served.wait_stopped()))
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)


async def run(args: argparse.Namespace) -> int:
    """Entry point for ``presence-bridge graph-emulator``: stops on SIGINT/SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    try:
        return await serve(args, environ=os.environ, stop=stop, out=sys.stdout)
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
