"""Overload: 3,000 changes for 2,000 people within 30 s against a 1,500 / 30 s Graph limit."""

from __future__ import annotations

import random

from bridge.kit.clock import FakeClock
from bridge.presence import CLEAR, IN_A_CALL, IN_A_CONFERENCE_CALL, TeamsIntent
from bridge.runtime.store import StateStore

from .fake_graph import FakeGraph
from .helpers import CLIENT_ID
from .rig import build, running

INTENTS = (
    TeamsIntent(session=IN_A_CALL, reason="in_call"),
    TeamsIntent(session=IN_A_CONFERENCE_CALL, reason="conference"),
    CLEAR,
)


async def test_overload_is_paced_without_429_and_converges() -> None:
    clock = FakeClock()
    fake = FakeGraph(clock, rate_limit=1500, window=30)
    rng = random.Random(3)
    people = [f"user-{n:04d}" for n in range(2000)]
    final: dict[str, TeamsIntent] = {}
    with StateStore(":memory:") as store:
        async with running(build(clock, store, fake=fake)) as rig:
            for second in range(30):
                for _ in range(100):
                    person = rng.choice(people)
                    intent = rng.choice(INTENTS)
                    rig.pub.desire(person, intent, f"change at {second}s")
                    final[person] = intent
                await clock.advance(1)
            for _ in range(20 * 60 // 5):  # twenty minutes: beyond one session expiry
                await clock.advance(5)
            assert fake.throttled == 0
            assert fake.busiest_window() <= rig.budget.max_requests  # our own budget held
            assert rig.pub.stats()["publisher_pending"] == 0
            wrong = [p for p, i in final.items() if fake.session(p, CLIENT_ID) != i.session]
            assert wrong == []
            assert fake.lapses == []
            assert rig.pub.stats()["publisher_refreshes"] > 0
