"""``python -m benchmarks``: run every benchmark, one line per result, a summary, non-zero on a failed bar.

``python -m benchmarks policy_throughput latency`` runs only the named ones; ``--quick`` runs each
in its reduced mode (seconds, for a smoke check; the numbers are not the published ones).
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import platform
import sys
import time
from collections.abc import Callable, Mapping

from benchmarks import latency, memory, overload, policy_throughput, writes_per_call
from benchmarks.results import Result, failures, summary

Runner = Callable[[bool], list[Result]]

BENCHMARKS: dict[str, Runner] = {
    "policy_throughput": lambda quick: (
        policy_throughput.run(500, 20_000) if quick else policy_throughput.run()
    ),
    "latency": lambda quick: latency.run(transitions=20 if quick else latency.TRANSITIONS),
    "writes_per_call": lambda quick: writes_per_call.run(),
    "overload": lambda quick: overload.run(quick=quick),
    "memory": lambda quick: memory.run(people_count=200 if quick else memory.PEOPLE),
    "emulator_rps": lambda quick: emulator_rps(),
}


def emulator_rps() -> list[Result]:
    """The emulator's own throughput (another module's ``main() -> dict``), informative, if present."""
    if importlib.util.find_spec("benchmarks.emulator_rps") is None:
        print("note: benchmarks/emulator_rps.py is not there yet; skipped")
        return []
    module = importlib.import_module("benchmarks.emulator_rps")
    numbers: dict[str, float] = module.main()
    return [
        Result("emulator_rps", key, value, "req/s" if key.endswith("_rps") else "")
        for key, value in numbers.items()
    ]


def machine() -> str:
    cores = len(os.sched_getaffinity(0))
    return f"{platform.processor() or platform.machine()}, {cores} cores, Python {platform.python_version()}"


def main(argv: list[str] | None = None, benchmarks: Mapping[str, Runner] = BENCHMARKS) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"run only these: {', '.join(BENCHMARKS)}")
    parser.add_argument("--quick", action="store_true", help="reduced mode (smoke check)")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in benchmarks]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(benchmarks)}")
    logging.basicConfig(level=logging.WARNING)
    print(f"presence-bridge benchmarks on {machine()}{' (quick mode)' if args.quick else ''}")
    results: list[Result] = []
    for name in args.names or list(benchmarks):
        began = time.perf_counter()
        produced = benchmarks[name](args.quick)
        for result in produced:
            print(result.line(), flush=True)
        print(f"      ({name}: {time.perf_counter() - began:.1f} s)", flush=True)
        results += produced
    print("summary: " + summary(results))
    return 1 if failures(results) else 0


if __name__ == "__main__":
    sys.exit(main())
