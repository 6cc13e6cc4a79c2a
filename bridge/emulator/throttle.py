"""Graph's presence rate limit: one sliding window per (tenant, app) over all presence calls.

Microsoft documents "1,500 requests within a 30-second period, per application per tenant"
[GET][BYID] (one page says 10,000 [THR-LIM]); the window's kind is not documented, so we take the
strictest reading, a sliding window (DESIGN 13, inferred). Refused requests do not count.

Pure: monotonic seconds are passed in.
"""

from __future__ import annotations

from collections import deque


class SlidingWindowLimiter:
    """At most ``limit`` accepted requests per key within any ``window`` seconds."""

    def __init__(self, limit: int, window: float) -> None:
        self._hits: dict[tuple[str, str], deque[float]] = {}
        self.limit = limit
        self.window = window
        self.counters: dict[str, float] = {"accepted": 0, "throttled": 0}
        self.set_limit(limit, window)

    def set_limit(self, limit: int, window: float | None = None) -> None:
        """Change the limit at runtime (admin API); past hits still count against the new one."""
        if limit < 1:
            raise ValueError("the rate limit must be at least 1 request")
        if window is not None:
            if window <= 0:
                raise ValueError("the rate window must be positive")
            self.window = float(window)
        self.limit = int(limit)

    def acquire(self, tenant: str, app: str, now: float) -> float | None:
        """Count one request; ``None`` if accepted, else the seconds to wait (``Retry-After``)."""
        hits = self._hits.setdefault((tenant, app), deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            self.counters["throttled"] += 1
            # The request is accepted again once enough old hits have left the window.
            oldest_blocking = hits[len(hits) - self.limit]
            return max(oldest_blocking + self.window - now, 0.001)
        hits.append(now)
        self.counters["accepted"] += 1
        return None

    def in_window(self, tenant: str, app: str, now: float) -> int:
        hits = self._hits.get((tenant, app), deque())
        return sum(1 for t in hits if t > now - self.window)

    def reset(self) -> None:
        self._hits.clear()

    def stats(self) -> dict[str, float]:
        return {**self.counters, "limit": float(self.limit), "window_seconds": self.window}
