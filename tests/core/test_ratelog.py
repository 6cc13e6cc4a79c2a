"""The rate-limited log: one line per kind per interval, the first at once, later ones counted
(the documented rule in bridge/kit/ratelog.py; what an admin sees during a flood)."""

from __future__ import annotations

import logging

import pytest

from bridge.kit.ratelog import RateLimitedLog


class Time:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("times", "lines"),
    [
        pytest.param([0.0], 1, id="first-at-once"),
        pytest.param([0.0] * 5000, 1, id="flood-in-one-interval"),
        pytest.param([0.0, 30.0, 59.9], 1, id="within-interval"),
        pytest.param([0.0, 60.0], 2, id="next-after-interval"),
        pytest.param([float(t) for t in range(0, 600)], 10, id="steady-one-per-second-ten-minutes"),
    ],
)
def test_lines_per_flood(times: list[float], lines: int, caplog: pytest.LogCaptureFixture) -> None:
    clock = Time()
    summaries = RateLimitedLog(logging.getLogger("t"), clock, interval=60.0)
    caplog.set_level(logging.INFO)
    for t in times:
        clock.now = t
        summaries.note("bad token 10.0.0.9", "bad token from %s", "10.0.0.9")
    assert len(caplog.records) == lines


def test_summary_line_carries_the_count(caplog: pytest.LogCaptureFixture) -> None:
    clock = Time()
    summaries = RateLimitedLog(logging.getLogger("t"), clock, interval=60.0)
    caplog.set_level(logging.INFO)
    for _ in range(7):
        summaries.note("k", "accept failed")
    clock.now = 61.0
    summaries.note("k", "accept failed")
    assert caplog.records[-1].getMessage() == "accept failed (and 6 more like it since the last such line)"


def test_tick_reports_a_storm_that_stopped_and_kinds_are_bounded(caplog: pytest.LogCaptureFixture) -> None:
    clock = Time()
    summaries = RateLimitedLog(logging.getLogger("t"), clock, interval=60.0, max_kinds=3)
    caplog.set_level(logging.INFO)
    for n in range(100):  # 100 source addresses: three kinds, then "(other)"
        summaries.note(f"src {n}", "bad token from %s", n)
        summaries.note(f"src {n}", "bad token from %s", n)
    assert len(caplog.records) == 4
    clock.now = 61.0
    assert summaries.tick() == 4
    assert "(other): 193 more" in caplog.records[-1].getMessage()
