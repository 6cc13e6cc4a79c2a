"""Benchmark: good CTI traffic under hostile connections (issue 11).

The CTI HTTP listener runs in a child process (``--serve LIMIT``: soft open-file limit LIMIT,
JSON logs on stderr, events drained as the core would); this process attacks it from other
127.x addresses and posts good events from 127.0.0.1, one at a time, timing each round trip
(POST -> 202: parsed, authorised and handed to the core's queue). Two scenarios:

- ``half_open_2000``: 2,000 connections that send ``POST /cti/events HTTP/1.1\\r\\nHost: x\\r\\n``
  and nothing more, from 50 addresses, default limits;
- ``fd_1024``: open-file limit 1,024 and 1,100 such connections, with the listener's connection
  caps raised out of the way so the descriptor headroom is what holds.

Bars: good-event p99 under 100 ms, and the child's log growth during the attack under 1 MB.
What is timed is the CTI acknowledgement, not the Graph write behind it (the latency benchmark
measures that leg); a stall of the listener's loop shows in both.
"""

from __future__ import annotations

import asyncio
import json
import random
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time

from benchmarks.results import Bar, Result

TOKEN = "hostile-bench-token-0123"
HALF_OPEN = b"POST /cti/events HTTP/1.1\r\nHost: x\r\n"
P99_BAR_MS = 100.0
LOG_BAR_BYTES = 1_000_000


def serve(limit: int, wide_caps: bool) -> None:
    """Child mode: the CTI listener under an open-file limit until stdin closes."""
    from adapters.base import AdapterDeps
    from adapters.generic_cti.adapter import CtiAdapter
    from adapters.generic_cti.config import CtiConfig
    from bridge.kit.clock import SystemClock
    from bridge.runtime import logs

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    logs.configure("INFO", stream=sys.stderr)
    settings: dict[str, object] = {"token": TOKEN, "http_listen": "127.0.0.1:0"}
    if wide_caps:
        settings["http_limits"] = {"max_connections": 5000, "max_connections_per_source": 5000}

    async def main() -> None:
        adapter = CtiAdapter(
            "pbx", CtiConfig.model_validate(settings), AdapterDeps(SystemClock(), random.Random(1))
        )
        await adapter.start()
        for _ in range(1000):  # bound: 10 s
            if adapter.http_address is not None:
                break
            await asyncio.sleep(0.01)
        assert adapter.http_address is not None, "the listener did not bind"
        print(adapter.http_address[1], flush=True)

        async def drain() -> None:
            async for _ in adapter.events():
                pass

        drainer = asyncio.create_task(drain())
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        print(json.dumps(adapter.counters), flush=True)
        await adapter.stop()
        drainer.cancel()

    asyncio.run(main())


class Child:
    """The listener process; ``log_bytes`` counts what it wrote to stderr so far."""

    def __init__(self, limit: int, wide_caps: bool) -> None:
        args = [sys.executable, "-m", "benchmarks.hostile_listener", "--serve", str(limit)]
        if wide_caps:
            args.append("--wide-caps")
        self.proc = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.port = int(self.proc.stdout.readline())
        self.log_bytes = 0
        self.log_lines = 0
        self._reader = threading.Thread(target=self._read_log, daemon=True)
        self._reader.start()

    def _read_log(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log_bytes += len(line)
            self.log_lines += 1

    def stop(self) -> dict[str, int]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        counters: dict[str, int] = json.loads(self.proc.stdout.readline() or "{}")
        self.proc.wait(timeout=30)
        self._reader.join(timeout=5)
        return counters


async def attack(port: int, count: int, sources: int) -> list[socket.socket]:
    loop = asyncio.get_running_loop()
    held = []
    for n in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.bind((f"127.0.0.{2 + n % sources}", 0))
        held.append(sock)
        try:
            await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", port)), 2)
            await loop.sock_sendall(sock, HALF_OPEN)
        except (OSError, TimeoutError):
            pass
    return held


async def good_traffic(port: int, events: int) -> list[float]:
    """Round trips in ms of ``events`` good posts, one at a time on one keep-alive connection."""
    import httpx

    times = []
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        for n in range(events):
            body = {"extension": str(1000 + n % 200), "line": "in_call" if n % 2 else "idle"}
            start = time.perf_counter()
            response = await client.post("/cti/events", json=body, headers=headers)
            times.append((time.perf_counter() - start) * 1000)
            if response.status_code != 202:
                times[-1] = float("inf")
    return times


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) >= 2 else values[0]


async def scenario(
    name: str, limit: int, wide_caps: bool, count: int, sources: int, events: int
) -> list[Result]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < count + 256:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 1024), hard))
    child = Child(limit, wide_caps)
    try:
        await good_traffic(child.port, 20)  # warm up
        before_bytes, before_lines = child.log_bytes, child.log_lines
        held = await attack(child.port, count, sources)
        times = await good_traffic(child.port, events)
        for sock in held:
            sock.close()
        await asyncio.sleep(0.5)  # the child logs what the close of the flood costs it
        log_bytes, log_lines = child.log_bytes - before_bytes, child.log_lines - before_lines
    finally:
        counters = child.stop()
    refused = counters.get("conn_refused_full", 0) + counters.get("conn_refused_source", 0)
    note = (
        f"{count} half-open from {sources} addresses, open-file limit {limit}; "
        f"{events} good posts; dropped idle {counters.get('conn_dropped_idle', 0)}, refused {refused}, "
        f"accept errors {counters.get('conn_accept_errors', 0)}, {log_lines} log lines"
    )
    return [
        Result(
            "hostile_listener",
            f"{name}_good_p99_ms",
            p99(times),
            "ms",
            Bar("<=", P99_BAR_MS),
            note,
            extra={key: float(value) for key, value in counters.items() if key.startswith("conn_")},
        ),
        Result(
            "hostile_listener", f"{name}_log_growth_bytes", float(log_bytes), "B", Bar("<=", LOG_BAR_BYTES)
        ),
    ]


def run(quick: bool = False) -> list[Result]:
    events = 100 if quick else 1000
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    big = min(hard, 65536)

    async def both() -> list[Result]:
        return [
            *await scenario("half_open_2000", big, False, 2000, 50, events),
            *await scenario("fd_1024", 1024, True, 1100, 11, events),
        ]

    return asyncio.run(both())


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]), "--wide-caps" in sys.argv)
    else:
        for result in run(quick="--quick" in sys.argv):
            print(result.line())
