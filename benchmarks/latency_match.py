"""Which events publish at once, and which Graph request each of them caused (no I/O, no clock).

**Prediction.** The bridge's own core (``bridge.runtime.engine.Engine``, no store) replays the
schedule on a simulated monotonic clock set to each event's planned send time; timers fire in
between as they would live. An event is *measured* when the engine, while handling that very
event, tells the publisher about a new Teams target for its person: that is a Graph write the
bridge sends at once. Writes caused by timers (a hang-up's ``clearPresence`` after the 3 s idle
hold) are not measured. The schedule keeps every event far from a policy threshold
(``latency_schedule``), so the live bridge decides the same.

**Matching rule.** A measured event for person P, written to the socket at ``sent``, is matched to
the first presence write for P's Graph user id (``setPresence``, ``clearPresence``,
``setUserPreferredPresence``, ``clearUserPreferredPresence``) whose arrival at the emulator is at
or after ``sent`` and that no earlier event of P was matched to. Its latency is arrival - sent.
An event with no such request is *unmatched* (the benchmark reports it; the test requires none).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from adapters.base import AdapterEvent
from bridge.config import BridgeConfig
from bridge.presence import TeamsIntent
from bridge.runtime.engine import Engine

WRITES = frozenset({"setPresence", "clearPresence", "setUserPreferredPresence", "clearUserPreferredPresence"})


@dataclass(frozen=True, slots=True)
class Measured:
    index: int  # position in the sent schedule
    user_id: str


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), nearest rank."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def predict(
    config: BridgeConfig,
    events: Iterable[tuple[float, Sequence[AdapterEvent]]],
    prelude: Sequence[AdapterEvent] = (),
) -> tuple[list[Measured], int]:
    """Measured events (those that publish at once) and the number of timer-driven publishes.

    ``events`` yields, per sent item in order, its planned time and what the adapter emits for it;
    ``prelude`` is what the adapter emits before the first (the AMI resync's snapshot).
    """
    now = [0.0]
    current: list[int | None] = [None]
    measured: list[Measured] = []
    timer_publishes = [0]

    def publish(tenant: str, object_id: str, intent: TeamsIntent, cause: str) -> None:
        if current[0] is None:
            timer_publishes[0] += 1
        else:
            measured.append(Measured(current[0], object_id))

    engine = Engine(config, publish=publish, store=None, monotonic=lambda: now[0])
    engine.decide_all()  # start: nobody has a session, so nothing is written
    for event in prelude:
        engine.handle(event)
    timer_publishes[0] = 0
    for index, (at, emitted) in enumerate(events):
        now[0] = at
        engine.due()
        current[0] = index
        for event in emitted:
            engine.handle(event)
        current[0] = None
    return measured, timer_publishes[0]


@dataclass(frozen=True)
class Matched:
    latencies_ms: list[float]
    unmatched: int
    service_ms: list[float]  # the emulator's own time per matched request (arrival -> response start)


def match(
    measured: Sequence[Measured],
    sent_at: Callable[[int], float],
    stamps: Iterable[tuple[str, str, float, float]],
    *,
    from_time: float = float("-inf"),
) -> Matched:
    """Pair measured events with the Graph requests they caused (module docstring: matching rule).

    Only events sent at or after ``from_time`` (the end of the warm-up) are reported.
    """
    writes: dict[str, list[tuple[float, float]]] = {}
    for user, tail, arrived, answered in stamps:
        if tail in WRITES:
            writes.setdefault(user, []).append((arrived, answered))
    for requests in writes.values():
        requests.sort()
    cursor: dict[str, int] = {}
    latencies: list[float] = []
    service: list[float] = []
    unmatched = 0
    for event in sorted(measured, key=lambda m: sent_at(m.index)):
        sent = sent_at(event.index)
        requests = writes.get(event.user_id, [])
        at = cursor.get(event.user_id, 0)
        while at < len(requests) and requests[at][0] < sent:
            at += 1
        if at == len(requests):
            if sent >= from_time:
                unmatched += 1
            continue
        cursor[event.user_id] = at + 1
        if sent >= from_time:
            arrived, answered = requests[at]
            latencies.append((arrived - sent) * 1000)
            service.append((answered - arrived) * 1000)
    return Matched(latencies, unmatched, service)
