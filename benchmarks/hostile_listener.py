"""Benchmark: good CTI events still reach Graph while the CTI listener is under attack (issue 11).

Two processes on loopback, so that the open-file limit under test is the bridge's alone:

- the **bridge** in a child process: the real service as ``presence-bridge run`` starts it (the
  CLI's ``main``: JSON logs on stderr, status endpoints, SQLite store, msal tokens over HTTPS), the
  generic CTI adapter on HTTP, one desk phone each for the people of the run;
- **this process**: the Graph emulator over HTTPS (``WriteWatch`` wraps it and notes when each
  presence write for a user id is answered), the attacker, and the PBX posting good events.

Each good step posts "call answered" for a person nobody has touched yet, then "hung up": the
answer must become a presence write at once (the hang-up's ``clearPresence`` follows after the idle
hold and is not timed). Timed per answer, from just before the POST: to the CTI's 202 (parsed,
authorised, queued) and to the moment the emulator answers the ``setPresence`` it caused. One step
at a time: the next answer is posted once the last one's write arrived (or 5 s passed: "lost").

The attack starts with the good steps and goes on beside them (its connections are held until
the last step is done), so the first answers meet the burst of accepts. Scenarios:

- ``half_open_2000``: 2,000 connections that send ``POST /cti/events HTTP/1.1\\r\\nHost: x\\r\\n``
  and nothing more, from 50 addresses, default limits, the open-file limit as the CLI leaves it;
- ``fd_1024``: the child's open-file limit 1,024, soft *and hard* (``ulimit -n 1024``: the CLI's
  raise of the soft limit to the hard one has nothing to raise), 1,100 such connections from 11
  addresses, the CTI listener's connection caps raised out of the way, so the descriptor headroom
  is all that keeps Graph's connections alive; and Graph closes every connection after one answer
  (``fresh_connections``), so that each of the bridge's Graph calls needs a new descriptor.

Bars: p99 to Graph under 100 ms, and the attack's log growth under 1 MB: what the child wrote from
the attack's start to 0.5 s after its end, less the lines naming the run's people (the engine's
decision and the publisher's write for each answer and hang-up, about 1 KB per step at INFO: the
normal audit trail, reported beside it). The tenant budget and the emulator's limit are raised
far above the run's writes, so what is measured is the bridge under attack, not a queue in front
of Graph. ``tests/hostile/test_fd_limit.py`` runs a small ``Scenario`` as a test.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks.latency_match import percentile
from benchmarks.results import Bar, Result
from bridge.emulator.config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_TENANT, UserRecord

TOKEN = "hostile-bench-token-0123"
HALF_OPEN = b"POST /cti/events HTTP/1.1\r\nHost: x\r\n"
P99_BAR_MS = 100.0
LOG_BAR_BYTES = 1_000_000
WRITE_WAIT_SECONDS = 5.0  # an answer whose write has not arrived by then is counted lost
START_SECONDS = 60.0  # bound on the child coming up (imports, msal, first write)
WARM_UP_PEOPLE = 10
REPO = Path(__file__).resolve().parent.parent
_PRESENCE_WRITE = re.compile(r"^/v1\.0/users/([^/]+)/presence/(setPresence|setUserPreferredPresence)$")


# --- Graph: the emulator in this process, presence writes watched -----------------------------


class WriteWatch:
    """Outermost ASGI wrapper: resolves ``expect(user_id)`` futures when a ``setPresence`` (or
    ``setUserPreferredPresence``) for that user is answered 2xx, with ``perf_counter()`` then.
    With ``fresh_connections`` every answer says ``Connection: close``, so each Graph call (and
    token request) of the bridge needs a new connection: a new descriptor."""

    def __init__(self, app: Any, *, fresh_connections: bool = False) -> None:
        self.app = app
        self.fresh_connections = fresh_connections
        self._waiting: dict[str, asyncio.Future[float]] = {}

    def expect(self, user_id: str) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiting[user_id] = future
        return future

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        match = _PRESENCE_WRITE.match(scope.get("path", ""))

        async def watched_send(message: dict[str, Any]) -> None:
            if message["type"] != "http.response.start":
                await send(message)
                return
            if self.fresh_connections:
                message["headers"] = [*message.get("headers", []), (b"connection", b"close")]
            if match is not None and 200 <= message["status"] < 300:
                future = self._waiting.pop(match.group(1), None)
                if future is not None and not future.done():
                    future.set_result(time.perf_counter())
            await send(message)

        await self.app(scope, receive, watched_send)


@dataclass(frozen=True)
class Graph:
    base_url: str
    ca_file: Path
    watch: WriteWatch


@contextlib.asynccontextmanager
async def graph(
    users: tuple[UserRecord, ...], state_dir: Path, *, fresh_connections: bool
) -> AsyncIterator[Graph]:
    from bridge.emulator.app import Emulator, create_app
    from bridge.emulator.config import EmulatorConfig
    from bridge.emulator.server import serve_asgi
    from bridge.emulator.tls import ensure_tls_files
    from bridge.kit.clock import SystemClock

    emulator = Emulator(EmulatorConfig(users=users, rate_limit=1_000_000), SystemClock())
    watch = WriteWatch(create_app(emulator), fresh_connections=fresh_connections)
    tls = ensure_tls_files(state_dir)
    async with serve_asgi(watch, tls_files=tls) as served:
        yield Graph(served.base_url, tls.ca_file, watch)


# --- the bridge: ``presence-bridge run`` in a child under an open-file limit ---------------------


@dataclass(frozen=True)
class Person:
    object_id: str
    extension: str


PERSON_ID_PREFIX = b"00000000-0000-4000-8000-"


def population(count: int) -> tuple[Person, ...]:
    return tuple(Person(f"{PERSON_ID_PREFIX.decode()}{n:012d}", str(20000 + n)) for n in range(count))


def free_port() -> int:
    """A port the kernel just handed out and took back (loopback; the child binds it next)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def bridge_yaml(
    people: tuple[Person, ...],
    emulator: Graph,
    state_dir: Path,
    cti_port: int,
    status_port: int,
    wide_caps: bool,
) -> str:
    limits = (
        "    http_limits: {max_connections: 5000, max_connections_per_source: 5000}\n" if wide_caps else ""
    )
    listed = "\n".join(
        f'  - {{id: {p.object_id}, tenant: bench, endpoints: [{{adapter: pbx, extension: "{p.extension}"}}]}}'
        for p in people
    )
    return f"""allow_inline_secrets: true
tenants:
  bench:
    tenant_id: {DEFAULT_TENANT}
    client_id: {DEFAULT_CLIENT_ID}
    client_secret: {DEFAULT_CLIENT_SECRET}
    authority: {emulator.base_url}
    graph_url: {emulator.base_url}/v1.0
    ca_file: {emulator.ca_file}
    budget: {{requests: 100000, window_seconds: 30}}
people:
{listed}
adapters:
  pbx:
    kind: generic_cti
    token: {TOKEN}
    http_listen: 127.0.0.1:{cti_port}
{limits}http:
  listen: 127.0.0.1:{status_port}
state:
  path: {state_dir / "state.db"}
"""


