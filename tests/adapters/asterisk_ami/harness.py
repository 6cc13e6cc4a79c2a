"""Run an AmiAdapter against a FakeAmi on a FakeClock and collect what it emits."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

from adapters.asterisk_ami.adapter import AmiAdapter
from adapters.asterisk_ami.config import AmiConfig
from adapters.base import AdapterDeps, AdapterEvent, Health, HealthChange
from bridge.model import Snapshot, StateChange
from bridge.runtime.clock import FakeClock
from tests.adapters.asterisk_ami.fake_ami import FakeAmi

WAIT = 5.0  # real seconds: a bound on loopback I/O, never a sleep


def ami_config(port: int, **overrides: Any) -> AmiConfig:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "username": "bridge",
        "secret": "bridgesecret",
        "backoff_initial": 1.0,
        "backoff_max": 60.0,
        "ping_interval": 20.0,
        "ping_timeout": 5.0,
    }
    values.update(overrides)
    return AmiConfig(**values)


class Run:
    """One adapter under test; ``seen`` is everything it emitted, in order."""

    def __init__(self, fake: FakeAmi, **overrides: Any) -> None:
        self.fake = fake
        self.clock = FakeClock()
        self.adapter = AmiAdapter(
            "pbx", ami_config(fake.port, **overrides), AdapterDeps(self.clock, random.Random(7))
        )
        self.seen: list[AdapterEvent] = []
        self._changed = asyncio.Condition()
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Run:
        self._reader = asyncio.create_task(self._collect())
        await self.adapter.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.adapter.stop()
        if self._reader is not None:
            await asyncio.wait_for(self._reader, WAIT)

    async def _collect(self) -> None:
        async for event in self.adapter.events():
            async with self._changed:
                self.seen.append(event)
                self._changed.notify_all()

    async def until(self, predicate: Callable[[list[AdapterEvent]], bool]) -> None:
        async def wait() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: predicate(self.seen))

        await asyncio.wait_for(wait(), WAIT)

    async def until_health(self, health: Health, count: int = 1) -> None:
        await self.until(
            lambda seen: len([e for e in seen if isinstance(e, HealthChange) and e.health is health]) >= count
        )

    async def until_snapshots(self, count: int) -> Snapshot:
        await self.until(lambda seen: len(self.snapshots) >= count)
        return self.snapshots[count - 1]

    @property
    def snapshots(self) -> list[Snapshot]:
        return [e for e in self.seen if isinstance(e, Snapshot)]

    @property
    def changes(self) -> list[StateChange]:
        return [e for e in self.seen if isinstance(e, StateChange)]

    @property
    def healths(self) -> list[Health]:
        return [e.health for e in self.seen if isinstance(e, HealthChange)]

    def mark(self) -> int:
        return len(self.seen)

    def changes_since(self, mark: int) -> list[StateChange]:
        return [e for e in self.seen[mark:] if isinstance(e, StateChange)]
