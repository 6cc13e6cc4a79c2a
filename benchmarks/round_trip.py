"""Graph at a distance, on simulated time: a transport that holds every request for a round trip.

``RoundTripDelay`` wraps an in-process transport (the emulator's, or the tests' fake Graph): half the
round trip passes before the request reaches Graph, half before the answer reaches the bridge, both
on the injected clock. Until the emulator has its own latency model (issue 13, ``--latency``) this
is how the benchmarks and tests put Graph 100 or 250 ms away. It also watches what a real network
would show: requests in flight (now and the most at once) and any moment two requests for the same
person were in flight together (per-person ordering says never).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import httpx

from bridge.kit.clock import Clock


@dataclass
class RoundTripDelay(httpx.AsyncBaseTransport):
    inner: httpx.AsyncBaseTransport
    clock: Clock
    rtt: float  # seconds
    in_flight: int = 0
    peak: int = 0
    overlaps: list[str] = field(default_factory=list)  # people with two requests in flight at once
    _people: Counter[str] = field(default_factory=Counter)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        parts = request.url.path.split("/")
        person = parts[parts.index("users") + 1] if "users" in parts else None
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        if person is not None:
            self._people[person] += 1
            if self._people[person] > 1:
                self.overlaps.append(person)
        try:
            await self.clock.sleep(self.rtt / 2)
            response = await self.inner.handle_async_request(request)
            await response.aread()
            await self.clock.sleep(self.rtt / 2)
            return response
        finally:
            self.in_flight -= 1
            if person is not None:
                self._people[person] -= 1

    async def aclose(self) -> None:
        await self.inner.aclose()
