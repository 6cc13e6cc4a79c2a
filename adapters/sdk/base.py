"""What every adapter shares: lifecycle, the event stream, health, counters, owned tasks.

A subclass implements ``_main()`` (the SDK's two kinds do: connection and listener); the base
runs it under a :class:`~bridge.kit.supervisor.Supervisor` (a crash is logged with its traceback
and restarted with backoff), so an adapter never leaves a task behind after ``stop()``.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import ClassVar

from adapters.base import AdapterDeps, AdapterEvent, HealthChange, WriteBack
from bridge.errors import AdapterError
from bridge.kit.clock import Clock
from bridge.kit.health import Health, HealthTracker
from bridge.kit.supervisor import Supervisor


class AdapterBase(ABC):
    """Implements ``adapters.base.Adapter`` around one ``_main()`` coroutine."""

    kind: ClassVar[str] = "adapter"
    """The adapter kind, for log lines (``"<kind> <name>: ..."``)."""
    counter_names: ClassVar[tuple[str, ...]] = ()
    """Counters reported from the start, even at zero (others appear when first counted)."""

    def __init__(self, name: str, deps: AdapterDeps, *, label: str | None = None) -> None:
        """``label`` names the adapter in its log lines (default ``"<kind> <name>"``)."""
        self.name = name
        self.deps = deps
        self.clock: Clock = deps.clock
        self.log = logging.getLogger(type(self).__module__)
        self.label = label or f"{self.kind} {name}"
        self._health = HealthTracker(self.label, self.log, on_change=self._health_changed)
        self._counts: Counter[str] = Counter(dict.fromkeys(self.counter_names, 0))
        self._queue: asyncio.Queue[AdapterEvent | None] = asyncio.Queue()
        self._tasks = Supervisor(deps.clock, self.log, rng=deps.rng)
        self._running = False
        self._ended = False
        self._spawned = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, health={self.health.value})"

    # --- the Adapter protocol ----------------------------------------------------------

    @property
    def health(self) -> Health:
        return self._health.state

    @property
    def counters(self) -> dict[str, int]:
        counts = dict(self._counts)
        for name, value in self.extra_counters().items():
            counts[name] = counts.get(name, 0) + value
        return counts

    @property
    def supports_write_back(self) -> bool:
        return False

    async def write_back(self, command: WriteBack) -> None:
        raise AdapterError(f"{self.kind} {self.name} does not accept write-back")

    async def start(self) -> None:
        """Begin connecting or listening; returns at once. A second call does nothing."""
        if self._running:
            return
        self._running, self._ended = True, False
        self.set_health(Health.CONNECTING, "starting")
        self._tasks.spawn(f"{self.kind}:{self.name}", self._main)

    async def stop(self) -> None:
        """Cancel every task, close what is open, end ``events()``. A second call does nothing."""
        if self._running:
            self._running = False
            await self._tasks.stop()
            await self.on_stop()
            self.set_health(Health.STOPPED, "stopped")
        if not self._ended:
            self._ended = True
            self._queue.put_nowait(None)

    async def events(self) -> AsyncIterator[AdapterEvent]:
        while True:
            item = await self._queue.get()
            if item is None:
                self._queue.put_nowait(None)  # a second reader ends too
                return
            yield item

    # --- for subclasses ----------------------------------------------------------------

    @abstractmethod
    async def _main(self) -> None:
        """The adapter's life between ``start()`` and ``stop()`` (the SDK kinds implement it)."""

    async def on_stop(self) -> None:
        """Hook: close what ``_main`` left open (its tasks are already cancelled)."""
        return None

    def extra_counters(self) -> Mapping[str, int]:
        """Hook: counts kept elsewhere (a parser's rejected frames), added to ``counters``."""
        return {}

    def emit(self, event: AdapterEvent) -> None:
        """Put one canonical event on the stream (dropped once the stream has ended)."""
        if not self._ended:
            self._queue.put_nowait(event)

    def count(self, name: str, n: int = 1) -> None:
        self._counts[name] += n

    def set_health(self, health: Health, detail: str) -> None:
        """Move health; the transition is logged once and emitted as a ``HealthChange``."""
        self._health.set(health, detail)

    def spawn(self, name: str, body: Callable[[], Awaitable[None]]) -> None:
        """Run a helper task owned by this adapter (cancelled by ``stop()``, failure logged)."""
        self._spawned += 1
        self._tasks.spawn(f"{self.kind}:{self.name}:{name}#{self._spawned}", body, restart=False)

    def _health_changed(self, health: Health, detail: str) -> None:
        self.emit(HealthChange(self.name, health, detail))
