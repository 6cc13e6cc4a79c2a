"""Benchmark 3: Graph writes per call, counted at the emulator (real HTTPS, real msal, CTI over HTTP).

Scenarios (each on its own person, the bridge's clock is a FakeClock shared with the emulator so
the 3 s idle hold passes at once; the calls are shorter than the 4-minute refresh interval):

- answered call: ring, answer, hold, resume, hang up;
- conference: join a conference bridge, leave it;
- call turned conference: answer, the call becomes a conference, hang up;
- DND toggle: DND on, DND off.

The minimum possible is two writes each (setPresence, then clearPresence); the bar is exactly 2.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from benchmarks.live import Live, live_bridge
from benchmarks.population import Person, people
from benchmarks.results import Bar, Result
from bridge.runtime.clock import FakeClock

NAME = "writes_per_call"
BAR = Bar("==", 2)
IDLE_HOLD_PASSED = 3.5  # seconds of simulated time: past the 3 s idle hold

# name -> the CTI events, in order
SCENARIOS: dict[str, tuple[dict[str, Any], ...]] = {
    "answered_call": (
        {"line": "ringing"},
        {"line": "in_call"},
        {"line": "on_hold"},
        {"line": "in_call"},
        {"line": "idle"},
    ),
    "conference": ({"line": "in_conference"}, {"line": "idle"}),
    "call_turned_conference": (
        {"line": "ringing"},
        {"line": "in_call"},
        {"line": "in_conference"},
        {"line": "idle"},
    ),
    "dnd_toggle": ({"dnd": True}, {"dnd": False}),
}


async def _play(
    live: Live, clock: FakeClock, person: Person, events: tuple[dict[str, Any], ...]
) -> list[str]:
    for fields in events:
        await live.send(person.extension, device="desk", **fields)
        await live.until_idle()
    await clock.advance(IDLE_HOLD_PASSED)
    await live.until(lambda: "clearPresence" in live.writes(person.object_id), f"{person.extension} cleared")
    await live.until_idle()
    return live.writes(person.object_id)


async def measure() -> dict[str, list[str]]:
    population = people(len(SCENARIOS))
    clock = FakeClock(datetime.now(UTC))
    seen: dict[str, list[str]] = {}
    async with live_bridge(population, clock) as live:
        for person, (name, events) in zip(population, SCENARIOS.items(), strict=True):
            seen[name] = await _play(live, clock, person, events)
    return seen


def run() -> list[Result]:
    seen = asyncio.run(measure())
    return [
        Result(NAME, name, float(len(writes)), "writes", BAR, note=" + ".join(writes))
        for name, writes in seen.items()
    ]
