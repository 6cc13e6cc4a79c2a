"""One jittered, capped exponential backoff for every retry loop (reconnects, rebinds, restarts).

Equal jitter (AWS architecture blog, "Exponential Backoff And Jitter"): the n-th delay is drawn
from ``[c/2, c]`` with ``c = min(maximum, initial x factor^n)``, so it is never zero (no hot loop)
and many clients that failed together do not retry in step. The random source is injected.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(slots=True)
class Backoff:
    """``next()`` gives the next delay and counts the attempt; ``reset()`` after a success."""

    initial: float = 1.0
    maximum: float = 60.0
    factor: float = 2.0
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.maximum:
            raise ValueError(f"backoff needs 0 < initial <= maximum, got {self.initial} and {self.maximum}")
        if self.factor < 1:
            raise ValueError(f"backoff factor must be >= 1, got {self.factor}")

    def ceiling(self, attempt: int) -> float:
        """The upper bound of the delay for attempt ``attempt`` (0-based)."""
        return min(self.maximum, self.initial * self.factor ** min(attempt, 64))

    def next(self) -> float:
        ceiling = self.ceiling(self.attempt)
        self.attempt += 1
        return ceiling / 2 + self.rng.random() * ceiling / 2

    def reset(self) -> None:
        self.attempt = 0
