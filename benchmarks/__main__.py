"""``python -m benchmarks``: run every benchmark, one line per result as it comes, then a markdown
table (ours beside the naive baseline too), a JSON file, and a non-zero exit status on a failed bar.

``python -m benchmarks latency overload`` runs only the named ones; ``--quick`` runs each in its
reduced mode (seconds, for a smoke check; the numbers are not the published ones); ``--json PATH``
chooses where the JSON goes (default ``benchmark-results.json``; ``-`` for none).
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import platform
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.report import as_json, markdown
from benchmarks.results import Result, failures, summary

Runner = Callable[[bool], list[Result]]


def _module(name: str) -> Runner:
    """The ``run(quick=...)`` of ``benchmarks.<name>``, imported when it runs."""

    def run(quick: bool) -> list[Result]:
        results: list[Result] = importlib.import_module(f"benchmarks.{name}").run(quick=quick)
        return results

    return run


def emulator_rps(quick: bool) -> list[Result]:
    """The Graph emulator's own throughput, informative."""
    module = importlib.import_module("benchmarks.emulator_rps")
    numbers: dict[str, float] = module.main(quick=quick)
    return [
        Result("emulator_rps", key, value, "req/s" if key.endswith("_rps") else "")
        for key, value in numbers.items()
    ]


BENCHMARKS: dict[str, Runner] = {
    "policy_throughput": _module("policy_throughput"),
    "ami_ingest": _module("ami_ingest"),
    "latency": _module("latency"),
    "writes_per_call": _module("writes_per_call"),
    "overload": _module("overload"),
    "cold_start": _module("cold_start"),
    "memory": _module("memory"),
    "hostile_listener": _module("hostile_listener"),
    "graph_storm": _module("graph_storm"),
    "emulator_rps": emulator_rps,
}


def machine() -> str:
    cores = len(os.sched_getaffinity(0))
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {cores} cores, {platform.system()}, CPython {platform.python_version()}"


def main(argv: list[str] | None = None, benchmarks: Mapping[str, Runner] = BENCHMARKS) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"run only these: {', '.join(benchmarks)}")
    parser.add_argument("--quick", action="store_true", help="reduced mode (smoke check)")
    parser.add_argument("--json", default="benchmark-results.json", metavar="PATH", help="'-' for none")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in benchmarks]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(benchmarks)}")
    logging.basicConfig(level=logging.WARNING)
    where = machine()
    started = datetime.now(UTC)
    print(f"presence-bridge benchmarks on {where}{' (quick mode)' if args.quick else ''}")
    results: list[Result] = []
    durations: dict[str, float] = {}
    for name in args.names or list(benchmarks):
        began = time.perf_counter()
        produced = benchmarks[name](args.quick)
        durations[name] = round(time.perf_counter() - began, 1)
        for result in produced:
            print(result.line(), flush=True)
        print(f"      ({name}: {durations[name]:.1f} s)", flush=True)
        results += produced
    print()
    print(markdown(results, where))
    if args.json != "-":
        meta = {"machine": where, "started": started.isoformat(), "quick": args.quick, "seconds": durations}
        Path(args.json).write_text(json.dumps(as_json(results, meta), indent=2) + "\n")
        print(f"\nJSON: {args.json}")
    print("summary: " + summary(results))
    return 1 if failures(results) else 0


if __name__ == "__main__":
    sys.exit(main())
