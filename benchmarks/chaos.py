"""``python -m benchmarks.chaos``: the long chaos run (issue 10), 5,000 seeds by default.

The same seeded runs as ``tests/chaos`` (the real bridge, the Graph emulator over HTTPS, the
generic CTI adapter over loopback or, every fourth seed, the Asterisk adapter against a fake FreePBX
with Teams -> PBX on; kills, restarts, Graph faults, ``release``; invariants checked at every
quiescent point), only many more of them. Prints progress, then the seeds run and every violating
seed with its story (replay one with ``CHAOS_SEED=N pytest tests/chaos``); exits 1 on any
violation. Not part of ``python -m benchmarks``: one event loop, so CPU-bound on one core (about
0.45 s a seed, an AMI seed ~0.9 s, a CTI one ~0.3 s); run chunks side by side (``--first``) to use
more cores.

    python -m benchmarks.chaos [--seeds 5000] [--first 0] [--concurrency 10]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from pathlib import Path

from tests.chaos.seeds import run_seeds

CHUNK = 100  # seeds per progress line


async def main(seeds: int, first: int, concurrency: int) -> int:
    started = time.perf_counter()
    ran, failures = 0, {}
    with tempfile.TemporaryDirectory(prefix="chaos-") as tmp:
        root = Path(tmp)
        tls = root / "tls"
        tls.mkdir()
        for start in range(first, first + seeds, CHUNK):
            chunk = range(start, min(start + CHUNK, first + seeds))
            done, failed = await run_seeds(chunk, tls, root / f"runs-{start}", concurrency=concurrency)
            ran += done
            failures.update(failed)
            for seed in sorted(failed):
                print(f"\n{failed[seed]}\n", flush=True)
            elapsed = time.perf_counter() - started
            print(f"chaos: {ran} seeds run, {len(failures)} violating, {elapsed:.0f} s", flush=True)
    print(f"\nchaos: seeds {first}..{first + seeds - 1}: {ran} run, {len(failures)} invariant violation(s)")
    if failures:
        print("violating seeds: " + ", ".join(map(str, sorted(failures))))
    return 1 if failures else 0


def cli() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.chaos", description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5000)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)  # the runs' own warnings (faults are on purpose)
    return asyncio.run(main(args.seeds, args.first, args.concurrency))


if __name__ == "__main__":
    sys.exit(cli())
