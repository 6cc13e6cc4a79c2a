"""Graph at internet distance (issue 13): requests in flight sized to the round trip.

Graph is the emulator in-process, put 0, 100 or 250 ms away by ``benchmarks.round_trip`` (half the
round trip each way, on the simulated clock shared by bridge and emulator), so the figures are
simulated seconds: what the publisher's concurrency allows, not this machine's CPU.

- **answers**: 200 people answer at once (one ``desire`` each into the tenant's publisher as the
  service builds it; budget raised to 12,000 / 30 s and the emulator's limit to 15,000 so the
  budget is not the limit): simulated seconds until Teams shows every one of them Busy. Beside it the
  publisher held to 4 requests in flight (``max_in_flight: 4``), what the fixed 4 workers allowed.
- **cold start**: ``benchmarks.cold_start``'s 10,000-person restart (default budget 1,200 / 30 s,
  emulator limit 1,500) at 100 and 250 ms: time to converge against the budget's minimum (the
  writes needed / the budget's rate, 40/s) with its bar of 1.15x, and the 429s (bar 0).
"""

from __future__ import annotations

import asyncio
import random
import tempfile
from pathlib import Path

from benchmarks.cold_start import PEOPLE, QUICK_PEOPLE, measure_ours, world
from benchmarks.harness import emulated_graph, our_tenant
from benchmarks.population import bridge_config, people, users
from benchmarks.results import Bar, Result
from bridge.kit.clock import FakeClock
from bridge.presence import IN_A_CALL, TeamsIntent
from bridge.runtime.store import StateStore

NAME = "distance"
RTTS = (0.0, 0.1, 0.25)  # seconds
COLD_RTTS = (0.1, 0.25)
ANSWERS = 200
RAISED_BUDGET = 12_000
RAISED_LIMIT = 15_000
STEP = 0.01  # simulated seconds between looks at Teams
ANSWER_LIMIT = 120.0  # simulated seconds: a bound, not a wait
BUDGET_RATE = 1200 / 30.0  # the cold start's budget, requests/s
BUSY = TeamsIntent(session=IN_A_CALL, reason="in_call")


async def answers(rtt: float, max_in_flight: int | None = None) -> tuple[float, int]:
    """Simulated seconds until all ``ANSWERS`` people show Busy, and the most requests in flight."""
    population = people(ANSWERS)
    config = bridge_config(population, budget_requests=RAISED_BUDGET)
    if max_in_flight is not None:
        tenant_cfg = config.tenants["bench"].model_copy(update={"max_in_flight": max_in_flight})
        config = config.model_copy(update={"tenants": {"bench": tenant_cfg}})
    clock = FakeClock()
    async with emulated_graph(users(population), RAISED_LIMIT, clock, rtt) as graph:
        with StateStore(":memory:") as store:
            tenant = our_tenant(config, graph, store, random.Random(13))
            task = asyncio.create_task(tenant.publisher.run(), name="bench-publisher")
            try:
                for _ in range(int(2 * rtt / STEP) + 10):  # the credential check and first look
                    await clock.advance(STEP)
                start = clock.monotonic()
                for person in population:
                    tenant.publisher.desire(person.object_id, BUSY, "answered")
                state, ids = graph.emu.state, [p.object_id for p in population]
                while clock.monotonic() - start < ANSWER_LIMIT:
                    await clock.advance(STEP)
                    now = clock.now()
                    if all(state.presence(uid, now).pair.availability == "Busy" for uid in ids):
                        break
                took = clock.monotonic() - start
                peak = max(d.peak for d in tenant.publisher.dispatch)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                await tenant.aclose()
    return took, peak


async def cold(rtt: float, count: int) -> tuple[float, int, int, int, int]:
    """Converge seconds, writes needed, 429s, wrong states, lapsed sessions of a cold start ``rtt`` away."""
    with tempfile.TemporaryDirectory(prefix="bench-distance-") as tmp:
        clock = FakeClock()
        w = world(count, clock, Path(tmp))
        ours = await measure_ours(w, clock, Path(tmp) / "state.db", rtt)
    wrong = ours.wrong_at_converge + ours.wrong_after
    return ours.converge_s, ours.min_writes, ours.throttled, wrong, ours.lapses


def run(quick: bool = False) -> list[Result]:
    results: list[Result] = []
    for rtt in RTTS:
        ms = round(rtt * 1000)
        took, peak = asyncio.run(answers(rtt))
        before, _ = asyncio.run(answers(rtt, max_in_flight=4))
        results.append(
            Result(
                NAME,
                f"answers_{ms}ms_s",
                round(took, 2),
                "s (simulated)",
                note=f"{ANSWERS} answer at once, Graph {ms} ms away; most in flight {peak}; "
                f"held to 4 in flight (the old fixed workers): {before:.2f} s",
                extra={"peak_in_flight": float(peak), "fixed_4_s": round(before, 2)},
            )
        )
    count = QUICK_PEOPLE if quick else PEOPLE
    for rtt in COLD_RTTS:
        ms = round(rtt * 1000)
        converge, needed, throttled, wrong, lapses = asyncio.run(cold(rtt, count))
        minimum = needed / BUDGET_RATE
        note = (
            f"{count:,} people, Graph {ms} ms away: converged in {converge:.1f} s; minimum "
            f"{needed:,} writes / {BUDGET_RATE:g}/s = {minimum:.1f} s"
        )
        results += [
            Result(
                NAME,
                f"cold_start_{ms}ms_vs_minimum",
                round(converge / minimum, 3) if minimum else 0.0,
                "x",
                None if quick else Bar("<=", 1.15),
                note=note,
                extra={"converge_s": round(converge, 1), "minimum_s": round(minimum, 1)},
            ),
            Result(NAME, f"cold_start_{ms}ms_throttled_429", throttled, "responses", Bar("==", 0)),
            Result(NAME, f"cold_start_{ms}ms_wrong_states", wrong, "people", Bar("==", 0)),
            Result(NAME, f"cold_start_{ms}ms_session_lapses", lapses, "sessions", Bar("==", 0)),
        ]
    return results
