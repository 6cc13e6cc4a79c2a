"""Per-tenant Graph request budget: a sliding window with AIMD and a share reserved for refreshes.

- At most ``limit`` requests are granted in any ``window`` seconds (sliding, on the injected clock).
- **Retry-After** is waited, exactly, by the request that got the 429 (``GraphClient``); nothing
  here pauses the tenant: every worker waits out its own 429, so a throttling Graph hears at most
  one request per worker per Retry-After, and the moment it stops throttling every worker goes on.
- **Decrease.** A 429 halves ``limit`` at most once per ``window``: the 429s of one burst (Graph
  answers every request of a window that way) cost one halving, not one per 429. Never below
  ``FLOOR_SHARE`` of the maximum.
- **Increase.** Each full ``window`` with no 429 doubles ``limit`` (never above the maximum), so
  the full budget is back within ``ceil(log2(max / limit))`` quiet windows: 30 s after one halving,
  at most 150 s even from the floor (1,200 -> 60 -> 1,200 in five doublings).
- ``refresh_share`` of the limit is held for refreshes of live sessions while they need it: the held
  part is what the expected refreshes of the current window (live sessions x window / refresh
  interval, or waiting refreshes) have not used yet. The rest, and any unused reserve, serves writes.
- Capacity (live sessions the reserve can keep alive) = share x limit per second x refresh interval;
  ``over_capacity`` tells when demand exceeds it.
"""

from __future__ import annotations

import math
from collections import deque

from bridge.kit.clock import Clock
from bridge.teams.plan_types import Kind as Kind  # the budget's shares, named where calls are planned

FLOOR_SHARE = 0.05  # the limit never falls below this share of the maximum
DECREASE = 0.5  # a 429 burst multiplies the limit by this
INCREASE = 2.0  # and each quiet window multiplies it by this


class Budget:
    def __init__(
        self,
        clock: Clock,
        *,
        requests: int = 1200,
        window_seconds: float = 30.0,
        refresh_share: float = 0.25,
        refresh_interval: float = 240.0,
    ) -> None:
        if requests < 1 or window_seconds <= 0 or not 0.0 <= refresh_share < 1.0:
            raise ValueError("budget needs requests >= 1, window > 0 and 0 <= refresh_share < 1")
        self._clock = clock
        self.max_requests = requests
        self.window = window_seconds
        self.refresh_share = refresh_share
        self.refresh_interval = refresh_interval
        self._limit = float(requests)
        self._floor = max(1.0, requests * FLOOR_SHARE)
        self._grants: deque[float] = deque()  # monotonic stamps of granted requests
        self._refresh_grants: deque[float] = deque()
        self._last_cut: float | None = None
        self._quiet_since = clock.monotonic()
        self._refresh_waiting = 0
        self._live_sessions = 0
        self.counters: dict[str, int] = {
            "granted": 0,
            "granted_refresh": 0,
            "waits": 0,
            "cuts": 0,
        }

    # --- state ---------------------------------------------------------------------------

    @property
    def limit(self) -> int:
        """Requests allowed in the current window (after AIMD)."""
        self._grow()
        return max(1, math.floor(self._limit))

    @property
    def capacity(self) -> float:
        """Live sessions the refresh share can keep alive."""
        return self.refresh_share * (self.limit / self.window) * self.refresh_interval

    @property
    def over_capacity(self) -> bool:
        return self._live_sessions > self.capacity

    def set_refresh_demand(self, live_sessions: int) -> None:
        """How many live sessions need refreshing (drives the reserve and the capacity alarm)."""
        self._live_sessions = max(0, live_sessions)

    def in_window(self) -> int:
        self._expire()
        return len(self._grants)

    def stats(self) -> dict[str, float]:
        return {
            "budget_limit": float(self.limit),
            "budget_max": float(self.max_requests),
            "budget_in_window": float(self.in_window()),
            "budget_capacity": self.capacity,
            "budget_live_sessions": float(self._live_sessions),
            **{f"budget_{k}": float(v) for k, v in self.counters.items()},
        }

    # --- AIMD ------------------------------------------------------------------------------

    def throttled(self) -> None:
        """Graph answered 429: halve the rate, once per window (a burst is one cut)."""
        now = self._clock.monotonic()
        self._grow()  # quiet windows before this 429 count first
        self._quiet_since = now
        if self._last_cut is not None and now - self._last_cut < self.window:
            return
        self._last_cut = now
        self._limit = max(self._floor, self._limit * DECREASE)
        self.counters["cuts"] += 1

    def _grow(self) -> None:
        now = self._clock.monotonic()
        while now - self._quiet_since >= self.window:
            self._quiet_since += self.window
            if self._limit >= self.max_requests:
                self._quiet_since = now  # at the maximum: nothing to regrow, stop counting windows
                break
            self._limit = min(float(self.max_requests), self._limit * INCREASE)

    # --- granting --------------------------------------------------------------------------

    def _expire(self) -> None:
        horizon = self._clock.monotonic() - self.window
        while self._grants and self._grants[0] <= horizon:
            self._grants.popleft()
        while self._refresh_grants and self._refresh_grants[0] <= horizon:
            self._refresh_grants.popleft()

    def _held_for_refresh(self, limit: int) -> int:
        reserve = math.floor(limit * self.refresh_share)
        expected = math.ceil(self._live_sessions * self.window / self.refresh_interval)
        wanted = min(reserve, max(expected, self._refresh_waiting))
        return max(0, wanted - len(self._refresh_grants))

    def try_acquire(self, kind: Kind) -> bool:
        """Take one request slot now if the window allows it."""
        self._expire()
        limit = self.limit
        used = len(self._grants)
        if kind is Kind.REFRESH:
            allowed = used < limit
        else:
            allowed = used + self._held_for_refresh(limit) < limit
        if not allowed:
            return False
        now = self._clock.monotonic()
        self._grants.append(now)
        self.counters["granted"] += 1
        if kind is Kind.REFRESH:
            self._refresh_grants.append(now)
            self.counters["granted_refresh"] += 1
        return True

    async def acquire(self, kind: Kind = Kind.WRITE) -> None:
        """Wait on the clock until a slot is free for ``kind``, then take it."""
        if kind is Kind.REFRESH:
            self._refresh_waiting += 1
        try:
            waited = False
            while not self.try_acquire(kind):
                waited = True
                await self._clock.sleep(self._next_free_in())
            if waited:
                self.counters["waits"] += 1
        finally:
            if kind is Kind.REFRESH:
                self._refresh_waiting -= 1

    async def acquire_retry(self) -> None:
        """Pacing for a retry attempt (wired into GraphClient.before_retry)."""
        await self.acquire(Kind.WRITE)

    def _next_free_in(self) -> float:
        if not self._grants:
            return 0.01
        return max(0.001, self._grants[0] + self.window - self._clock.monotonic())
