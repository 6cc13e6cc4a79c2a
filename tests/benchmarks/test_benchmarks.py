"""Each benchmark runs in a reduced mode and reports what the docs table promises; bars decide the exit code.

Timing is not asserted here (that is what ``python -m benchmarks`` is for); correctness results are.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.__main__ import BENCHMARKS, main
from benchmarks.report import comparison_table
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
    assert main(["--json", "-"], fine) == 0
    assert main(["--json", "-"], broken) == 1
    assert main(["ok", "--json", "-"], broken) == 0  # only the named one ran
    out = capsys.readouterr().out
    assert "FAIL  bad.n = 2" in out and "FAILED: bad.n" in out


def test_unknown_benchmark_name_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["no_such_benchmark"])
    assert exc.value.code == 2


def test_every_benchmark_of_the_issue_is_registered() -> None:
    assert set(BENCHMARKS) >= {
        "policy_throughput",
        "ami_ingest",
        "latency",
        "writes_per_call",
        "overload",
        "cold_start",
        "memory",
    }


def test_the_run_prints_a_markdown_table_with_naive_beside_ours_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = {
        "cost": lambda quick: [
            Result("cost", "writes_per_call", 2, "writes", Bar("==", 2), note="ring, answer, hang up"),
            Result("cost", "naive_writes_per_call", 3, "writes"),
        ]
    }
    out_file = tmp_path / "out.json"
    assert main(["--json", str(out_file)], fake) == 0
    out = capsys.readouterr().out
    assert "| cost | writes_per_call | 2 writes | == 2 | PASS | ring, answer, hang up |" in out
    assert "| cost | writes_per_call | 2 writes | 3 writes |" in out  # ours beside naive
    document = json.loads(out_file.read_text())
    assert document["quick"] is False and "cores" in document["machine"]
    assert [r["metric"] for r in document["results"]] == ["writes_per_call", "naive_writes_per_call"]
    assert document["results"][0]["bar"] == "== 2" and document["results"][0]["verdict"] == "PASS"


def test_no_comparison_table_when_nothing_has_a_naive_twin() -> None:
    assert comparison_table([Result("a", "x", 1.5, "ms")]) == ""
