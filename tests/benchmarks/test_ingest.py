"""Benchmark ingest: quick mode runs and its correctness results hold (no timing asserted)."""

from __future__ import annotations

import pytest

from benchmarks import policy_throughput
from benchmarks.results import Result


def metrics(results: list[Result]) -> dict[str, Result]:
    return {r.metric: r for r in results}


def test_policy_throughput_reports_both_mixes_against_the_bar() -> None:
    results = metrics(policy_throughput.run(people_count=100, event_count=2_000))
    assert set(results) == {"calls_events_per_s", "mixed_events_per_s"}
    for result in results.values():
        assert result.bar == policy_throughput.BAR and result.value > 0
        assert result.extra["events"] == 2_000 and result.extra["transitions"] > 0


def test_event_mixes_are_realistic_call_lifecycles() -> None:
    population = policy_throughput.people(50)
    calls = policy_throughput.events(population, 5_000, "calls")
    assert all(e.line is not None and e.dnd is None for e in calls)
    mixed = policy_throughput.events(population, 5_000, "mixed")
    assert any(e.dnd is not None for e in mixed) and any(e.away is not None for e in mixed)
    with pytest.raises(ValueError, match="unknown mix"):
        policy_throughput.events(population, 1, "weekend")
