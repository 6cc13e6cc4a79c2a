"""Benchmark graph cost: quick mode runs and its correctness results hold (no timing asserted)."""

from __future__ import annotations

from benchmarks import memory, writes_per_call
from benchmarks.results import Result


def metrics(results: list[Result]) -> dict[str, Result]:
    return {r.metric: r for r in results}


def test_an_answered_call_a_conference_and_a_dnd_toggle_cost_two_writes_each() -> None:
    results = metrics(writes_per_call.run())
    assert set(results) == set(writes_per_call.SCENARIOS)
    for result in results.values():
        assert result.value == 2 and result.passed
        assert result.note == "setPresence + clearPresence"


def test_memory_reports_per_thousand_people_without_a_bar() -> None:
    results = metrics(memory.run(people_count=100))
    per_person = results["engine_publisher_mib_per_1000_people"]
    assert per_person.bar is None and per_person.value > 0
    assert results["config_mib_per_1000_people"].value > 0
