"""People given by UPN get their Entra object id from ``GET /users/{upn}``.

In the background from the start (listeners and adapters never wait for it: a person not resolved
yet keeps their latest state in the engine and is published when the look-up succeeds), daily
after that, and at once on request (SIGHUP). A round stops at the first sign that Graph itself is
in trouble (429, 5xx, no connection), since every later look-up would fail the same way after its
own retries. While any look-up fails (Graph's trouble, or a UPN it does not know) the next round
comes after a growing pause (``RETRY_BACKOFF``: 5 to 10 s, doubling to five minutes). A failure is
logged once per distinct error, not every round.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping

from bridge.errors import GraphError, GraphThrottled, GraphUnavailable
from bridge.kit.backoff import Backoff
from bridge.kit.clock import Clock, sleep_or_wake
from bridge.runtime.engine import Engine
from bridge.teams.graph import GraphClient

log = logging.getLogger(__name__)

RESOLVE_INTERVAL = 86400.0  # UPNs are re-resolved daily
RETRY_BACKOFF = (10.0, 300.0)  # seconds: first ceiling (a pause in [5, 10]), cap: five minutes


class Resolver:
    def __init__(
        self,
        engine: Engine,
        graphs: Mapping[str, GraphClient],
        clock: Clock,
        on_resolved: Callable[[], None],
        rng: random.Random | None = None,
    ) -> None:
        self._engine = engine
        self._graphs = graphs
        self._clock = clock
        self._on_resolved = on_resolved
        self._now = asyncio.Event()
        self._backoff = Backoff(*RETRY_BACKOFF, rng=rng or random.Random())
        self.failures: dict[str, str] = {}  # person key -> the last error
        self.failed_total = 0
        self.first_round = asyncio.Event()  # set once the first round is over (complete or not)

    @property
    def unresolved(self) -> int:
        """People given by UPN still without an object id."""
        return sum(1 for s in self._engine.slots() if s.config.upn is not None and s.object_id is None)

    async def resolve_all(self) -> int:
        """Resolve every UPN once (stopping early while Graph is in trouble); returns how many failed."""
        failed = 0
        for slot in self._engine.slots():
            upn = slot.config.upn
            if upn is None:
                continue
            try:
                user = await self._graphs[slot.config.tenant].get_user(upn)
            except GraphError as exc:
                failed += 1
                self.failed_total += 1
                if self.failures.get(slot.key) != str(exc):
                    log.warning("cannot resolve %s: %s", upn, exc, extra={"person": upn})
                self.failures[slot.key] = str(exc)
                if isinstance(exc, GraphThrottled | GraphUnavailable):
                    break  # Graph's own trouble: the rest would fail alike; try again soon
                continue
            self.failures.pop(slot.key, None)
            if slot.object_id != user.id:
                self._engine.set_object_id(slot.key, user.id)
                self._engine.handle_resolved(slot.key)
        self._on_resolved()
        self.first_round.set()
        return failed

    def request(self) -> None:
        self._now.set()

    async def run(self) -> None:
        """The first round at once, then daily, or after a growing pause while look-ups fail."""
        while True:
            self._now.clear()
            await self.resolve_all()
            if self.failures:
                pause = self._backoff.next()
            else:
                self._backoff.reset()
                pause = RESOLVE_INTERVAL
            await sleep_or_wake(self._clock, pause, self._now)
