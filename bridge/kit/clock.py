"""The one clock everything reads (injected; tests use FakeClock).

``now()`` is wall time (UTC, aware) for timestamps and expiries that leave the process;
``monotonic()`` is for deadlines inside it; ``sleep()`` waits on the same timeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

from bridge.errors import BridgeError

T = TypeVar("T")


class Clock(Protocol):
    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """Real time."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """Manual time for tests: ``await clock.advance(s)`` wakes sleepers in deadline order.

    Between wake-ups it lets the event loop run until it is quiet, so the woken tasks do
    their work (and may sleep again) before time moves on.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._wall0 = start or datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
        self._mono = 1000.0
        self._mono0 = self._mono
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> datetime:
        return self._wall0 + timedelta(seconds=self._mono - self._mono0)

    def monotonic(self) -> float:
        return self._mono

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._mono + seconds, next(self._seq), fut))
        await fut

    @property
    def sleepers(self) -> int:
        return sum(1 for _, _, f in self._sleepers if not f.done())

    async def settle(self, rounds: int = 50) -> None:
        """Let ready tasks run (no time passes)."""
        for _ in range(rounds):
            await asyncio.sleep(0)

    async def advance(self, seconds: float) -> None:
        target = self._mono + seconds
        await self.settle()
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, fut = heapq.heappop(self._sleepers)
            self._mono = max(self._mono, deadline)
            if not fut.done():
                fut.set_result(None)
            await self.settle()
        self._mono = target
        await self.settle()


class Expired(BridgeError):
    """:func:`within`'s awaitable did not finish in time (not a ``TimeoutError``: that one is an
    ``OSError``, which a connect can raise by itself)."""


async def within(clock: Clock, seconds: float | None, awaitable: Awaitable[T]) -> T:
    """``awaitable``'s result if it finishes before ``seconds`` pass on ``clock`` (None: no limit).

    Otherwise :class:`Expired`, with the awaitable cancelled (a future passed in is that very
    future, so the caller can look at it). Its own exception propagates; nothing is left running.
    """
    task = asyncio.ensure_future(awaitable)
    timer = asyncio.ensure_future(clock.sleep(seconds)) if seconds is not None else None
    pending = {task} if timer is None else {task, timer}
    try:
        await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for future in pending:
            future.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    if task.cancelled():
        raise Expired("cancelled" if seconds is None else f"not done within {seconds:g} s")
    return task.result()


async def sleep_or_wake(clock: Clock, seconds: float | None, wake: asyncio.Event) -> None:
    """Sleep on ``clock`` until ``seconds`` pass (None: until woken) or ``wake`` is set."""
    if wake.is_set():
        return
    with contextlib.suppress(Expired):
        await within(clock, seconds, wake.wait())
