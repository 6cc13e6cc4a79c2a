"""Our SIP adapter against the Kamailio lab: built on a fake clock that follows real time.

The lab's own traffic runs in real time; the adapter's timers (retransmissions, refreshes,
backoffs, pauses) run on a ``FakeClock``. ``LabWatch.until`` moves the fake clock forward by the
real time that passed (so a SUBSCRIBE is not retransmitted before loopback could answer) and
returns once a predicate holds, failing after a real-time bound. ``jump`` skips simulated time.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

from adapters.base import AdapterDeps, Health, HealthChange
from adapters.sip_blf.adapter import SipBlfAdapter
from adapters.sip_blf.config import SipBlfConfig
from bridge.kit.clock import FakeClock
from bridge.model import LineState, StateChange

BOUND = 10.0  # real seconds for anything the lab does


class LabWatch:
    def __init__(self, port: int, **settings: Any) -> None:
        self.clock = FakeClock()
        options: dict[str, Any] = {"host": "127.0.0.1", "port": port, "user": "watcher"} | settings
        config = SipBlfConfig.model_validate(options)
        self.adapter = SipBlfAdapter("sip", config, AdapterDeps(self.clock, random.Random(7)))
        self.items: list[Any] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LabWatch:
        await self.adapter.start()
        self._task = asyncio.create_task(self._drain())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.adapter.stop()
        if self._task is not None:
            await asyncio.wait_for(self._task, BOUND)

    async def _drain(self) -> None:
        async for item in self.adapter.events():
            self.items.append(item)

    def lines(self, extension: str) -> list[LineState]:
        """The line states reported for ``extension``, repeats folded."""
        out: list[LineState] = []
        for item in self.items:
            if (
                isinstance(item, StateChange)
                and item.endpoint.extension == extension
                and item.line is not None
            ):
                if not out or out[-1] != item.line:
                    out.append(item.line)
        return out

    def line(self, extension: str) -> LineState | None:
        seen = self.lines(extension)
        return seen[-1] if seen else None

    @property
    def healths(self) -> list[Health]:
        return [item.health for item in self.items if isinstance(item, HealthChange)]

    async def until(self, predicate: Callable[[], bool], what: str, bound: float = BOUND) -> None:
        loop = asyncio.get_running_loop()
        start = last = loop.time()
        while not predicate():
            now = loop.time()
            if now - start > bound:
                raise AssertionError(f"no {what} within {bound} s (lines {self.items[-6:]})")
            await self.clock.advance(now - last)
            last = now
            await asyncio.sleep(0.01)

    async def jump(self, seconds: float) -> None:
        await self.clock.advance(seconds)
        await asyncio.sleep(0.05)
