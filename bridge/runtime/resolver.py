"""People given by UPN get their Entra object id from ``GET /users/{upn}``.

At start, daily after that, every five minutes while any look-up fails, and at once on request
(SIGHUP). A failure is logged once per distinct error, not every round.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

from bridge.errors import GraphError
from bridge.kit.clock import Clock, sleep_or_wake
from bridge.runtime.engine import Engine
from bridge.teams.graph import GraphClient

log = logging.getLogger(__name__)

RESOLVE_INTERVAL = 86400.0  # UPNs are re-resolved daily
RESOLVE_RETRY = 300.0  # and failures every five minutes


class Resolver:
    def __init__(
        self, engine: Engine, graphs: Mapping[str, GraphClient], clock: Clock, on_resolved: Callable[[], None]
    ) -> None:
        self._engine = engine
        self._graphs = graphs
        self._clock = clock
        self._on_resolved = on_resolved
        self._now = asyncio.Event()
        self.failures: dict[str, str] = {}  # person key -> the last error
        self.failed_total = 0

    async def resolve_all(self) -> int:
        """Resolve every UPN once; returns how many failed."""
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
                continue
            self.failures.pop(slot.key, None)
            if slot.object_id != user.id:
                self._engine.set_object_id(slot.key, user.id)
                self._engine.handle_resolved(slot.key)
        self._on_resolved()
        return failed

    def request(self) -> None:
        self._now.set()

    async def run(self) -> None:
        while True:
            self._now.clear()
            await sleep_or_wake(self._clock, RESOLVE_RETRY if self.failures else RESOLVE_INTERVAL, self._now)
            await self.resolve_all()
