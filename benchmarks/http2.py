"""HTTP/2 against HTTP/1.1 keep-alive to a Graph 0, 100 or 250 ms away (issue 13), wall clock.

uvicorn (the emulator's server) speaks HTTP/1.1 only, so this serves the emulator's app with
hypercorn (HTTP/2 by ALPN over TLS, and HTTP/1.1) on loopback, behind a small ASGI wrapper that
holds every Graph request for the round trip (real ``asyncio.sleep``: the request's connection or
stream stays busy meanwhile, as it does across a real network). The client is ``GraphClient`` over
httpx as the bridge builds it (pool sized by ``bridge.teams.inflight.connections``), once with
``http2=True`` and once without; ``IN_FLIGHT`` writes at a time (the publisher's bound for the
default budget at 250 ms), ``WRITES`` in all. Measured: writes/s, CPU ms per write (client and
server share this process, so the CPU is both sides), TCP connections the server accepted.

Needs the optional ``h2`` and ``hypercorn`` packages (``pip install 'httpx[http2]' hypercorn``);
without them the benchmark reports nothing.
"""

from __future__ import annotations

import asyncio
import random
import socket
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from benchmarks.naive import fetch_token
from benchmarks.results import Result
from bridge.emulator.app import Emulator, create_app
from bridge.emulator.config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, EmulatorConfig, UserRecord
from bridge.emulator.tls import ensure_tls_files
from bridge.kit.clock import SystemClock
from bridge.presence import IN_A_CALL
from bridge.teams.graph import GraphClient
from bridge.teams.inflight import DEFAULT_MAX_IN_FLIGHT, connections

NAME = "http2"
RTTS = (0.0, 0.1, 0.25)
IN_FLIGHT = 16  # the default budget (40/s) at 250 ms: 40 x 0.25 x 1.5 + 1
WRITES = 400
QUICK_WRITES = 80
USERS = tuple(UserRecord(f"00000000-0000-4000-8000-{n:012d}", f"u{n}@h2.example") for n in range(WRITES))


class Distance:
    """ASGI wrapper: Graph requests (``/v1.0/``) answered ``rtt`` seconds later; counts connections."""

    def __init__(self, app: Any, rtt: float) -> None:
        self.app, self.rtt, self.connections = app, rtt, set[tuple[str, int]]()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            client = scope.get("client")
            if client:
                self.connections.add((str(client[0]), int(client[1])))
            if self.rtt and scope["path"].startswith("/v1.0/"):
                await asyncio.sleep(self.rtt)
        await self.app(scope, receive, send)


class _Token:
    def __init__(self, value: str) -> None:
        self.value = value

    async def token(self) -> str:
        return self.value

    def invalidate(self) -> None:
        return None


async def one(rtt: float, http2: bool, writes: int) -> dict[str, float]:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    with tempfile.TemporaryDirectory(prefix="bench-h2-") as tmp:
        tls = ensure_tls_files(Path(tmp))
        emu = Emulator(EmulatorConfig(users=USERS, rate_limit=1_000_000), SystemClock())
        app = Distance(create_app(emu), rtt)
        config = Config()
        config.certfile, config.keyfile = str(tls.cert_file), str(tls.key_file)
        config.alpn_protocols = ["h2", "http/1.1"]
        config.accesslog, config.errorlog = None, None
        config.keep_alive_timeout = 60
        with socket.socket() as probe:  # hypercorn does not tell the port it bound: pick a free one
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        config.bind = [f"127.0.0.1:{port}"]
        stop = asyncio.Event()
        server = asyncio.create_task(serve(app, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
        base = f"https://127.0.0.1:{port}"
        limits = httpx.Limits(
            max_connections=connections(DEFAULT_MAX_IN_FLIGHT),
            max_keepalive_connections=connections(DEFAULT_MAX_IN_FLIGHT),
        )
        try:
            async with httpx.AsyncClient(
                verify=str(tls.ca_file), http2=http2, limits=limits, timeout=30
            ) as http:
                for _ in range(200):
                    try:
                        token = await fetch_token(
                            http, f"{base}/{emu.config.tenant_id}", DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
                        )
                        break
                    except httpx.ConnectError:
                        await asyncio.sleep(0.05)
                graph = GraphClient(f"{base}/v1.0", _Token(token), http, SystemClock(), random.Random(1))
                queue = list(USERS[:writes])

                async def worker() -> None:
                    while queue:
                        user = queue.pop()
                        await graph.set_presence(user.id, DEFAULT_CLIENT_ID, IN_A_CALL, timedelta(minutes=5))

                cpu, wall = time.process_time(), time.perf_counter()
                await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                probe_user = USERS[0].id
                response = await http.get(
                    f"{base}/v1.0/users/{probe_user}/presence", headers={"Authorization": f"Bearer {token}"}
                )
                version = response.http_version
        finally:
            stop.set()
            await asyncio.gather(server, return_exceptions=True)
            await emu.aclose()
    return {
        "writes_per_s": writes / wall,
        "cpu_ms_per_write": 1000 * cpu / writes,
        "connections": float(len(app.connections)),
        "http2": float(version == "HTTP/2"),
    }


def run(quick: bool = False) -> list[Result]:
    try:
        import h2  # noqa: F401
        import hypercorn  # noqa: F401
    except ImportError:
        return [
            Result(
                NAME, "skipped", 0, "", note="needs h2 and hypercorn: pip install 'httpx[http2]' hypercorn"
            )
        ]
    writes = QUICK_WRITES if quick else WRITES
    results: list[Result] = []
    for rtt in RTTS:
        ms = round(rtt * 1000)
        for http2 in (False, True):
            numbers = asyncio.run(one(rtt, http2, writes))
            label = "h2" if http2 else "h1"
            results.append(
                Result(
                    NAME,
                    f"{label}_{ms}ms_writes_per_s",
                    round(numbers["writes_per_s"], 1),
                    "writes/s",
                    note=f"{'HTTP/2' if numbers['http2'] else 'HTTP/1.1'}, Graph {ms} ms away, "
                    f"{IN_FLIGHT} in flight: "
                    f"{numbers['cpu_ms_per_write']:.2f} ms CPU per write (client + server), "
                    f"{numbers['connections']:.0f} connections",
                    extra=numbers,
                )
            )
    return results
