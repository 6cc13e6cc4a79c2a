"""What reached the emulator, on simulated time: a logging transport and the staleness it implies.

``RequestLog`` wraps the in-process emulator transport and notes every presence write
``(simulated time, user, operation, status)``, counts every request by kind (the last path
segment: ``setPresence``, ``clearPresence``, ``getPresencesByUserId``, ``token``...) and tells
``listeners`` what session each accepted write left in Teams. ``Staleness`` turns a stream of
desired states and those writes into one wait per desired-state change.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from bridge.kit.clock import FakeClock
from bridge.presence import Pair

# (simulated seconds, user, session our app now holds in Teams, or None when cleared)
WriteListener = Callable[[float, str, Pair | None], None]


@dataclass
class RequestLog(httpx.AsyncBaseTransport):
    """Passes requests to ``inner`` and notes (simulated time, user, operation, status) of each write."""

    inner: httpx.AsyncBaseTransport
    clock: FakeClock
    entries: list[tuple[float, str, str, int]] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)
    throttled: Counter[str] = field(default_factory=Counter)
    listeners: list[WriteListener] = field(default_factory=list)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        parts = request.url.path.split("/")
        kind = parts[-1]
        self.kinds[kind] += 1
        if response.status_code == 429:
            self.throttled[kind] += 1
        if "users" in parts and request.method == "POST":
            user = parts[parts.index("users") + 1]
            at = self.clock.monotonic()
            self.entries.append((at, user, kind, response.status_code))
            if self.listeners:
                held = _held_after(kind, response.status_code, request)
                if held is not None:
                    for listener in self.listeners:
                        listener(at, user, held[0])
        return response

    def lapses(self, expiry: float, until: float) -> int:
        """Sessions of ours that went ``expiry`` seconds without a refresh while not cleared."""
        last_set: dict[str, float | None] = defaultdict(lambda: None)
        lapsed = 0
        for at, user, operation, status in self.entries:
            if status != 200:
                continue
            since = last_set[user]
            if since is not None and at - since > expiry:
                lapsed += 1
            last_set[user] = (
                at if operation == "setPresence" else None if operation == "clearPresence" else since
            )
        return lapsed + sum(1 for since in last_set.values() if since is not None and until - since > expiry)

    def busiest_window(self, window: float) -> int:
        """Most presence writes in any ``window`` seconds."""
        times = [at for at, *_ in self.entries]
        busiest, first = 0, 0
        for last, at in enumerate(times):
            while times[first] <= at - window:
                first += 1
            busiest = max(busiest, last - first + 1)
        return busiest


def _held_after(kind: str, status: int, request: httpx.Request) -> tuple[Pair | None] | None:
    """The session a write left in Teams (wrapped: ``(None,)`` is a clear), or None if it changed nothing."""
    if kind == "setPresence" and status == 200:
        body = json.loads(request.content)
        return (Pair(body["availability"], body["activity"]),)
    if kind == "clearPresence" and status in (200, 404):
        return (None,)
    return None


@dataclass
class Staleness:
    """One wait per desired-state change: until Teams held it, or until a newer one superseded it.

    ``desired(user, at, session)`` is called for every change the core hands the publisher; the
    wait ends when a write that leaves exactly that session in Teams is accepted (``written``), or
    when the next change for the same person arrives first (superseded: that wait is counted too,
    it is how long the person's intent was not shown). A change Teams already holds waits 0 s.
    """

    pending: dict[str, tuple[float, Pair | None]] = field(default_factory=dict)
    held: dict[str, Pair | None] = field(default_factory=dict)
    held_waits: list[float] = field(default_factory=list)
    superseded_waits: list[float] = field(default_factory=list)

    def desired(self, user: str, at: float, session: Pair | None) -> None:
        old = self.pending.pop(user, None)
        if old is not None:
            self.superseded_waits.append(at - old[0])
        if self.held.get(user) == session:
            self.held_waits.append(0.0)
        else:
            self.pending[user] = (at, session)

    def written(self, at: float, user: str, session: Pair | None) -> None:
        self.held[user] = session
        waiting = self.pending.get(user)
        if waiting is not None and waiting[1] == session:
            del self.pending[user]
            self.held_waits.append(at - waiting[0])

    def waits(self, until: float) -> list[float]:
        """Every wait so far; changes still pending count as waiting until ``until``."""
        open_waits = [until - since for since, _ in self.pending.values()]
        return self.held_waits + self.superseded_waits + open_waits


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank-interpolated percentile (0 for no values)."""
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[round(pct * 10) - 1]
