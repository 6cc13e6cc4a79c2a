"""The Graph emulator in its own process for the latency benchmark, stamping each request on arrival.

``EmulatorProcess`` starts a spawned child that serves the emulator over HTTPS on 127.0.0.1 (the
bridge talks to it with real msal and httpx, so the emulator's work runs on the other core). An
outermost ASGI wrapper (``ArrivalStamps``) takes ``time.perf_counter()`` as its first statement when
uvicorn hands it a request, i.e. once the request line and headers have arrived, before the body is
read or any JSON, auth or state work is done, and files it under the user id in the path.

``perf_counter`` is ``clock_gettime(CLOCK_MONOTONIC)`` on Linux: one system-wide clock, so stamps
taken here compare with stamps taken in the bridge and load-generator processes (checked at start:
the child reports ``perf_counter() - clock_gettime(CLOCK_MONOTONIC)``, which must be ~0).

Commands over the pipe, answered in order: ``("collect", reset)`` returns the stamps taken since
the last collect (and with ``reset`` forgets the emulator's sessions, limiter and journal);
``("stop",)`` shuts the server down.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bridge.emulator.config import EmulatorConfig, UserRecord

START_LIMIT = 30.0  # seconds for the child to come up (a bound, not a wait)
USERS_PREFIX = "/v1.0/users/"

# (user id, last path segment e.g. "setPresence", arrival perf_counter, response-start perf_counter)
Stamp = tuple[str, str, float, float]


class ArrivalStamps:
    """Outermost ASGI wrapper: stamps every ``/v1.0/users/{id}/...`` request as it arrives."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.stamps: list[Stamp] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        arrived = time.perf_counter()
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith(USERS_PREFIX):
            await self.app(scope, receive, send)
            return
        user, _, rest = path[len(USERS_PREFIX) :].partition("/")
        answered = 0.0

        async def stamped_send(message: dict[str, Any]) -> None:
            nonlocal answered
            if message["type"] == "http.response.start":
                answered = time.perf_counter()
            await send(message)

        try:
            await self.app(scope, receive, stamped_send)
        finally:
            self.stamps.append((user, rest.rpartition("/")[2], arrived, answered))

    def take(self) -> list[Stamp]:
        taken, self.stamps = self.stamps, []
        return taken


def clock_offset() -> float:
    """``perf_counter() - clock_gettime(CLOCK_MONOTONIC)`` in this process (seconds; ~0 on Linux)."""
    return time.perf_counter() - time.clock_gettime(time.CLOCK_MONOTONIC)


def _child(conn: Connection, users: tuple[UserRecord, ...], rate_limit: int, state_dir: str) -> None:
    logging.basicConfig(level=logging.WARNING)
    # An overloaded phase ends with the bridge stopped mid-request: uvicorn logs each such client
    # disconnect as an ASGI error. Expected here; what the emulator received is checked by matching.
    logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)
    asyncio.run(_serve(conn, users, rate_limit, Path(state_dir)))


async def _serve(conn: Connection, users: tuple[UserRecord, ...], rate_limit: int, state_dir: Path) -> None:
    from bridge.emulator.app import Emulator, create_app
    from bridge.emulator.server import serve_asgi
    from bridge.emulator.tls import ensure_tls_files
    from bridge.kit.clock import SystemClock

    emulator = Emulator(EmulatorConfig(users=users, rate_limit=rate_limit), SystemClock())
    stamps = ArrivalStamps(create_app(emulator))
    tls = ensure_tls_files(state_dir)
    async with serve_asgi(stamps, tls_files=tls) as served:
        conn.send(("ready", served.base_url, str(tls.ca_file), clock_offset()))
        while True:
            command = await asyncio.to_thread(conn.recv)
            if command[0] == "collect":
                taken = stamps.take()
                throttled = emulator.limiter.stats().get("throttled", 0)
                if command[1]:
                    emulator.reset()
                conn.send((taken, float(throttled)))
            else:
                break
    conn.send(("stopped",))


@dataclass
class EmulatorProcess:
    """A running emulator child: ``base_url``, ``ca_file``; ``collect()`` its stamps, ``stop()`` it."""

    process: multiprocessing.process.BaseProcess
    conn: Connection
    base_url: str
    ca_file: str
    offset: float  # the child's perf_counter - CLOCK_MONOTONIC

    @classmethod
    def start(cls, users: tuple[UserRecord, ...], rate_limit: int, state_dir: Path) -> EmulatorProcess:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(
            target=_child, args=(child, users, rate_limit, str(state_dir)), name="graph-emulator", daemon=True
        )
        process.start()
        child.close()
        if not parent.poll(START_LIMIT):
            process.kill()
            raise RuntimeError(f"the emulator process did not start within {START_LIMIT:.0f} s")
        _, base_url, ca_file, offset = parent.recv()
        return cls(process, parent, base_url, ca_file, offset)

    @property
    def authority_base(self) -> str:
        return self.base_url

    @property
    def graph_url(self) -> str:
        return f"{self.base_url}/v1.0"

    def collect(self, *, reset: bool) -> tuple[list[Stamp], float]:
        """Stamps since the last collect, and the emulator's 429 count (blocking: call off-loop)."""
        self.conn.send(("collect", reset))
        stamps, throttled = self.conn.recv()
        return stamps, throttled

    def stop(self) -> None:
        try:
            self.conn.send(("stop",))
            if self.conn.poll(10.0):
                self.conn.recv()
        except (BrokenPipeError, EOFError, OSError):
            pass
        self.process.join(10.0)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5.0)
        self.conn.close()
