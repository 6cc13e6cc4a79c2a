"""The emulated distance to Graph: a per-request delay on the injected clock (``--latency``).

Every benchmark on loopback sees a ~1 ms round trip; the real Graph is 30-150 ms away with a long
tail (issue 13). The emulator holds each Graph and identity request for a delay drawn from one of
three models, written as a spec:

==================  ===========================================================================
spec                delay of each request
==================  ===========================================================================
``0`` / ``0ms``     none (the default)
``80ms``            exactly 80 ms
``80ms+-20ms``      uniform between 60 and 100 ms (``±`` also accepted); jitter <= base
``80ms,p99=400ms``  log-normal with median 80 ms and 99th percentile 400 ms
==================  ===========================================================================

Units ``ms`` or ``s`` (``0.08s``). Why log-normal for the tail: round trips over the internet are
a positive base time stretched by many independent multiplicative factors (queues, retransmits,
the service's own load), which is what a log-normal describes; it is the usual fit for measured
RTT and service-time distributions, it never goes negative, and its two parameters are fixed
exactly by the two numbers a user knows (the typical time and the p99):
``sigma = ln(p99 / median) / z(0.99)``, with ``z(0.99) = 2.3263...`` the standard normal's 99th
percentile. A Pareto tail would be heavier but has no natural median-and-p99 form.

Draws come from one ``random.Random(seed)`` per model, in request order, so a run on a FakeClock is
reproducible; changing the spec at run time (admin API) applies from the next request on.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from enum import StrEnum
from statistics import NormalDist

_Z99 = NormalDist().inv_cdf(0.99)
_DURATION = r"(\d+(?:\.\d+)?)\s*(ms|s)"
_FIXED = re.compile(rf"^{_DURATION}$")
_JITTER = re.compile(rf"^{_DURATION}\s*(?:\+-|±)\s*{_DURATION}$")
_TAIL = re.compile(rf"^{_DURATION}\s*,\s*p99\s*=\s*{_DURATION}$")


class LatencyKind(StrEnum):
    NONE = "none"
    FIXED = "fixed"
    UNIFORM = "uniform"
    LOGNORMAL = "lognormal"


def _seconds(number: str, unit: str) -> float:
    return float(number) / (1000.0 if unit == "ms" else 1.0)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f}".rstrip("0").rstrip(".") + "ms"


@dataclass(frozen=True, slots=True)
class LatencySpec:
    """A parsed ``--latency`` spec; ``base`` is the fixed value, the centre or the median (s)."""

    kind: LatencyKind = LatencyKind.NONE
    base: float = 0.0
    jitter: float = 0.0  # uniform: half-width
    p99: float = 0.0  # lognormal: 99th percentile

    @classmethod
    def parse(cls, text: str) -> LatencySpec:
        """``"80ms"``, ``"80ms+-20ms"``, ``"80ms,p99=400ms"`` or ``"0"``; ValueError names the fix."""
        spec = text.strip().lower()
        if spec in ("", "0", "none", "off"):
            return cls()
        if match := _FIXED.match(spec):
            base = _seconds(*match.groups())
            return cls(LatencyKind.FIXED, base) if base > 0 else cls()
        if match := _JITTER.match(spec):
            base, jitter = _seconds(*match.group(1, 2)), _seconds(*match.group(3, 4))
            if jitter > base:
                raise ValueError(f"latency {text!r}: jitter above the base would mean negative delays")
            return cls(LatencyKind.UNIFORM, base, jitter=jitter)
        if match := _TAIL.match(spec):
            median, p99 = _seconds(*match.group(1, 2)), _seconds(*match.group(3, 4))
            if not 0 < median < p99:
                raise ValueError(f"latency {text!r}: p99 must be above the median, and the median above 0")
            return cls(LatencyKind.LOGNORMAL, median, p99=p99)
        raise ValueError(f"latency {text!r}: expected 0, 80ms, 80ms+-20ms or 80ms,p99=400ms (units ms or s)")

    def __str__(self) -> str:
        if self.kind is LatencyKind.FIXED:
            return _ms(self.base)
        if self.kind is LatencyKind.UNIFORM:
            return f"{_ms(self.base)}+-{_ms(self.jitter)}"
        if self.kind is LatencyKind.LOGNORMAL:
            return f"{_ms(self.base)},p99={_ms(self.p99)}"
        return "0ms"

    def draw(self, rng: random.Random) -> float:
        """One delay in seconds."""
        if self.kind is LatencyKind.FIXED:
            return self.base
        if self.kind is LatencyKind.UNIFORM:
            return rng.uniform(self.base - self.jitter, self.base + self.jitter)
        if self.kind is LatencyKind.LOGNORMAL:
            sigma = math.log(self.p99 / self.base) / _Z99
            return self.base * math.exp(sigma * rng.gauss(0.0, 1.0))
        return 0.0


NO_LATENCY = LatencySpec()


class LatencyModel:
    """The emulator's current spec and its seeded random source (admin API ``/_emulator/latency``)."""

    def __init__(self, spec: LatencySpec = NO_LATENCY, seed: int = 0) -> None:
        self.spec = spec
        self.seed = seed
        self._rng = random.Random(seed)
        self.counters: dict[str, float] = {"delayed": 0, "delay_seconds_total": 0.0}

    def set(self, spec: LatencySpec, seed: int | None = None) -> None:
        """Change the model from the next request on; a new seed restarts the random sequence."""
        self.spec = spec
        if seed is not None:
            self.reseed(seed)

    def reseed(self, seed: int | None = None) -> None:
        self.seed = self.seed if seed is None else seed
        self._rng = random.Random(self.seed)

    def next_delay(self) -> float:
        """The delay for one request (0.0 without a model: no draw, no sleep)."""
        if self.spec.kind is LatencyKind.NONE:
            return 0.0
        delay = self.spec.draw(self._rng)
        self.counters["delayed"] += 1
        self.counters["delay_seconds_total"] += delay
        return delay

    def describe(self) -> dict[str, object]:
        return {"latency": str(self.spec), "kind": self.spec.kind.value, "seed": self.seed}

    def stats(self) -> dict[str, float]:
        return dict(self.counters)
