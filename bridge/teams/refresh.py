"""Deadline queues for the publisher (pure: no clock reads, no I/O).

``DeadlineQueue`` keeps (due, key) entries earliest-deadline-first. Re-scheduling a key replaces
its entry (older ones are skipped lazily), so a person has at most one live refresh or retry timer.
"""

from __future__ import annotations

import heapq
import itertools


class DeadlineQueue:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, str]] = []
        self._live: dict[str, int] = {}  # key -> seq of its current entry
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, key: str) -> bool:
        return key in self._live

    def schedule(self, key: str, due: float) -> None:
        seq = next(self._seq)
        self._live[key] = seq
        heapq.heappush(self._heap, (due, seq, key))

    def cancel(self, key: str) -> None:
        self._live.pop(key, None)

    def _drop_stale(self) -> None:
        while self._heap and self._live.get(self._heap[0][2]) != self._heap[0][1]:
            heapq.heappop(self._heap)

    def next_due(self) -> float | None:
        self._drop_stale()
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> str | None:
        """The earliest key whose deadline has come, removed; None if none is due."""
        self._drop_stale()
        if not self._heap or self._heap[0][0] > now:
            return None
        _, _, key = heapq.heappop(self._heap)
        del self._live[key]
        return key

    def due_of(self, key: str) -> float | None:
        seq = self._live.get(key)
        if seq is None:
            return None
        return next(due for due, s, k in self._heap if s == seq and k == key)
