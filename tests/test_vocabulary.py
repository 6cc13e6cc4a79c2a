"""Whole-table invariants of the shared vocabularies (model and Teams pairs)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bridge.kit.clock import FakeClock
from bridge.model import LINE_BUSYNESS, LINE_RANK, LineState
from bridge.presence import (
    AVAILABILITY_RANK,
    PREFERRED_PAIRS,
    SESSION_PAIRS,
    Pair,
    TeamsIntent,
    preferred_default_expiry,
)


def test_busyness_order_is_the_designed_one() -> None:
    assert LINE_BUSYNESS[0] is LineState.IN_CONFERENCE
    assert LINE_RANK[LineState.IN_CALL] > LINE_RANK[LineState.ON_HOLD] > LINE_RANK[LineState.DIALING]
    assert LINE_RANK[LineState.UNKNOWN] > LINE_RANK[LineState.IDLE] > LINE_RANK[LineState.UNAVAILABLE]
    assert len(set(LINE_RANK.values())) == len(LineState)


def test_exact_graph_pair_sets() -> None:
    assert {str(p) for p in SESSION_PAIRS} == {
        "Available/Available",
        "Busy/InACall",
        "Busy/InAConferenceCall",
        "Away/Away",
        "DoNotDisturb/Presenting",
    }
    assert {str(p) for p in PREFERRED_PAIRS} == {
        "Available/Available",
        "Busy/Busy",
        "DoNotDisturb/DoNotDisturb",
        "BeRightBack/BeRightBack",
        "Away/Away",
        "Offline/OffWork",
    }
    for pair in SESSION_PAIRS | PREFERRED_PAIRS:
        assert pair.availability in AVAILABILITY_RANK


@pytest.mark.parametrize("text", ["Busy", "Busy/", "/InACall", "a/b/c", ""])
def test_pair_parse_rejects_bad_shapes(text: str) -> None:
    with pytest.raises(ValueError, match="Availability/Activity"):
        Pair.parse(text)


def test_intent_refuses_pairs_graph_would_reject() -> None:
    with pytest.raises(ValueError, match="not a setPresence pair"):
        TeamsIntent(session=Pair("Busy", "Busy"))
    with pytest.raises(ValueError, match="needs an expiry"):
        TeamsIntent(preferred=Pair("DoNotDisturb", "DoNotDisturb"))
    assert preferred_default_expiry(Pair("Busy", "Busy")) == timedelta(days=1)
    assert preferred_default_expiry(Pair("Away", "Away")) == timedelta(days=7)


async def test_fake_clock_wakes_sleepers_in_deadline_order() -> None:
    import asyncio

    clock = FakeClock()
    woke: list[str] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(f"{name}@{clock.monotonic() - 1000:.0f}")

    tasks = [asyncio.create_task(sleeper("b", 5)), asyncio.create_task(sleeper("a", 2))]
    await clock.advance(3)
    assert woke == ["a@2"]
    await clock.advance(10)
    assert woke == ["a@2", "b@5"]
    await asyncio.gather(*tasks)
