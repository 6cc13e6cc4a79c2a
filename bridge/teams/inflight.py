"""How many Graph requests a tenant keeps in flight: sized to the round trip and the budget (pure).

Little's law: a tenant that sends ``rate`` requests a second, each taking ``rtt`` seconds, has
``rate x rtt`` of them in flight on average. With a fixed handful of workers the rate is capped at
``workers / rtt`` whatever the budget allows (4 workers at 250 ms: 16 writes/s against a budget of
40/s). So the publisher sizes its concurrency from two measurements:

- ``RoundTrip``: an exponentially weighted mean of recent Graph round trips (one HTTP attempt, on the
  injected clock, as ``GraphClient`` times it). It starts at 0 (``INITIAL_RTT``): until the first
  answer the floor is in flight, never a burst sized for a distance nobody measured; the first
  answer replaces the guess, so at 250 ms the first round trip is the only one spent at the floor.
- the budget's current rate: ``budget_rate(limit, window, free)``, its refill rate (the AIMD
  ``limit`` per ``window``: a 429 halving shrinks it too) plus the slots free in the window now
  spent over ``BURST_HORIZON`` (the sliding window grants them at once: a start, or the end of a
  quiet spell, may send that burst; once the window is full only the refill is left).

``in_flight(rate, rtt)`` = ``ceil(rate x rtt x HEADROOM)`` + ``SPARE``, at least ``MIN_IN_FLIGHT``,
at most the configured ``maximum`` and never more than the budget's limit per window (more requests
in flight than a window allows could only wait for a slot). ``HEADROOM`` covers a round trip's
spread (the mean under-states the tail) and turns that take two calls; ``SPARE`` covers requests
waiting on the budget or the store. The budget still grants every request, so a larger bound never
sends faster than the budget: it only stops the round trip from being the limit.

``DEFAULT_MAX_IN_FLIGHT`` (64): the default budget (1,200 / 30 s = 40/s) at a 1 s round trip (a slow
proxy on another continent) needs 40 x 1 x 1.5 + 1 = 61; more would only matter for a raised budget,
and each one may be an HTTP/1.1 connection (Graph's front ends and proxies take that many easily).
"""

from __future__ import annotations

import math
from typing import Final

INITIAL_RTT: Final = 0.0  # seconds: assumed before the first measurement (the floor in flight)
RTT_WEIGHT: Final = 0.2  # weight of the newest sample in the mean (about the last 10 samples count)
HEADROOM: Final = 1.5
SPARE: Final = 1
MIN_IN_FLIGHT: Final = 4  # on loopback: what the fixed 4 workers had (CPU, not waiting, is the limit)
BURST_HORIZON: Final = 1.0  # seconds over which the window's free slots are spent
DEFAULT_MAX_IN_FLIGHT: Final = 64


class RoundTrip:
    """The exponentially weighted mean of Graph round trips (seconds)."""

    def __init__(self, initial: float = INITIAL_RTT, weight: float = RTT_WEIGHT) -> None:
        if initial < 0 or not 0.0 < weight <= 1.0:
            raise ValueError("a round trip needs initial >= 0 and 0 < weight <= 1")
        self.mean = initial
        self.samples = 0
        self._weight = weight

    def observe(self, seconds: float) -> None:
        """One measured round trip; negative or NaN readings (a clock step) are ignored."""
        if not seconds >= 0.0:
            return
        self.samples += 1
        self.mean = seconds if self.samples == 1 else self.mean + self._weight * (seconds - self.mean)


def refresh_maximum(maximum: int) -> int:
    """The refresh turns' own bound beside the writes' ``maximum``: refreshes are at most the
    budget's reserve (a quarter by default), so a quarter of the writes' bound, at least the floor."""
    return max(MIN_IN_FLIGHT, maximum // 4)


def connections(maximum: int) -> int:
    """HTTP connections a tenant's client may hold: every write and refresh in flight at their
    bounds (HTTP/1.1 carries one request per connection) and ``SPARE`` for the watcher's reads."""
    return maximum + refresh_maximum(maximum) + SPARE


def budget_rate(limit: int, window: float, free: int) -> float:
    """Requests/s the budget grants now: its refill rate plus the free slots over ``BURST_HORIZON``."""
    return limit / window + max(0, free) / BURST_HORIZON


def in_flight(rate: float, rtt: float, *, maximum: int, per_window: int) -> int:
    """Requests to keep in flight for ``rate`` requests/s at ``rtt`` seconds a round trip.

    ``per_window`` is the budget's current limit per window: never more in flight than that.
    """
    wanted = math.ceil(max(0.0, rate) * max(0.0, rtt) * HEADROOM) + SPARE
    return max(1, min(maximum, per_window, max(MIN_IN_FLIGHT, wanted)))
