"""Each benchmark runs in a reduced mode and reports what the docs table promises; bars decide the exit code.

Timing is not asserted here (that is what ``python -m benchmarks`` is for); correctness results are.
"""

from __future__ import annotations

import pytest

from benchmarks import latency, memory, overload, policy_throughput, writes_per_call
from benchmarks.__main__ import main
from benchmarks.results import Bar, Result, failures, summary


def metrics(results: list[Result]) -> dict[str, Result]:
    return {r.metric: r for r in results}


@pytest.mark.parametrize(
    ("op", "limit", "value", "met"),
    [
        (">=", 100_000, 100_000, True),
        (">=", 100_000, 99_999, False),
        ("<=", 50, 12.5, True),
        ("<=", 50, 50.1, False),
        ("==", 2, 2, True),
        ("==", 2, 3, False),
    ],
)
def test_bar_decides_pass_and_fail(op: str, limit: float, value: float, met: bool) -> None:
    result = Result("b", "m", value, "u", Bar(op, limit))
    assert result.passed is met
    assert result.verdict == ("PASS" if met else "FAIL")
    assert result.line().startswith(result.verdict)


def test_a_number_without_a_bar_is_informative_and_never_fails() -> None:
    result = Result("memory", "mib", 12.0, "MiB")
    assert result.passed and result.verdict == "info"
    assert failures([result]) == []


def test_unknown_bar_operator_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown bar operator"):
        Bar("<", 1)


def test_summary_names_each_failed_bar() -> None:
    results = [
        Result("a", "x", 1, "", Bar("==", 1)),
        Result("b", "y", 5, "", Bar("<=", 1)),
        Result("c", "z", 9, ""),
    ]
    assert summary(results) == "1/2 quality bars met, 1 informative; FAILED: b.y"


def test_exit_code_is_non_zero_only_when_a_bar_fails(capsys: pytest.CaptureFixture[str]) -> None:
    fine = {"ok": lambda quick: [Result("ok", "n", 1, "", Bar("==", 1))]}
    broken = {**fine, "bad": lambda quick: [Result("bad", "n", 2, "", Bar("==", 1))]}
    assert main([], fine) == 0
    assert main([], broken) == 1
    assert main(["ok"], broken) == 0  # only the named one ran
    out = capsys.readouterr().out
    assert "FAIL  bad.n = 2" in out and "FAILED: bad.n" in out


def test_unknown_benchmark_name_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["no_such_benchmark"])
    assert exc.value.code == 2


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


def test_an_answered_call_a_conference_and_a_dnd_toggle_cost_two_writes_each() -> None:
    results = metrics(writes_per_call.run())
    assert set(results) == set(writes_per_call.SCENARIOS)
    for result in results.values():
        assert result.value == 2 and result.passed
        assert result.note == "setPresence + clearPresence"


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


def test_memory_reports_per_thousand_people_without_a_bar() -> None:
    results = metrics(memory.run(people_count=100))
    per_person = results["engine_publisher_mib_per_1000_people"]
    assert per_person.bar is None and per_person.value > 0
    assert results["config_mib_per_1000_people"].value > 0