def run_bridge(limit: int | None, argv: list[str]) -> int:
    """Child mode: ``presence-bridge run`` (the CLI's ``main``), under ``limit`` open files (soft and
    hard: nothing left for the CLI to raise) when one is given."""
    if limit is not None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
    from bridge.cli import main

    return main(argv)


class Bridge:
    """The child process; ``log_bytes`` / ``log_lines`` count what it wrote to stderr so far, and
    ``own_bytes`` / ``own_lines`` the part of it that names one of the run's people (the engine's
    decision and the publisher's write for each good event: the normal INFO audit trail)."""

    def __init__(self, config: Path, limit: int | None) -> None:
        args = [sys.executable, "-m", "benchmarks.hostile_listener", "--bridge", str(limit or 0)]
        self.proc = subprocess.Popen(
            [*args, "run", "-c", str(config)],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.log_bytes = self.log_lines = self.own_bytes = self.own_lines = 0
        self.tail: list[bytes] = []
        self._reader = threading.Thread(target=self._read_log, daemon=True)
        self._reader.start()

    def _read_log(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log_bytes += len(line)
            self.log_lines += 1
            if PERSON_ID_PREFIX in line:
                self.own_bytes += len(line)
                self.own_lines += 1
            self.tail = [*self.tail[-19:], line]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # stop without clearing, as systemd would
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._reader.join(timeout=5)


# --- traffic --------------------------------------------------------------------------------------


async def attack(port: int, count: int, sources: int) -> list[socket.socket]:
    """``count`` half-open requests from 127.0.0.2 onwards (``sources`` addresses); kept open."""
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


@dataclass
class Timings:
    ack_ms: list[float]  # POST "answered" -> 202 (inf: not 202)
    graph_ms: list[float]  # POST "answered" -> its presence write answered (inf: lost)


async def good_traffic(cti: httpx.AsyncClient, watch: WriteWatch, people: tuple[Person, ...]) -> Timings:
    """Per person, one at a time: "answered" (timed to the CTI ack and to Graph), then "hung up"."""
    timings = Timings([], [])
    for person in people:
        written = watch.expect(person.object_id)
        start = time.perf_counter()
        try:
            response = await cti.post("/cti/events", json={"extension": person.extension, "line": "in_call"})
            acked = response.status_code == 202
        except httpx.HTTPError:
            acked = False
        timings.ack_ms.append((time.perf_counter() - start) * 1000 if acked else float("inf"))
        try:
            arrived = await asyncio.wait_for(written, WRITE_WAIT_SECONDS)
            timings.graph_ms.append((arrived - start) * 1000)
        except TimeoutError:
            timings.graph_ms.append(float("inf"))
        with contextlib.suppress(httpx.HTTPError):
            await cti.post("/cti/events", json={"extension": person.extension, "line": "idle"})
    return timings


async def until_serving(cti: httpx.AsyncClient, bridge: Bridge) -> None:
    """Bounded wait for the child's CTI listener (connection refused until it binds)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_SECONDS
    while True:
        if bridge.proc.poll() is not None:
            raise RuntimeError("the bridge exited: " + b"".join(bridge.tail).decode(errors="replace"))
        with contextlib.suppress(httpx.TransportError):
            if (await cti.get("/cti/events")).status_code == 405:
                return
        if loop.time() > deadline:
            raise TimeoutError(f"the bridge did not serve CTI within {START_SECONDS:.0f} s")
        await asyncio.sleep(0.05)


async def scrape(status_port: int) -> tuple[int, dict[str, float]]:
    """``/healthz``'s status code and the CTI listener's ``adapter_conn_*`` counters."""
    counters: dict[str, float] = {}
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{status_port}", timeout=5, trust_env=False
    ) as status:
        try:
            health = (await status.get("/healthz")).status_code
            text = (await status.get("/metrics")).text
        except httpx.HTTPError:
            return 0, counters
    for line in text.splitlines():
        found = re.match(r"^presence_bridge_adapter_(conn_\w+?)(?:_total)?\{[^}]*\} (\S+)$", line)
        if found:
            counters[found.group(1)] = float(found.group(2))
    return health, counters


# --- one scenario ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    connections: int  # half-open attack connections, held until the good events are done
    sources: int  # addresses they come from (127.0.0.2 onwards)
    events: int  # good steps (answered calls) timed
    fd_limit: int | None = None  # the child's open-file limit, soft and hard (None: as the CLI sets it)
    wide_caps: bool = False  # the CTI listener's connection caps out of the way: headroom alone holds
    fresh_connections: bool = False  # Graph closes each connection after one answer


@dataclass(frozen=True)
class Outcome:
    timings: Timings
    log_bytes: int  # the child's log growth from the attack's start to 0.5 s after its end
    log_lines: int
    attack_bytes: int  # of which not about the run's people: what the attack made it write
    attack_lines: int
    healthz: int  # /healthz status code, asked while the attack held its connections
    counters: dict[str, float]  # the CTI listener's conn_* counters, from /metrics

    @property
    def lost(self) -> int:
        return sum(1 for value in self.timings.graph_ms if value == float("inf"))


async def measure(scenario: Scenario) -> Outcome:
    """Start Graph and the bridge, warm up, then attack while the good events go one at a time."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < scenario.connections + 512:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, scenario.connections + 1024), hard))
    people = population(WARM_UP_PEOPLE + scenario.events)
    users = tuple(UserRecord(p.object_id, f"u{p.extension}@bench.example") for p in people)
    with tempfile.TemporaryDirectory(prefix="hostile-bench-") as tmp:
        async with graph(users, Path(tmp), fresh_connections=scenario.fresh_connections) as emulator:
            cti_port, status_port = free_port(), free_port()
            config = Path(tmp) / "bridge.yaml"
            config.write_text(
                bridge_yaml(people, emulator, Path(tmp), cti_port, status_port, scenario.wide_caps)
            )
            bridge = Bridge(config, scenario.fd_limit)
            headers = {"Authorization": f"Bearer {TOKEN}"}
            try:
                async with httpx.AsyncClient(
                    base_url=f"http://127.0.0.1:{cti_port}", headers=headers, timeout=10, trust_env=False
                ) as cti:
                    await until_serving(cti, bridge)
                    warm = await good_traffic(cti, emulator.watch, people[:WARM_UP_PEOPLE])
                    if float("inf") in warm.graph_ms:
                        raise RuntimeError("warm-up writes did not reach Graph: " + repr(warm.graph_ms))
                    before = bridge.log_bytes, bridge.log_lines, bridge.own_bytes, bridge.own_lines
                    flood = asyncio.create_task(attack(cti_port, scenario.connections, scenario.sources))
                    timings = await good_traffic(cti, emulator.watch, people[WARM_UP_PEOPLE:])
                    held = await flood
                    healthz, counters = await scrape(status_port)
                    for sock in held:
                        sock.close()
                    await asyncio.sleep(0.5)  # what the end of the flood costs the child's log
                    after = bridge.log_bytes, bridge.log_lines, bridge.own_bytes, bridge.own_lines
            finally:
                bridge.stop()
    grown = [a - b for a, b in zip(after, before, strict=True)]
    return Outcome(timings, grown[0], grown[1], grown[0] - grown[2], grown[1] - grown[3], healthz, counters)


def results(scenario: Scenario, out: Outcome) -> list[Result]:
    """p99 to Graph and the attack's log growth (the bars); p50 to Graph, p99 to the CTI ack and
    the whole log growth (information)."""
    name, graph_ms, ack_ms, counters = scenario.name, out.timings.graph_ms, out.timings.ack_ms, out.counters
    refused = counters.get("conn_refused_full", 0) + counters.get("conn_refused_source", 0)
    note = (
        f"{scenario.connections} half-open from {scenario.sources} addresses, open-file limit "
        f"{scenario.fd_limit or 'as the CLI sets it'}"
        f"{', a new Graph connection per call' if scenario.fresh_connections else ''}; "
        f"{scenario.events} answered calls, {out.lost} not at Graph within {WRITE_WAIT_SECONDS:g} s; "
        f"/healthz {out.healthz}; dropped idle {counters.get('conn_dropped_idle', 0):.0f}, "
        f"refused {refused:.0f}, accept errors {counters.get('conn_accept_errors', 0):.0f}"
    )
    log_note = (
        f"{out.attack_lines} lines; the whole log grew {out.log_bytes:,} B in {out.log_lines} lines "
        "(the rest names the run's people: the INFO decision and write lines of each call)"
    )
    extra = {**counters, "lost": float(out.lost), "healthz": float(out.healthz)}
    return [
        Result(
            "hostile_listener",
            f"{name}_graph_p99_ms",
            percentile(graph_ms, 99),
            "ms",
            Bar("<=", P99_BAR_MS),
            note,
            extra,
        ),
        Result("hostile_listener", f"{name}_graph_p50_ms", percentile(graph_ms, 50), "ms"),
        Result("hostile_listener", f"{name}_cti_ack_p99_ms", percentile(ack_ms, 99), "ms"),
        Result("hostile_listener", f"{name}_log_growth_bytes", float(out.log_bytes), "B"),
        Result(
            "hostile_listener",
            f"{name}_attack_log_bytes",
            float(out.attack_bytes),
            "B",
            Bar("<=", LOG_BAR_BYTES),
            log_note,
        ),
    ]


def run(quick: bool = False) -> list[Result]:
    events = 100 if quick else 1000
    scenarios = (
        Scenario("half_open_2000", 2000, 50, events),
        Scenario("fd_1024", 1100, 11, events, fd_limit=1024, wide_caps=True, fresh_connections=True),
    )

    async def each() -> list[Result]:
        return [result for scenario in scenarios for result in results(scenario, await measure(scenario))]

    return asyncio.run(each())


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--bridge":
        sys.exit(run_bridge(int(sys.argv[2]) or None, sys.argv[3:]))
    for result in run(quick="--quick" in sys.argv):
        print(result.line())
