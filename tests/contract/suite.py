"""The contract every adapter passes (STYLE.md "Tests"; DESIGN 13 for listeners).

Subclass ``AdapterContract`` in a ``test_*.py`` module and provide a ``harness`` fixture that
yields an ``AdapterHarness`` (tests/contract/README.md shows how).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from adapters.base import Adapter, Health, HealthChange
from tests.contract.harness import AdapterHarness, Fixture
from tests.contract.recorder import Recorder

RECOVERY_LIMIT = 300.0  # simulated seconds an adapter may take to come back after its transport does
STEP = 1.0


class _Running:
    """A started adapter with its event recorder; ``stop()`` ends both."""

    def __init__(self, adapter: Adapter, recorder: Recorder) -> None:
        self.adapter = adapter
        self.events = recorder

    async def stop(self) -> None:
        await self.adapter.stop()
        await self.events.finished()


async def _start(harness: AdapterHarness, *, bad_credentials: bool = False) -> _Running:
    adapter = await harness.build(bad_credentials=bad_credentials)
    recorder = Recorder(adapter, harness.clock)
    await adapter.start()
    return _Running(adapter, recorder)


async def _expect_fixture(harness: AdapterHarness, run: _Running, fixture: Fixture) -> None:
    seen = len(run.events.canonical)
    await harness.feed(run.adapter, fixture)
    want = len(fixture.expected)
    await run.events.wait(lambda: len(run.events.canonical) >= seen + want, f"fixture {fixture.id}")
    await harness.clock.settle()
    got = tuple(run.events.canonical[seen:])
    assert got == fixture.expected, f"fixture {fixture.id}: got {got}"


class AdapterContract:
    """Base class: not collected itself (no ``Test`` prefix); subclasses provide ``harness``."""

    @pytest.fixture
    async def harness(self) -> AsyncIterator[AdapterHarness]:
        raise NotImplementedError("a subclass provides the harness fixture")
        yield  # pragma: no cover

    async def test_start_and_stop_are_idempotent(self, harness: AdapterHarness) -> None:
        run = await _start(harness)
        await run.adapter.start()
        await run.events.wait_health(Health.CONNECTED)
        await run.adapter.stop()
        await run.adapter.stop()
        await run.events.finished()
        assert run.adapter.health == Health.STOPPED
        assert run.events.healths.count(Health.CONNECTING) == 1, "a second start() must not reconnect"

    async def test_stop_without_start_is_harmless(self, harness: AdapterHarness) -> None:
        adapter = await harness.build()
        await adapter.stop()
        await asyncio.wait_for(Recorder(adapter, harness.clock).finished(), 5)

    async def test_health_goes_connecting_then_connected(self, harness: AdapterHarness) -> None:
        run = await _start(harness)
        await run.events.wait_health(Health.CONNECTED)
        assert run.events.healths[:2] == [Health.CONNECTING, Health.CONNECTED]
        changes = [item for item in run.events.items if isinstance(item, HealthChange)]
        assert all(change.adapter == run.adapter.name for change in changes)
        await run.stop()

    async def test_every_fixture_gives_its_canonical_events(self, harness: AdapterHarness) -> None:
        fixtures = list(harness.fixtures())
        assert fixtures, "a harness must bring fixtures"
        run = await _start(harness)
        await run.events.wait_health(Health.CONNECTED)
        for fixture in fixtures:
            await _expect_fixture(harness, run, fixture)
        await run.stop()

    async def test_garbage_is_counted_not_raised(self, harness: AdapterHarness) -> None:
        run = await _start(harness)
        await run.events.wait_health(Health.CONNECTED)
        before = run.adapter.counters.get(harness.garbage_counter, 0)
        await harness.inject_garbage(run.adapter)
        await run.events.wait(
            lambda: run.adapter.counters.get(harness.garbage_counter, 0) > before, "garbage counted"
        )
        assert run.adapter.health == Health.CONNECTED
        await _expect_fixture(harness, run, harness.fixtures()[0])  # still working
        await run.stop()

    async def test_bad_credentials(self, harness: AdapterHarness) -> None:
        if harness.credentials == "listener":
            await self._bad_client_credentials(harness)
        else:
            await self._bad_own_credentials(harness)

    async def _bad_client_credentials(self, harness: AdapterHarness) -> None:
        assert harness.bad_credentials_counter is not None
        run = await _start(harness)
        await run.events.wait_health(Health.CONNECTED)
        healths = list(run.events.healths)
        before = run.adapter.counters.get(harness.bad_credentials_counter, 0)
        await harness.offer_bad_credentials(run.adapter)
        await harness.clock.settle()
        assert run.adapter.counters[harness.bad_credentials_counter] == before + 1
        assert run.adapter.health == Health.CONNECTED, "a client's wrong token is not our outage"
        assert run.events.healths == healths
        assert run.events.canonical == []
        await run.stop()

    async def _bad_own_credentials(self, harness: AdapterHarness) -> None:
        run = await _start(harness, bad_credentials=True)
        await run.events.wait_health(Health.BAD_CREDENTIALS, advance=STEP, simulated_limit=RECOVERY_LIMIT)
        tried = harness.attempts()
        await harness.clock.advance(harness.bad_credentials_backoff * 0.9)
        await harness.clock.settle()
        assert harness.attempts() == tried, "bad credentials must back off long, not retry in a loop"
        assert run.adapter.health == Health.BAD_CREDENTIALS
        await run.stop()

    async def test_transport_failure_then_recovery(self, harness: AdapterHarness) -> None:
        run = await _start(harness)
        await run.events.wait_health(Health.CONNECTED)
        await harness.break_transport(run.adapter)
        await run.events.wait_health(Health.TRANSIENT_DISCONNECT, advance=STEP, simulated_limit=10)
        # Still broken after a while: it keeps trying, stays TRANSIENT_DISCONNECT, never crashes.
        await harness.clock.advance(60)
        await harness.clock.settle()
        assert run.adapter.health == Health.TRANSIENT_DISCONNECT
        await harness.restore_transport(run.adapter)
        await run.events.wait_health(Health.CONNECTED, advance=STEP, simulated_limit=RECOVERY_LIMIT)
        healths = run.events.healths
        assert (
            healths.index(Health.TRANSIENT_DISCONNECT)
            < len(healths) - 1
            == healths.index(Health.CONNECTED, healths.index(Health.TRANSIENT_DISCONNECT))
        )
        await _expect_fixture(harness, run, harness.fixtures()[0])  # really back
        await run.stop()

    async def test_no_task_left_after_stop(self, harness: AdapterHarness) -> None:
        before = asyncio.all_tasks()
        run = await _start(harness)
        await run.events.wait_health(Health.CONNECTED)
        await _expect_fixture(harness, run, harness.fixtures()[0])
        await harness.inject_garbage(run.adapter)
        await harness.break_transport(run.adapter)
        await run.events.wait_health(Health.TRANSIENT_DISCONNECT, advance=STEP, simulated_limit=10)
        await harness.restore_transport(run.adapter)
        await run.events.wait_health(Health.CONNECTED, advance=STEP, simulated_limit=RECOVERY_LIMIT)
        await run.stop()
        await harness.clock.settle()
        left = asyncio.all_tasks() - before
        assert not left, f"tasks left after stop: {[t.get_name() for t in left]}"
        assert harness.clock.sleepers == 0, "nothing may still sleep on the clock after stop"
