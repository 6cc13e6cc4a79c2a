"""Graph cost and memory benchmarks in quick mode: the write counts are correctness results, asserted."""

from __future__ import annotations

import pytest

from benchmarks import memory, writes_per_call
from benchmarks.results import Result


@pytest.fixture(scope="module")
def cost() -> dict[str, Result]:
    return {r.metric: r for r in writes_per_call.run(quick=True)}


@pytest.mark.parametrize("name", list(writes_per_call.CALLS))
def test_every_call_costs_exactly_a_set_and_a_clear(cost: dict[str, Result], name: str) -> None:
    result = cost[name]
    assert result.bar == writes_per_call.CALL_BAR and result.passed
    assert result.value == 2 and result.note == "setPresence + clearPresence"


@pytest.mark.parametrize("name", list(writes_per_call.FLAPS))
def test_a_flapping_burst_costs_at_most_two_writes(cost: dict[str, Result], name: str) -> None:
    result = cost[name]
    assert result.bar == writes_per_call.FLAP_BAR and result.passed and result.value <= 2


def test_flaps_cost_what_the_mapping_says(cost: dict[str, Result]) -> None:
    assert cost["flap_in_call_idle"].value == 2  # busy at once, cleared after the idle hold
    assert cost["flap_dnd_on_off"].value == 2  # on at once, the final off at the window's end
    assert cost["flap_on_hold_in_call"].value == 1  # one pair throughout
    assert cost["flap_ringing_idle"].value == 0  # ringing: no change
    assert cost["flap_dialing_idle"].value == 0  # never dialing for the 2 s delay


def test_an_odd_burst_still_lands_its_final_state_with_one_more_write(cost: dict[str, Result]) -> None:
    result = cost[writes_per_call.ODD_FLAP]
    assert result.bar is None
    assert result.note.endswith("setPresence + clearPresence + setPresence")


def test_naive_writes_once_per_event_beside_ours(cost: dict[str, Result]) -> None:
    for name, (events, _) in writes_per_call.scenarios(writes_per_call.QUICK_BURST_EVENTS).items():
        naive = cost[f"naive_{name}"]
        assert naive.bar is None and naive.value == len(events)


def test_an_away_cycle_costs_exactly_a_preferred_set_and_clear_beside_a_naive_bridge_that_ignores_it(
    cost: dict[str, Result],
) -> None:
    """Issue 16: with ``away_preferred``, away on/off sets and clears the user's preferred Away."""
    result = cost[writes_per_call.AWAY_TOGGLE]
    assert result.bar == writes_per_call.AWAY_BAR and result.passed and result.value == 2
    assert result.note == "setUserPreferredPresence + clearUserPreferredPresence"
    naive = cost[f"naive_{writes_per_call.AWAY_TOGGLE}"]
    assert naive.value == 0 and naive.note == "none"


def test_memory_quick_mode_measures_a_fresh_interpreter_and_reports_its_parts() -> None:
    results = {r.metric: r for r in memory.run(quick=True)}
    resident = results["resident_mb"]
    assert resident.bar is None  # the bar is for 10,000 users, full mode only
    assert resident.extra["people"] == memory.QUICK_RSS_PEOPLE and resident.extra["endpoints"] > 1_000
    assert "500 desired sessions queued" in resident.note  # half the people in a call, queued
    after_imports = results["resident_after_imports_mb"].value
    assert 0 < after_imports < resident.value <= results["resident_peak_mb"].value
    assert results["engine_publisher_mib_per_1000_people"].value > 0
