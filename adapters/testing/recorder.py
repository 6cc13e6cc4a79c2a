"""Drains an adapter's ``events()`` so contract tests can wait for what it emits."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from adapters.base import Adapter, AdapterEvent, Health, HealthChange
from bridge.kit.clock import FakeClock

REAL_TIMEOUT = 5.0  # bounds waiting for real loopback I/O; simulated time is bounded separately


class Recorder:
    def __init__(self, adapter: Adapter, clock: FakeClock) -> None:
        self.adapter = adapter
        self.clock = clock
        self.items: list[AdapterEvent] = []
        self._new = asyncio.Event()
        self.task = asyncio.create_task(self._drain(), name="contract-recorder")

    async def _drain(self) -> None:
        async for item in self.adapter.events():
            self.items.append(item)
            self._new.set()

    @property
    def healths(self) -> list[Health]:
        return [item.health for item in self.items if isinstance(item, HealthChange)]

    @property
    def canonical(self) -> list[AdapterEvent]:
        return [item for item in self.items if not isinstance(item, HealthChange)]

    async def wait(
        self, predicate: Callable[[], bool], what: str, *, advance: float = 0.0, simulated_limit: float = 0.0
    ) -> None:
        """Until ``predicate()``; when ``advance`` is set, move the fake clock in such steps
        (at most ``simulated_limit`` seconds in all) while waiting."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + REAL_TIMEOUT
        simulated = 0.0
        await self.clock.settle()
        while not predicate():
            if loop.time() > deadline or (advance and simulated >= simulated_limit):
                state = f"health {self.adapter.health}, {simulated:.0f} s simulated"
                raise AssertionError(f"timed out waiting for {what} ({state})")
            self._new.clear()
            if advance:
                await self.clock.advance(advance)
                simulated += advance
            if not predicate():
                try:
                    await asyncio.wait_for(self._new.wait(), 0.02)
                except TimeoutError:
                    pass

    async def wait_health(self, health: Health, **kw: float) -> None:
        await self.wait(lambda: self.adapter.health == health, f"health {health}", **kw)

    async def finished(self) -> None:
        """events() must end after stop()."""
        await asyncio.wait_for(self.task, REAL_TIMEOUT)
