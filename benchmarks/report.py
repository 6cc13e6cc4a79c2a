"""A benchmark run as a markdown table and as JSON (pure: no clock, no I/O).

Two tables: every result with its bar and verdict, then ours beside the naive baseline: every
metric ``m`` of a benchmark that also reports ``naive_m`` (the naive bridge through the same
scenario, benchmarks/naive.py) gets one row with both values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from benchmarks.results import Result, summary

NAIVE = "naive_"


def _value(result: Result) -> str:
    value = result.value
    if isinstance(value, float) and not value.is_integer():
        text = f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    else:
        text = f"{int(value):,}"
    return f"{text} {result.unit}".strip()


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def results_table(results: Sequence[Result]) -> str:
    """Every result: benchmark, metric, value, bar, verdict, setup note."""
    lines = ["| benchmark | metric | value | bar | verdict | setup |", "|---|---|---|---|---|---|"]
    for r in results:
        bar = str(r.bar) if r.bar else ""
        lines.append(
            f"| {r.benchmark} | {r.metric} | {_cell(_value(r))} | {bar} | {r.verdict} | {_cell(r.note)} |"
        )
    return "\n".join(lines)


def comparison_table(results: Sequence[Result]) -> str:
    """Ours beside the naive baseline, for every metric both report; empty when none do."""
    by_key = {(r.benchmark, r.metric): r for r in results}
    rows = []
    for r in results:
        if r.metric.startswith(NAIVE):
            continue
        naive = by_key.get((r.benchmark, NAIVE + r.metric))
        if naive is not None:
            rows.append(f"| {r.benchmark} | {r.metric} | {_cell(_value(r))} | {_cell(_value(naive))} |")
    if not rows:
        return ""
    header = ["| benchmark | metric | presence-bridge | naive bridge |", "|---|---|---|---|"]
    return "\n".join(header + rows)


def markdown(results: Sequence[Result], machine: str) -> str:
    parts = [f"**Machine:** {machine}", "", results_table(results)]
    comparison = comparison_table(results)
    if comparison:
        parts += ["", "**Beside the naive baseline**", "", comparison]
    parts += ["", f"Summary: {summary(results)}"]
    return "\n".join(parts)


def as_json(results: Sequence[Result], meta: Mapping[str, Any]) -> dict[str, Any]:
    """The run as a JSON-ready document: ``meta`` (machine, when, mode...) plus every result."""
    return {
        **meta,
        "summary": summary(results),
        "results": [
            {
                "benchmark": r.benchmark,
                "metric": r.metric,
                "value": r.value,
                "unit": r.unit,
                "bar": str(r.bar) if r.bar else None,
                "verdict": r.verdict,
                "note": r.note,
                "extra": dict(r.extra),
            }
            for r in results
        ],
    }
