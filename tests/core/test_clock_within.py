"""One way to wait on the injected clock: an awaitable raced against ``seconds`` of clock time."""

from __future__ import annotations

import asyncio

import pytest

from bridge.kit.clock import Expired, FakeClock, sleep_or_wake, within


async def test_a_result_in_time_is_returned_and_nothing_is_left_running() -> None:
    clock = FakeClock()
    assert await within(clock, 5, asyncio.sleep(0, result="answer")) == "answer"
    assert clock.sleepers == 0


async def test_nothing_in_time_expires_and_cancels_the_awaitable() -> None:
    clock = FakeClock()
    never = asyncio.get_running_loop().create_future()
    waiting = asyncio.ensure_future(within(clock, 5, never))
    await clock.advance(5)
    with pytest.raises(Expired, match="within 5 s"):
        await waiting
    assert never.cancelled()


async def test_the_awaitables_own_error_propagates() -> None:
    async def refused() -> None:
        raise ConnectionRefusedError("no")

    with pytest.raises(ConnectionRefusedError):
        await within(FakeClock(), 5, refused())


async def test_sleep_or_wake_returns_on_whichever_comes_first() -> None:
    clock = FakeClock()
    wake = asyncio.Event()
    sleeping = asyncio.ensure_future(sleep_or_wake(clock, 60, wake))
    await clock.settle()
    wake.set()
    await sleeping
    assert clock.monotonic() == 1000.0  # woken, no time passed
    wake.clear()
    sleeping = asyncio.ensure_future(sleep_or_wake(clock, 60, wake))
    await clock.advance(60)
    await sleeping
    assert not wake.is_set()
