"""Run the planner's turns concurrently, as many at once as a bound that may change while running.

One ``Dispatch`` per kind of work (writes, refreshes) per tenant. It asks ``next_due`` for the next
turn while fewer than ``limit()`` are in flight, runs each turn as its own task in one TaskGroup
(a failing turn takes the group down, as a failing worker did), and otherwise sleeps until the time
``next_due`` names, a new intent (``wake``) or the end of a turn. The planner marks a person in
flight from ``next_due`` until ``finish``, so no two turns (and no two requests) for the same person
ever run at once, however large the bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from bridge.kit.clock import Clock, sleep_or_wake
from bridge.teams.plan_types import Call


class Dispatch:
    def __init__(
        self,
        name: str,
        clock: Clock,
        next_due: Callable[[float], Call | float | None],
        wake: asyncio.Event,
        limit: Callable[[], int],
        turn: Callable[[Call], Awaitable[None]],
    ) -> None:
        self.name, self._clock, self._next_due, self._wake = name, clock, next_due, wake
        self._limit, self._turn = limit, turn
        self.active = 0  # turns in flight now
        self.peak = 0  # the most ever in flight at once

    async def run(self) -> None:
        """Dispatch until cancelled."""
        started = 0
        async with asyncio.TaskGroup() as group:
            while True:
                now = self._clock.monotonic()
                until: float | None = None  # full: until a turn ends
                if self.active < self._limit():
                    due = self._next_due(now)
                    if isinstance(due, Call):
                        self.active += 1
                        self.peak = max(self.peak, self.active)
                        started += 1
                        group.create_task(self._run(due), name=f"{self.name}-{started}")
                        continue
                    until = due
                self._wake.clear()
                await sleep_or_wake(self._clock, None if until is None else max(0.0, until - now), self._wake)

    async def _run(self, call: Call) -> None:
        try:
            await self._turn(call)
        finally:
            self.active -= 1
            self._wake.set()  # a place is free: look again
