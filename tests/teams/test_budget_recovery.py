"""How the budget takes 429s and recovers, on the fake clock (issue 11).

Expected values come from the rule README states ("Retries", "Rate budget"), not from the code: the
limit halves at most once per 30 s window (one
burst, one halving), never below 5 % of the maximum; each 30 s window without a 429 doubles it up
to the maximum. So after the last 429 the full budget is back after ``30 x ceil(log2(max/limit))``
seconds: 30 s after one halving, 150 s from the floor, always within 3 minutes.
"""

from __future__ import annotations

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
        budget.throttled()
    assert budget.limit == after
    await clock.advance(to_full - 0.01)
    assert budget.limit < MAX
    await clock.advance(0.01)
    assert budget.limit == MAX
    assert to_full <= 180.0  # "full budget within 3 minutes of quiet" (issue 11)


async def test_a_429_pauses_nobody_else() -> None:
    """The request that got it waits its Retry-After (GraphClient); the budget grants the next
    request at once while the (halved) window has room: no tenant-wide pause at all."""
    clock = FakeClock()
    budget = Budget(clock, requests=MAX, window_seconds=WINDOW)
    budget.throttled()
    assert sum(budget.try_acquire(Kind.WRITE) for _ in range(MAX)) == MAX // 2
