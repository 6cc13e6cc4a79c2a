"""The owner of long-running tasks: nothing is fire-and-forget (STYLE.md, "every task has an owner").

A :class:`Supervisor` runs named bodies as tasks. A body that raises is logged once with its
traceback, counted, and restarted after a jittered :class:`~bridge.kit.backoff.Backoff` delay on
the injected clock (a body that returns is done). ``stop()`` cancels every task and waits for it,
so nothing is left running. Restart counts are readable per name for metrics and tests.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Awaitable, Callable

from bridge.kit.backoff import Backoff
from bridge.kit.clock import Clock

Body = Callable[[], Awaitable[None]]


class Supervisor:
    def __init__(
        self,
        clock: Clock,
        logger: logging.Logger,
        *,
        rng: random.Random | None = None,
        initial: float = 0.5,
        maximum: float = 60.0,
    ) -> None:
        self._clock = clock
        self._log = logger
        self._rng = rng or random.Random()
        self._initial, self._maximum = initial, maximum
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.restarts: Counter[str] = Counter()

    @property
    def running(self) -> list[str]:
        return [name for name, task in self._tasks.items() if not task.done()]

    def spawn(self, name: str, body: Body, *, restart: bool = True) -> asyncio.Task[None]:
        """Start ``body`` under ``name`` (unique among running tasks); restarted on failure if asked."""
        if name in self._tasks and not self._tasks[name].done():
            raise ValueError(f"a task named {name!r} is already running")
        task = asyncio.create_task(self._run(name, body, restart), name=name)
        self._tasks[name] = task
        task.add_done_callback(lambda done: self._forget(name, done))
        return task

    def _forget(self, name: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(name) is task:
            del self._tasks[name]

    async def _run(self, name: str, body: Body, restart: bool) -> None:
        backoff = Backoff(self._initial, self._maximum, rng=self._rng)
        while True:
            try:
                await body()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                self.restarts[name] += 1
                if not restart:
                    self._log.exception("task %s failed", name)
                    return
                delay = backoff.next()
                self._log.exception("task %s failed; restarting in %.1f s", name, delay)
                await self._clock.sleep(delay)

    async def stop(self) -> None:
        """Cancel every task and wait for each to end (idempotent)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
