"""The contract every adapter passes (STYLE.md "Tests"; DESIGN 13 for listeners).

Subclass :class:`AdapterContract` in a ``test_*.py`` module and either implement
``make_harness()`` or override the ``harness`` fixture; docs/writing-an-adapter.md shows how.
Each test's docstring says what a user would notice if it broke.

How waiting works: :class:`~adapters.testing.recorder.Recorder` drains ``events()`` in a task.
Tests wait for a predicate with a real-time bound (5 s) for loopback I/O and, where the adapter's
own timers are involved, move the fake clock in steps up to a simulated limit. No test sleeps for
real to let the adapter's logic time out: all of an adapter's waiting must be on the injected clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from adapters.base import Adapter, Health, HealthChange
from adapters.testing.harness import AdapterHarness, Fixture, SilentPeer
from adapters.testing.recorder import Recorder

RECOVERY_LIMIT = 300.0  # simulated seconds an adapter may take to come back after its transport does
STEP = 1.0
STEPS_PER_TIMEOUT = 50  # a silent-peer timeout is walked in this many fake-clock steps (at least STEP)


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


def _silent_peer(harness: AdapterHarness) -> SilentPeer:
    if harness.credentials == "listener":
        pytest.skip("a listener has no peer of its own to fall silent")
    if not isinstance(harness, SilentPeer):
        pytest.skip("the harness has no silent-peer hooks (adapters.testing.SilentPeer)")
    return harness


def _step(seconds: float) -> float:
    return max(STEP, seconds / STEPS_PER_TIMEOUT)


class AdapterContract:
    """Base class: not collected itself (no ``Test`` prefix); subclasses provide the harness."""

    pytestmark = pytest.mark.asyncio  # so the suite runs whatever the project's asyncio_mode

    def make_harness(self) -> AdapterHarness:
        """A fresh harness per test (or override the ``harness`` fixture instead)."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_harness()")

    @pytest_asyncio.fixture
    async def harness(self) -> AsyncIterator[AdapterHarness]:
        harness = self.make_harness()
        yield harness
        await harness.close()

    async def test_start_and_stop_are_idempotent(self, harness: AdapterHarness) -> None:
        """A second ``start()`` does not reconnect; a second ``stop()`` is harmless; health ends STOPPED."""
        run = await _start(harness)
        await run.adapter.start()
        await run.events.wait_health(Health.CONNECTED)
        await run.adapter.stop()
        await run.adapter.stop()
        await run.events.finished()
        assert run.adapter.health == Health.STOPPED
        assert run.events.healths.count(Health.CONNECTING) == 1, "a second start() must not reconnect"

    async def test_stop_without_start_is_harmless(self, harness: AdapterHarness) -> None:
        """``stop()`` before ``start()`` does not hang the service's shutdown and ends ``events()``."""
        adapter = await harness.build()
        await adapter.stop()
        await asyncio.wait_for(Recorder(adapter, harness.clock).finished(), 5)

    async def test_health_goes_connecting_then_connected(self, harness: AdapterHarness) -> None:
        """/healthz and the logs show CONNECTING then CONNECTED, named for this adapter."""
        run = await _start(harness)
        await run.events.wait_health(Health.CONNECTED)
        assert run.events.healths[:2] == [Health.CONNECTING, Health.CONNECTED]
        changes = [item for item in run.events.items if isinstance(item, HealthChange)]
        assert all(change.adapter == run.adapter.name for change in changes)
        await run.stop()

    async def test_every_fixture_gives_its_canonical_events(self, harness: AdapterHarness) -> None:
        """Each recorded PBX input yields exactly its expected facts, in order: presence follows the phone."""
        fixtures = list(harness.fixtures())
        assert fixtures, "a harness must bring fixtures"
        run = await _start(harness)
        await run.events.wait_health(Health.CONNECTED)
        for fixture in fixtures:
            await _expect_fixture(harness, run, fixture)
        await run.stop()

    async def test_garbage_is_counted_not_raised(self, harness: AdapterHarness) -> None:
        """Input the adapter does not understand grows a counter; health stays CONNECTED; it still works."""
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
        """Listeners: a client's wrong secret is counted, health unchanged. Clients: a refused password is
        BAD_CREDENTIALS (one ERROR line), then no retry within the long backoff (no account lockout)."""
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
        """A dropped connection (failed listener) is TRANSIENT_DISCONNECT while it lasts, then CONNECTED
        again, working, once the PBX is back: nobody restarts the bridge after a PBX reboot."""
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
        """After a full life (events, garbage, failure, recovery) ``stop()`` leaves no task and no timer:
        a reload or shutdown is clean."""
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

    async def test_a_peer_that_never_answers_is_given_up_and_retried(self, harness: AdapterHarness) -> None:
        """Clients: a PBX that accepts the TCP connection and never answers the login is
        TRANSIENT_DISCONNECT within the adapter's connect/login timeout (not CONNECTING forever),
        retried with backoff, and CONNECTED once it answers again."""
        silent = _silent_peer(harness)
        adapter = await harness.build()
        await silent.go_silent(adapter)
        run = _Running(adapter, Recorder(adapter, harness.clock))
        await adapter.start()
        await run.events.wait(lambda: silent.connections() >= 1, "the first TCP connection")
        step = _step(silent.login_timeout)
        await run.events.wait_health(
            Health.TRANSIENT_DISCONNECT, advance=step, simulated_limit=silent.login_timeout + step
        )
        assert Health.CONNECTED not in run.events.healths, "no PBX answered: it must not claim CONNECTED"
        tried = silent.connections()
        await run.events.wait(
            lambda: silent.connections() > tried, "a retry", advance=STEP, simulated_limit=RECOVERY_LIMIT
        )
        await silent.speak_again(adapter)
        await run.events.wait_health(Health.CONNECTED, advance=STEP, simulated_limit=RECOVERY_LIMIT)
        await _expect_fixture(harness, run, harness.fixtures()[0])
        await run.stop()

    async def test_a_silent_half_open_peer_is_noticed(self, harness: AdapterHarness) -> None:
        """Clients: a logged-in connection whose PBX goes silent (rebooted, a NAT forgot us) is
        TRANSIENT_DISCONNECT within the adapter's idle/keep-alive timeout, then reconnected: the
        bridge does not keep showing stale phone states as if it were still watching."""
        silent = _silent_peer(harness)
        run = await _start(harness)
        await run.events.wait_health(Health.CONNECTED)
        await silent.go_silent(run.adapter)
        step = _step(silent.silence_timeout)
        await run.events.wait_health(
            Health.TRANSIENT_DISCONNECT, advance=step, simulated_limit=silent.silence_timeout + step
        )
        await silent.speak_again(run.adapter)
        await run.events.wait_health(Health.CONNECTED, advance=STEP, simulated_limit=RECOVERY_LIMIT)
        await _expect_fixture(harness, run, harness.fixtures()[0])
        await run.stop()
