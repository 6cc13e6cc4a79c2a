"""How the budget takes 429s and recovers, on the fake clock (issue 11).

Expected values come from the rule README states ("Graph trouble"), not from the code: a 429 holds
every grant for its Retry-After, never longer; the limit halves at most once per 30 s window (one
burst, one halving), never below 5 % of the maximum; each 30 s window without a 429 doubles it up
to the maximum. So after the last 429 the full budget is back after ``30 x ceil(log2(max/limit))``
seconds: 30 s after one halving, 150 s from the floor, always within 3 minutes.
"""

from __future__ import annotations

import asyncio

import pytest

from bridge.kit.clock import FakeClock
from bridge.teams.budget import Budget, Kind

MAX = 1200
WINDOW = 30.0

# id, 429 times (seconds), limit after the storm, seconds from the last 429 to the full budget
STORMS = [
    ("one 429", [0.0], 600, 30.0),
    ("30 x 429 within 15 s (one burst)", [i * 0.5 for i in range(30)], 600, 30.0),
    ("30 x 429 one a second", [float(i) for i in range(30)], 600, 30.0),  # 29 s: still one window
    ("60 x 429 one a second", [float(i) for i in range(60)], 300, 60.0),  # cuts at 0 and 30
    ("90 x 429 one a second", [float(i) for i in range(90)], 150, 90.0),  # 0, 30, 60
    ("ten minutes of 429s", [float(i) for i in range(600)], 60, 150.0),  # the floor: 5 % of 1,200
]


@pytest.mark.parametrize(("times", "after", "to_full"), [r[1:] for r in STORMS], ids=[r[0] for r in STORMS])
async def test_a_storm_costs_one_halving_per_window_and_the_full_budget_returns_in_minutes(
    times: list[float], after: int, to_full: float
) -> None:
    clock = FakeClock()
    budget = Budget(clock, requests=MAX, window_seconds=WINDOW)
    start = clock.monotonic()
    for at in times:
        await clock.advance(start + at - clock.monotonic())
        budget.throttled(2.0)
    assert budget.limit == after
    await clock.advance(to_full - 0.01)
    assert budget.limit < MAX
    await clock.advance(0.01)
    assert budget.limit == MAX
    assert to_full <= 180.0  # "full budget within 3 minutes of quiet" (issue 11)


@pytest.mark.parametrize(
    ("retry_afters", "resumes_at"),
    [
        ([(0.0, 2.0)], 2.0),
        ([(0.0, 2.5), (1.0, 0.5)], 2.5),  # a shorter one later does not shorten the longer
        ([(0.0, 1.0), (0.5, 3.0)], 3.5),  # a later one holds from its own arrival
        ([(0.0, 0.128)], 0.128),  # fractional, honoured precisely
        ([(0.0, None)], 0.0),  # no Retry-After: no tenant hold (the request backs off alone)
    ],
)
async def test_a_429_holds_the_tenant_exactly_for_its_retry_after(
    retry_afters: list[tuple[float, float | None]], resumes_at: float
) -> None:
    clock = FakeClock()
    budget = Budget(clock, requests=MAX, window_seconds=WINDOW)
    start = clock.monotonic()
    for at, retry_after in retry_afters:
        await clock.advance(start + at - clock.monotonic())
        budget.throttled(retry_after)
    if start + resumes_at > clock.monotonic():
        await clock.advance(start + resumes_at - 0.001 - clock.monotonic())
        assert not budget.try_acquire(Kind.WRITE)
        assert not budget.try_acquire(Kind.REFRESH)  # refreshes wait too: Graph refuses them alike
    await clock.advance(max(0.0, start + resumes_at - clock.monotonic()))
    assert budget.try_acquire(Kind.WRITE)


async def test_a_waiter_is_woken_when_the_hold_ends_not_later() -> None:
    clock = FakeClock()
    budget = Budget(clock, requests=MAX, window_seconds=WINDOW)
    start = clock.monotonic()
    budget.throttled(2.0)
    granted: list[float] = []

    async def take() -> None:
        await budget.acquire(Kind.WRITE)
        granted.append(clock.monotonic())

    task = asyncio.create_task(take())
    await clock.advance(5.0)
    await task
    assert granted == [start + 2.0]
