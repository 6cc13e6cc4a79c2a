"""The Graph-storm benchmark in quick mode (seconds of wall time): its bars are correctness results
on simulated time, asserted (issue 11: full budget within 3 minutes of a 30 x 429 storm's end, no
tenant pause beyond the Retry-After, 0 wrong final states, no refresh-capacity alarm)."""

from __future__ import annotations

from benchmarks import graph_storm


def test_quick_storm_and_soak_meet_their_bars() -> None:
    results = {r.metric: r for r in graph_storm.run(quick=True)}
    failed = [f"{r.metric}={r.value}" for r in results.values() if not r.passed]
    assert failed == []
    assert results["full_budget_after_30x429"].value <= 180.0
    assert results["soak_wrong_final_states"].value == 0
    assert results["storm_30x429_limit_at_end"].value >= 600  # a burst halves the budget once
