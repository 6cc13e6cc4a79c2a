"""Command line: the only place that reads the environment, prints and exits.

``presence-bridge run|check|demo|graph-emulator|release|mapping report|status|freepbx-hints``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from bridge import __version__
from bridge.config import BridgeConfig, HttpConfig, load_config
from bridge.errors import BridgeError, ConfigError

if TYPE_CHECKING:
    from bridge.runtime.store import StateStore

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EMULATOR_COMMAND = "graph-emulator"
STATUS_TOKEN_ENV = "PRESENCE_BRIDGE_STATUS_TOKEN"
EMULATOR_HELP = "run the local Microsoft Graph presence emulator"


def build_parser(emulator: bool = True) -> argparse.ArgumentParser:
    """The whole command line; ``emulator=False`` lists ``graph-emulator`` without loading the
    emulator (and its TLS test CA), so ``run`` never imports them."""
    parser = argparse.ArgumentParser(prog="presence-bridge", description="Teams presence <-> PBX bridge")
    parser.add_argument("--version", action="version", version=f"presence-bridge {__version__}")
    parser.add_argument(
        "--log-level", help="DEBUG, INFO, WARNING (default INFO; WARNING for the demo's live table)"
    )
    sub = parser.add_subparsers(dest="command")

    def with_config(name: str, help_text: str, required: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("-c", "--config", type=Path, required=required, help="bridge YAML file")
        return p

    with_config("run", "run the bridge")
    with_config("check", "validate the configuration, get a Graph token and check its roles")
    demo = with_config("demo", "emulated PBX + Graph emulator; with -c, dry-run that config", required=False)
    demo.add_argument("--duration", type=float, help="stop after N seconds (exit 0)")
    release = with_config("release", "clear every Teams session and preferred presence we own")
    release.add_argument(
        "--retry-for", type=float, default=60.0, metavar="SECONDS", help="retry failed Teams clears this long"
    )
    status = with_config("status", "the per-person table of a running bridge (GET /status)")
    status.add_argument("--json", action="store_true", help="raw JSON")
    mapping = sub.add_parser("mapping", help="people mapping tools")
    mapping_sub = mapping.add_subparsers(dest="mapping_command", required=True)
    report = mapping_sub.add_parser("report", help="unmapped, duplicate and failing people")
    report.add_argument("-c", "--config", type=Path, required=True)
    sub.add_parser("hash-password", help="print http.auth's basic_password_hash of a password (stdin)")
    hints = sub.add_parser("freepbx-hints", help="dialplan for Teams BLF keys (extensions_custom.conf)")
    hints.add_argument("extensions", nargs="+", help="extensions to make hints for")
    hints.add_argument("--context", default="teams-blf")
    if emulator:
        from bridge.emulator import cli as emulator_cli

        emulator_cli.add_parser(sub)
    else:
        sub.add_parser(EMULATOR_COMMAND, help=EMULATOR_HELP)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(emulator=EMULATOR_COMMAND in argv)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    from bridge.runtime import logs

    level = args.log_level or ("WARNING" if args.command == "demo" else "INFO")
    logs.configure(level, json_lines=args.command not in ("demo", "graph-emulator"))
    handlers: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, int]]] = {
        "run": _run,
        "check": _check,
        "demo": _demo,
        "release": _release,
        "status": _status,
        "mapping": _mapping_report,
        EMULATOR_COMMAND: _graph_emulator,
    }
    if args.command == "freepbx-hints":
        return _freepbx_hints(args, sys.stdout)
    if args.command == "hash-password":
        from bridge.runtime.page_auth import hash_password_cli

        return hash_password_cli(sys.stdin, sys.stdout, sys.stderr)
    try:
        return asyncio.run(handlers[args.command](args))
    except KeyboardInterrupt:
        return EXIT_OK


# --- helpers -------------------------------------------------------------------------------


def _load(path: Path | None, err: TextIO = sys.stderr) -> BridgeConfig | None:
    if path is None:
        return None
    try:
        return load_config(path, environ=os.environ)
    except ConfigError as exc:
        print(f"{path}: {len(exc.problems)} problem(s):", file=err)
        for problem in exc.problems:
            print(f"  {problem}", file=err)
        return None


def _open_store(config: BridgeConfig) -> StateStore | None:
    from bridge.runtime.store import StateStore

    try:
        return StateStore(config.state.path).open()
    except BridgeError as exc:
        print(f"presence-bridge: {exc}", file=sys.stderr)
        return None


async def _until_signalled(body: Awaitable[object]) -> None:
    """Run ``body`` until it ends or SIGINT/SIGTERM arrives (then cancel it)."""
    task = asyncio.ensure_future(body)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        pass
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)


# --- commands ------------------------------------------------------------------------------


async def _run(args: argparse.Namespace) -> int:
    config = _load(args.config)
    if config is None:
        return EXIT_USAGE
    from bridge.kit.clock import SystemClock
    from bridge.kit.gate import raise_fd_limit
    from bridge.kit.heap import freeze_long_lived
    from bridge.runtime.http import serve_status
    from bridge.runtime.service import BridgeService

    raise_fd_limit()  # a listener under attack must not leave Graph without descriptors

    store = _open_store(config)
    if store is None:
        return EXIT_FAILED
    try:
        service = BridgeService(config, clock=SystemClock(), store=store)
        freeze_long_lived()  # no collector pauses over the configuration while serving

        async def body() -> None:
            loop = asyncio.get_running_loop()
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signal.SIGHUP, service.hangup)  # credentials, UPNs
            async with serve_status(service, config.http):
                await service.run()

        await _until_signalled(body())  # SIGTERM: stop without clearing; sessions expire by themselves
    except BridgeError as exc:
        print(f"presence-bridge: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        store.close()
    return EXIT_OK


async def _graph_emulator(args: argparse.Namespace) -> int:
    from bridge.emulator import cli as emulator_cli

    return await emulator_cli.run(args)


async def _check(args: argparse.Namespace) -> int:
    config = _load(args.config)
    if config is None:
        return EXIT_USAGE
    from bridge.runtime.check import check_tenants

    ok = await check_tenants(config, sys.stdout)
    return EXIT_OK if ok else EXIT_FAILED


async def _demo(args: argparse.Namespace) -> int:
    if args.config is None:
        from bridge.demo import play

        page = HttpConfig()  # the status page on 127.0.0.1:9108 while the demo plays
        await _until_signalled(play(sys.stdout, duration=args.duration, live=sys.stdout.isatty(), page=page))
        return EXIT_OK
    config = _load(args.config)
    if config is None:
        return EXIT_USAGE
    from bridge.dry_run import dry_run

    await _until_signalled(dry_run(config, sys.stdout, duration=args.duration))
    return EXIT_OK


async def _release(args: argparse.Namespace) -> int:
    config = _load(args.config)
    if config is None:
        return EXIT_USAGE
    from bridge.kit.clock import SystemClock
    from bridge.runtime.release import release

    store = _open_store(config)
    if store is None:
        return EXIT_FAILED
    try:
        done = await release(
            config, store, clock=SystemClock(), out=sys.stdout, err=sys.stderr, retry_for=args.retry_for
        )
    finally:
        store.close()
    return EXIT_OK if done else EXIT_FAILED


async def _status(args: argparse.Namespace) -> int:
    config = _load(args.config)
    if config is None:
        return EXIT_USAGE
    import httpx

    from bridge.kit.asgi import split_listen
    from bridge.runtime.table import STATUS_COLUMNS, render

    host, port = split_listen(config.http.listen)
    token = os.environ.get(STATUS_TOKEN_ENV)  # http.auth's bearer token, when one is configured
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        async with httpx.AsyncClient(trust_env=False, timeout=5) as client:
            response = await client.get(f"http://{host}:{port}/status", headers=headers)
            if response.status_code in (401, 403):
                refusal = response.text.strip()
                print(f"presence-bridge: {host}:{port} refused /status: {refusal}", file=sys.stderr)
                print(f"  (http.auth: set {STATUS_TOKEN_ENV} to the bearer token)", file=sys.stderr)
                return EXIT_FAILED
            body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        print(f"presence-bridge: no running bridge answers on {host}:{port}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        print(json.dumps(body, indent=2))
    else:
        title = f"presence-bridge status ({host}:{port})"
        print(render(body["people"], title, STATUS_COLUMNS) if body["people"] else "no people configured")
        for alarm in body.get("alarms", []):
            print(f"ALARM {alarm}")
    return EXIT_OK


async def _mapping_report(args: argparse.Namespace) -> int:
    config = _load(args.config)
    if config is None:
        return EXIT_USAGE
    from bridge.runtime.mapping_report import mapping_report

    problems = await mapping_report(config, sys.stdout)
    return EXIT_FAILED if problems else EXIT_OK


def _freepbx_hints(args: argparse.Namespace, out: TextIO) -> int:
    try:
        from adapters.asterisk_ami.writeback import freepbx_hints
    except ImportError:
        print("presence-bridge: the Asterisk adapter is not installed", file=sys.stderr)
        return EXIT_FAILED
    try:
        out.write(freepbx_hints(list(args.extensions), context=args.context))
    except (BridgeError, ValueError) as exc:
        print(f"presence-bridge: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
