"""Benchmark latency: quick mode runs and its correctness results hold (no timing asserted)."""

from __future__ import annotations

from benchmarks import latency
from benchmarks.results import Bar, Result


def metrics(results: list[Result]) -> dict[str, Result]:
    return {r.metric: r for r in results}


def test_latency_measures_real_transitions_against_the_p99_bar() -> None:
    results = metrics(latency.run(transitions=5))
    assert results["p99_ms"].bar == Bar("<=", 50.0)
    assert 0 < results["p50_ms"].value <= results["p99_ms"].value <= results["max_ms"].value
    assert results["graph_https_p50_ms"].value > 0 and results["cti_post_p50_ms"].value > 0


def test_percentile_is_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert latency.percentile(values, 50) == 50.0
    assert latency.percentile(values, 99) == 99.0
    assert latency.percentile([7.0], 99) == 7.0
