from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest

from adapters.base import Health
from adapters.generic_cti.adapter import CtiAdapter
from adapters.testing import Recorder
from bridge.kit.clock import FakeClock
from bridge.model import EndpointKey
from tests.adapters.generic_cti.harness import make_adapter


@dataclass
class Running:
    adapter: CtiAdapter
    events: Recorder
    clock: FakeClock


@pytest.fixture
async def start_cti() -> AsyncIterator[Callable[..., object]]:
    """``await start_cti(mapped=..., **config overrides)`` -> a CONNECTED adapter on loopback ports;
    stopped after. ``mapped`` is the runtime's routing, given through ``AdapterDeps``."""
    started: list[Running] = []

    async def start(
        mapped: Callable[[EndpointKey], bool] = lambda _key: True, **overrides: object
    ) -> Running:
        clock = FakeClock()
        adapter = make_adapter(clock, mapped=mapped, **overrides)
        run = Running(adapter, Recorder(adapter, clock), clock)
        started.append(run)
        await adapter.start()
        await run.events.wait_health(Health.CONNECTED)
        return run

    yield start
    for run in started:
        await run.adapter.stop()
        await run.events.finished()


@pytest.fixture
async def cti(start_cti: Callable[..., object]) -> Running:
    return await start_cti()  # type: ignore[misc, no-any-return]
