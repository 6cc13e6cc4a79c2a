"""Benchmark 3: Graph writes per call and per flapping burst, counted at the emulator, beside naive.

Everything real on loopback (HTTPS, msal, the CTI ingress over HTTP); the bridge and the emulator
share one FakeClock, so holds and delays pass at once. Each scenario has its own person, starting
idle; the writes counted are the presence POSTs the emulator accepted for that person until the
bridge is quiet again (the clock moved 5 s past the last event: idle hold and dialing delay passed).

Calls (bar: exactly 2, setPresence then clearPresence; calls shorter than the 4-minute refresh):
answered call (ring, answer, hang up), call with hold/resume, conference, call turned conference,
DND on/off.

Away on/off with ``mapping.away_preferred`` (issue 16; bar: exactly 2, setUserPreferredPresence then
clearUserPreferredPresence; the clear is read first, a read is not a write): its person has a Teams
desktop signed in and Available, as the option is meant for, so the preferred Away shows. The
bridge's mapping switches the option on globally; only this scenario sends away.

Flapping bursts (bar: at most 2): 100 events for one person within one second (10 ms apart on the
clock), alternating two states, starting idle: in_call/idle (off-hook flaps, call waiting,
transfers), ringing/idle, on_hold/in_call, DND on/off, dialing/idle. After every event the bridge is
let finish whatever it would send (nothing queued, nothing in flight) before the next, the worst
case for coalescing: it measures the bridge's rules, not how slow Graph happened to be. An odd burst
(101 DND toggles, ending on) is reported too (informative: the third write is the final state).

The naive bridge (benchmarks/naive.py) gets the same events, on people of its own, against the same
emulator: ``naive_`` metrics, informative.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx

from benchmarks.live import WAIT_LIMIT, BenchmarkError, Live, live_bridge
from benchmarks.naive import NaiveBridge, fetch_token, router
from benchmarks.population import Person, people
from benchmarks.results import Bar, Result
from bridge.emulator.config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from bridge.kit.clock import FakeClock
from bridge.model import EndpointKey, LineState, StateChange, Toggle
from bridge.presence import AVAILABLE

NAME = "writes_per_call"
CALL_BAR = Bar("==", 2)
AWAY_BAR = Bar("==", 2)
AWAY_TOGGLE = "away_toggle"
AWAY_MAPPING = "mapping: {away_preferred: true, away_preferred_expiry: PT8H}\n"
FLAP_BAR = Bar("<=", 2)
BURST_EVENTS = 100
BURST_SECONDS = 1.0
QUICK_BURST_EVENTS = 20
SETTLE_SECONDS = 5.0  # past the 3 s idle hold and the 2 s dialing delay

Fields = dict[str, Any]

CALLS: dict[str, tuple[Fields, ...]] = {
    "answered_call": ({"line": "ringing"}, {"line": "in_call"}, {"line": "idle"}),
    "call_with_hold_resume": (
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
AWAY_EVENTS: tuple[Fields, ...] = ({"away": True}, {"away": False})

# name -> the two alternating states (the first one first)
FLAPS: dict[str, tuple[Fields, Fields]] = {
    "flap_in_call_idle": ({"line": "in_call"}, {"line": "idle"}),
    "flap_ringing_idle": ({"line": "ringing"}, {"line": "idle"}),
    "flap_on_hold_in_call": ({"line": "on_hold"}, {"line": "in_call"}),
    "flap_dnd_on_off": ({"dnd": True}, {"dnd": False}),
    "flap_dialing_idle": ({"line": "dialing"}, {"line": "idle"}),
}
ODD_FLAP = "flap_dnd_on_off_odd"  # 101 toggles: ends on a state the burst had left


def _alternate(pair: tuple[Fields, Fields], count: int) -> tuple[Fields, ...]:
    return tuple(pair[n % 2] for n in range(count))


def scenarios(burst_events: int) -> dict[str, tuple[tuple[Fields, ...], float]]:
    """name -> (events, simulated seconds between events)."""
    step = BURST_SECONDS / BURST_EVENTS  # 10 ms: any burst length stays within one second at 100
    out = {name: (events, 0.0) for name, events in CALLS.items()}
    out.update({name: (_alternate(pair, burst_events), step) for name, pair in FLAPS.items()})
    out[ODD_FLAP] = (_alternate(FLAPS["flap_dnd_on_off"], burst_events + 1), step)
    return out


def measured(burst_events: int) -> dict[str, tuple[tuple[Fields, ...], float]]:
    """Every scenario played: ``scenarios`` (fed to the naive bridge event by event, as is) and the
    away on/off cycle (which the naive bridge ignores, as such integrations do)."""
    return {**scenarios(burst_events), AWAY_TOGGLE: (AWAY_EVENTS, 0.0)}


def change(endpoint: EndpointKey, fields: Fields) -> StateChange:
    """The canonical event a CTI body of ``fields`` stands for (what the naive bridge is fed)."""
    if "dnd" in fields:
        return StateChange(endpoint, dnd=Toggle.ON if fields["dnd"] else Toggle.OFF)
    if "away" in fields:
        return StateChange(endpoint, away=Toggle.ON if fields["away"] else Toggle.OFF)
    return StateChange(endpoint, line=LineState(fields["line"]))


async def _quiet(live: Live) -> None:
    """Wait (bounded, real time) until the publisher has nothing queued and nothing in flight."""
    publishers = [t.publisher for t in live.service.tenants.values()]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_LIMIT
    while any(p.stats()["publisher_queued"] or p.stats()["publisher_in_flight"] for p in publishers):
        if loop.time() > deadline:
            raise BenchmarkError("the publisher never went quiet")
        await asyncio.sleep(0.001)


async def _play(
    live: Live,
    clock: FakeClock,
    naive: NaiveBridge,
    pair: tuple[Person, Person],
    events: tuple[Fields, ...],
    step: float,
) -> None:
    ours, theirs = pair
    desk, naive_desk = ours.endpoints[0], theirs.endpoints[0]
    for fields in events:
        await live.send(ours.extension, device=desk.device, **fields)
        await naive.handle(change(naive_desk, fields))
        await _quiet(live)
        if step:
            await clock.advance(step)
            await _quiet(live)
    for _ in range(int(SETTLE_SECONDS / 0.5)):
        await clock.advance(0.5)
        await _quiet(live)
    await live.until_idle()


async def _naive_bridge(live: Live, client: httpx.AsyncClient) -> NaiveBridge:
    handle = live.handle
    token = await fetch_token(client, handle.authority_url, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
    return NaiveBridge(client, handle.graph_url, token, DEFAULT_CLIENT_ID, router(live.service.config))


def _pairs(population: tuple[Person, ...], count: int) -> Iterator[tuple[Person, Person]]:
    return zip(population[:count], population[count:], strict=True)


async def measure(burst_events: int = BURST_EVENTS) -> dict[str, tuple[list[str], list[str]]]:
    """name -> (our writes, the naive bridge's writes), as the emulator accepted them."""
    plan = measured(burst_events)
    population = people(2 * len(plan))
    clock = FakeClock(datetime.now(UTC))
    seen: dict[str, tuple[list[str], list[str]]] = {}
    async with live_bridge(population, clock, mapping=AWAY_MAPPING) as live:
        trust = ssl.create_default_context(cafile=str(live.handle.ca_file))
        async with httpx.AsyncClient(verify=trust, trust_env=False, timeout=10.0) as client:
            naive = await _naive_bridge(live, client)
            for (ours, theirs), (name, (events, step)) in zip(
                _pairs(population, len(plan)), plan.items(), strict=True
            ):
                if name == AWAY_TOGGLE:
                    for person in (ours, theirs):  # a Teams desktop signed in, Available
                        live.emulator.state.set_session(
                            person.object_id,
                            "teams-desktop",
                            AVAILABLE,
                            clock.now(),
                            expires_in=None,
                            fades=False,
                        )
                await _play(live, clock, naive, (ours, theirs), events, step)
                seen[name] = (live.writes(ours.object_id), live.writes(theirs.object_id))
    return seen


def _summary(writes: list[str]) -> str:
    if len(writes) <= 4:
        return " + ".join(writes) or "none"
    kinds = sorted(set(writes))
    return ", ".join(f"{writes.count(k)} {k}" for k in kinds)


def run(quick: bool = False) -> list[Result]:
    burst = QUICK_BURST_EVENTS if quick else BURST_EVENTS
    seen = asyncio.run(measure(burst))
    plan = measured(burst)
    results: list[Result] = []
    for name, (ours, _) in seen.items():
        events = len(plan[name][0])
        if name in CALLS:
            bar: Bar | None = CALL_BAR
        elif name == AWAY_TOGGLE:
            bar = AWAY_BAR
        elif name in FLAPS:
            bar = FLAP_BAR
        else:
            bar = None
        one_by_one = name in CALLS or name == AWAY_TOGGLE
        note = _summary(ours) if one_by_one else f"{events} events 10 ms apart: {_summary(ours)}"
        extra = {"events": float(events)}
        results.append(Result(NAME, name, float(len(ours)), "writes", bar, note=note, extra=extra))
    for name, (_, naive) in seen.items():
        results.append(Result(NAME, f"naive_{name}", float(len(naive)), "writes", note=_summary(naive)))
    return results
