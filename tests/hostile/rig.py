"""Hostile clients on loopback: many connections from chosen 127.x source addresses.

Linux routes all of 127.0.0.0/8 to loopback, so a client socket bound to 127.0.0.2 is "another
host" to the listener's per-source cap while good traffic comes from 127.0.0.1. Counts and
times are bounded; every socket is closed by the ``Flood`` context.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import pytest

QUIET_LOGGERS = ("httpx", "httpcore", "uvicorn.access")
HALF_OPEN = b"POST /cti/events HTTP/1.1\r\nHost: x\r\n"  # the request from issue 11, never finished


class Flood:
    """Attack sockets; ``close()`` (or leaving the ``with``) closes them all."""

    def __init__(self) -> None:
        self.sockets: list[socket.socket] = []

    async def open(self, port: int, count: int, sources: list[str], payload: bytes = b"") -> None:
        """Open ``count`` connections spread over ``sources``; send ``payload`` on each."""
        loop = asyncio.get_running_loop()
        for n in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            sock.bind((sources[n % len(sources)], 0))
            self.sockets.append(sock)
            try:
                await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", port)), 2)
                if payload:
                    await loop.sock_sendall(sock, payload)
            except (OSError, TimeoutError):
                pass

    def alive(self) -> int:
        return sum(1 for sock in self.sockets if alive(sock))

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()
        self.sockets.clear()

    def __enter__(self) -> Flood:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def alive(sock: socket.socket) -> bool:
    """True while the peer has not closed or reset the connection (reads what it sent, never waits)."""
    try:
        while sock.recv(65536, socket.MSG_DONTWAIT):
            pass
        return False
    except BlockingIOError:
        return True
    except OSError:
        return False


async def until(predicate: Callable[[], bool], what: str, turns: int = 20000) -> None:
    """Let the loop run (no time passes on any fake clock) until ``predicate`` holds."""
    for _ in range(turns):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"not reached: {what}")


def sources(count: int, first: int = 2) -> list[str]:
    return [f"127.0.0.{n}" for n in range(first, first + count)]


async def timed(good: Callable[[], Awaitable[int]], times: int) -> tuple[list[int], float]:
    """Run ``good`` ``times`` times; its status codes and the slowest round trip in seconds."""
    codes, worst = [], 0.0
    for _ in range(times):
        start = time.perf_counter()
        codes.append(await good())
        worst = max(worst, time.perf_counter() - start)
    return codes, worst


@contextmanager
def log_budget(caplog: pytest.LogCaptureFixture, lines: int) -> Iterator[None]:
    """The block may write at most ``lines`` log lines at INFO and above (the test client's own
    ``httpx`` lines and uvicorn's access log held at WARNING, as ``bridge.runtime.logs`` does)."""
    caplog.set_level(logging.INFO)
    for quiet in QUIET_LOGGERS:
        caplog.set_level(logging.WARNING, logger=quiet)
    before = len(caplog.records)
    yield
    written = [r for r in caplog.records[before:] if r.levelno >= logging.INFO]
    assert len(written) <= lines, "\n".join(r.getMessage() for r in written[:40])
