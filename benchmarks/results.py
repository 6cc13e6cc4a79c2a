"""One benchmark result and its quality bar (pure: no clock, no I/O)."""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
}


@dataclass(frozen=True)
class Bar:
    """A quality bar: ``value <op> limit`` (op one of ``>=``, ``<=``, ``==``)."""

    op: str
    limit: float

    def __post_init__(self) -> None:
        if self.op not in _COMPARE:
            raise ValueError(f"unknown bar operator {self.op!r}; allowed: {', '.join(_COMPARE)}")

    def met(self, value: float) -> bool:
        return _COMPARE[self.op](value, self.limit)

    def __str__(self) -> str:
        return f"{self.op} {self.limit:g}"


@dataclass(frozen=True)
class Result:
    """One measured number; ``bar`` None means informative only."""

    benchmark: str
    metric: str
    value: float
    unit: str
    bar: Bar | None = None
    note: str = ""
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.bar is None or self.bar.met(self.value)

    @property
    def verdict(self) -> str:
        if self.bar is None:
            return "info"
        return "PASS" if self.passed else "FAIL"

    def line(self) -> str:
        bar = f" (bar {self.bar})" if self.bar else ""
        note = f"  [{self.note}]" if self.note else ""
        return f"{self.verdict:4}  {self.benchmark}.{self.metric} = {self.value:,.6g} {self.unit}{bar}{note}"


def failures(results: Sequence[Result]) -> list[Result]:
    return [r for r in results if not r.passed]


def summary(results: Sequence[Result]) -> str:
    barred = [r for r in results if r.bar is not None]
    failed = failures(results)
    informative = len(results) - len(barred)
    text = f"{len(barred) - len(failed)}/{len(barred)} quality bars met, {informative} informative"
    if failed:
        text += "; FAILED: " + ", ".join(f"{r.benchmark}.{r.metric}" for r in failed)
    return text
