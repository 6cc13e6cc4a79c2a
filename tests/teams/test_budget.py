"""The per-tenant budget on the fake clock: sliding window, refresh reserve, capacity (AIMD and
Retry-After: test_budget_recovery.py)."""

from __future__ import annotations

import asyncio
from collections import deque

import pytest

from bridge.kit.clock import FakeClock
from bridge.teams.budget import Budget, Kind


def max_in_window(stamps: list[float], window: float) -> int:
    best, live = 0, deque[float]()
    for t in stamps:
        live.append(t)
        while live[0] <= t - window:
            live.popleft()
        best = max(best, len(live))
    return best


async def grant_all(clock: FakeClock, budget: Budget, n: int, kind: Kind = Kind.WRITE) -> list[float]:
    stamps: list[float] = []

    async def one() -> None:
        await budget.acquire(kind)
        stamps.append(clock.monotonic())

    tasks = [asyncio.create_task(one()) for _ in range(n)]
    while not all(t.done() for t in tasks):
        await clock.advance(0.5)
    return stamps


async def test_never_more_than_the_budget_in_any_window() -> None:
    clock = FakeClock()
    budget = Budget(clock, requests=100, window_seconds=30)
    stamps = await grant_all(clock, budget, 450)
    assert len(stamps) == 450
    assert max_in_window(stamps, 30) == 100
    assert stamps[-1] - stamps[0] >= 4 * 30  # it really waited


async def test_unused_reserve_goes_to_other_writes() -> None:
    clock = FakeClock()
    budget = Budget(clock, requests=100, window_seconds=30, refresh_share=0.25)
    granted = sum(budget.try_acquire(Kind.WRITE) for _ in range(200))
    assert granted == 100


async def test_reserve_is_held_for_live_sessions() -> None:
    clock = FakeClock()
    budget = Budget(clock, requests=100, window_seconds=30, refresh_share=0.25, refresh_interval=240)
    budget.set_refresh_demand(800)  # 100 refreshes per window expected: the full 25 are held
    writes = sum(budget.try_acquire(Kind.WRITE) for _ in range(200))
    refreshes = sum(budget.try_acquire(Kind.REFRESH) for _ in range(200))
    assert (writes, refreshes) == (75, 25)


async def test_waiting_refresh_goes_before_writes_when_window_is_tight() -> None:
    clock = FakeClock()
    budget = Budget(clock, requests=8, window_seconds=30, refresh_share=0.25)
    for _ in range(8):
        assert budget.try_acquire(Kind.WRITE)
    order: list[str] = []

    async def take(kind: Kind) -> None:
        await budget.acquire(kind)
        order.append(kind.value)

    tasks = [asyncio.create_task(take(Kind.WRITE)) for _ in range(8)] + [
        asyncio.create_task(take(Kind.REFRESH))
    ]
    await clock.advance(30.5)
    assert order.count("refresh") == 1  # a slot was held for the waiting refresh
    assert order.count("write") == 7
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def test_capacity_and_alarm_threshold() -> None:
    clock = FakeClock()
    budget = Budget(clock, requests=1200, window_seconds=30, refresh_share=0.25, refresh_interval=240)
    assert budget.capacity == pytest.approx(2400)
    budget.set_refresh_demand(2400)
    assert not budget.over_capacity
    budget.set_refresh_demand(2401)
    assert budget.over_capacity


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="refresh_share"):
        Budget(FakeClock(), refresh_share=1.0)
