"""Benchmark overload cold start: quick mode runs and its correctness results hold (no timing asserted)."""

from __future__ import annotations

from benchmarks import overload
from benchmarks.results import Result


def metrics(results: list[Result]) -> dict[str, Result]:
    return {r.metric: r for r in results}


def test_overload_in_quick_mode_has_no_429_no_lapse_and_converges() -> None:
    results = metrics(overload.run(quick=True))
    assert results["throttled_429"].value == 0
    assert results["session_lapses"].value == 0
    assert results["wrong_final_states"].value == 0
    assert results["max_staleness_s"].bar is None and results["max_staleness_s"].value > 0


def test_lapse_detection_counts_a_session_left_past_its_expiry() -> None:
    log = overload.RequestLog(inner=None, clock=None)  # type: ignore[arg-type]
    log.entries = [
        (0.0, "kept", "setPresence", 200),
        (240.0, "kept", "setPresence", 200),
        (0.0, "lapsed", "setPresence", 200),
        (1000.0, "lapsed", "setPresence", 200),
        (0.0, "cleared", "setPresence", 200),
        (10.0, "cleared", "clearPresence", 200),
    ]
    assert log.lapses(expiry=900.0, until=300.0) == 1
