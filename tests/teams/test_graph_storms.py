"""Graph fault storms against the publisher, on the fake clock (issue 11): 429 storms of several
lengths, 503/504 storms and dropped connections, under a steady load of presence changes.

What a user notices, and the rule (README "Rate budget", "Retries") each bound comes from:

- Teams ends in the right state for everyone (DESIGN 12: always converges).
- No tenant-wide pause longer than the longest Retry-After: while changes wait, Graph never goes
  without a request for longer than the Retry-After Graph gave (2 s here). 5xx and drops back off
  per request, so the others keep flowing: Graph hears a request at least every
  ``CLIENT_BACKOFF_MAX`` seconds (the client's own retry ceiling for a request's fifth attempt
  (0.5 x 2^3 = 4 s) with every worker waiting at once).
- The budget halves at most once per 30 s window of the storm (a storm of N 429s lasts about
  N / 4 x Retry-After here: each of the 4 workers waits out its own 429), and after it the full budget
  (1,200 per 30 s) is back within 3 minutes (it doubles per quiet window: test_budget_recovery).
- Staleness stays bounded: every change reaches Graph within ``STALE_BOUND`` seconds of the
  storm's end.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import httpx
import pytest

from bridge.presence import CLEAR, IN_A_CALL, TeamsIntent

from .helpers import CLIENT_ID
from .rig import Rig, started

BUSY = TeamsIntent(session=IN_A_CALL, reason="in_call")
PEOPLE = [f"p{n:02d}" for n in range(40)]
RETRY_AFTER = 2.0
CLIENT_BACKOFF_MAX = 4.0
STALE_BOUND = 15.0  # seconds after the storm: two failed rounds of a person (7.5 s + 4 s) and the queue
STEP = 0.1


def throttled() -> httpx.Response:
    return httpx.Response(
        429,
        json={"error": {"code": "TooManyRequests", "message": "slow down"}},
        headers={"Retry-After": f"{RETRY_AFTER:g}", "request-id": "rid-429"},
    )


def unavailable(status: int) -> Callable[[], httpx.Response]:
    return lambda: httpx.Response(status, json={"error": {"code": "ServiceUnavailable", "message": "x"}})


def dropped() -> Exception:
    return httpx.RemoteProtocolError("peer closed connection without sending a response")


# id, fault factory, storm length, longest pause allowed while work waits
STORMS = [
    ("30 x 429", throttled, 30, RETRY_AFTER),
    ("60 x 429", throttled, 60, RETRY_AFTER),
    ("5 x 503", unavailable(503), 5, CLIENT_BACKOFF_MAX),
    ("40 x 503", unavailable(503), 40, CLIENT_BACKOFF_MAX),
    ("40 x 504", unavailable(504), 40, CLIENT_BACKOFF_MAX),
    ("40 dropped connections", dropped, 40, CLIENT_BACKOFF_MAX),
]


def shows(rig: Rig, person: str) -> bool:
    """Whether Graph holds what the publisher was last asked for this person."""
    wanted = rig.pub.view(person).desired
    target = None if wanted is None else wanted.session
    return rig.fake.session(person, CLIENT_ID) == target


async def load(rig: Rig, ticks: int, flip: itertools.count[int]) -> list[float]:
    """Four people change state every second for ``ticks`` steps; returns the staleness seen."""
    seen: list[float] = []
    for tick in range(ticks):
        if tick % int(1 / STEP) == 0:
            for _ in range(4):
                n = next(flip)
                person = PEOPLE[n % len(PEOPLE)]
                rig.pub.desire(person, BUSY if (n // len(PEOPLE)) % 2 == 0 else CLEAR, "pbx")
        await rig.clock.advance(STEP)
        seen.append(rig.pub.stats()["publisher_max_staleness_seconds"])
    return seen


@pytest.mark.parametrize(
    ("fault", "length", "longest_pause"), [r[1:] for r in STORMS], ids=[r[0] for r in STORMS]
)
async def test_a_storm_pauses_no_longer_than_retry_after_and_recovers_in_minutes(
    fault: Callable[[], httpx.Response | Exception], length: int, longest_pause: float
) -> None:
    async with started() as rig:
        flip = itertools.count()
        await load(rig, int(10 / STEP), flip)  # steady state first
        rig.fake.faults.extend(fault() for _ in range(length))
        storm_began = rig.clock.monotonic()
        staleness: list[float] = []
        while rig.fake.faults:
            staleness += await load(rig, 1, flip)
            assert rig.clock.monotonic() - storm_began < 300, "the storm never drained"
        storm_ended = rig.clock.monotonic()
        staleness += await load(rig, int(STALE_BOUND / STEP), flip)
        for person in PEOPLE:  # a quiet moment: everyone's latest change reaches Graph
            assert rig.pub.view(person).staleness <= STALE_BOUND, person
        await rig.settle(STALE_BOUND, step=STEP)
        assert all(shows(rig, person) for person in PEOPLE)

        times = [t for t in rig.fake.request_times if storm_began <= t <= storm_ended + STALE_BOUND]
        longest_gap = max(b - a for a, b in itertools.pairwise(times))
        assert longest_gap <= longest_pause + STEP  # no tenant pause beyond the Retry-After

        windows = math.ceil((storm_ended - storm_began) / rig.budget.window)  # one halving each at most
        assert rig.budget.limit >= max(60, rig.budget.max_requests // 2**windows)
        quiet = 180.0 - (rig.clock.monotonic() - storm_ended)
        await load(rig, int(quiet / STEP), flip)
        assert rig.budget.limit == rig.budget.max_requests  # full budget within 3 minutes
        assert max(staleness) <= STALE_BOUND + (storm_ended - storm_began)
