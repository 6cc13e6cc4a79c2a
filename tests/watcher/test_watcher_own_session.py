"""The watcher never takes our own session for the person's Teams (README "No loops"), also when it
cannot tell which session of ours Graph holds, or when ours changes while a read is on its way.

``held_for_us`` is checked against README's rule as a table: a reading is explained by the session
Graph confirmed holding for us; while a write is due or unanswered, or before the publisher has
taken back what a previous run left, Teams may show either of two sessions of ours.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from adapters.base import WriteBack
from bridge.presence import IN_A_CALL, PRESENTING, Pair
from bridge.teams.plan_types import PublishView
from bridge.teams.watcher import HOLD_DOWN, UNSURE, Ours, Watcher, held_for_us
from tests.watcher.test_watcher_emulator import BOB, R, World, person, world


def bob_watched(w: World, ours: Callable[[str], Ours]) -> Watcher:
    """A watcher of Bob whose publisher stand-in is ``ours``."""
    return Watcher(
        tenant="contoso",
        graph=w.graph,
        budget=w.budget,
        clock=w.clock,
        people=[person(BOB, "1002")],
        ours=ours,
        apply=w.apply,
    )


def view(sent: Pair | None, pending: bool, preferred: Pair | None = None) -> PublishView:
    return PublishView(None, "", sent, preferred, None, pending, 0.0, None, False)


@pytest.mark.parametrize(
    ("sent", "pending", "reconciled", "expected"),
    [
        (PRESENTING, False, True, PRESENTING),  # confirmed, nothing on its way: ours
        (None, False, True, None),  # nothing of ours in Teams
        (None, True, True, UNSURE),  # a write due or unanswered: old or new may show
        (IN_A_CALL, True, True, UNSURE),
        (None, False, False, UNSURE),  # a previous run's session not yet taken back
    ],
    ids=["confirmed", "none", "write-on-its-way", "replacing", "not-reconciled"],
)
def test_held_for_us(sent: Pair | None, pending: bool, reconciled: bool, expected: Ours) -> None:
    assert held_for_us(view(sent, pending), reconciled) == expected


def test_a_preferred_presence_of_ours_is_what_teams_shows_of_ours() -> None:
    """README: a status chosen by hand (ours, with ``dnd_preferred``) beats every session."""
    dnd = Pair("DoNotDisturb", "DoNotDisturb")
    assert held_for_us(view(PRESENTING, False, preferred=dnd), True) == dnd
    assert held_for_us(view(PRESENTING, True, preferred=dnd), True) == UNSURE


async def test_our_session_cleared_while_the_first_read_was_on_its_way_is_not_reflected() -> None:
    """First round after a start: our DoNotDisturb/Presenting is cleared (confirmed) between the read
    and its answer, so the answer still shows it while ``ours`` already says none."""
    async with world() as w:
        w.our_session(BOB, PRESENTING)

        def ours(uid: str) -> Ours:
            return PRESENTING if w.journal_reads() == 0 else None  # the clear lands during the read

        watcher = bob_watched(w, ours)
        await watcher.poll()
        assert w.take() == []  # before the fix: routable presenting, our own session
        w.our_session(BOB, None)
        w.teams(BOB, IN_A_CALL)  # the person's own Teams call, once the hold-down is over
        await w.clock.advance(HOLD_DOWN)
        await watcher.poll()
        assert w.take() == [(f"key-{BOB}", [WriteBack("1002", "from-internal", routable=R.CALL)])]


async def test_nothing_is_reflected_while_ours_is_unsure_and_the_persons_own_state_after() -> None:
    async with world() as w:
        w.our_session(BOB, PRESENTING)
        unsure = True

        def ours(uid: str) -> Ours:
            return UNSURE if unsure else PRESENTING

        watcher = bob_watched(w, ours)
        for _ in range(3):
            await watcher.poll()
            await w.clock.advance(10)
        assert w.take() == []
        unsure = False  # Graph confirmed our DoNotDisturb/Presenting: explained, still nothing
        await watcher.poll()
        await w.clock.advance(HOLD_DOWN)
        await watcher.poll()
        assert w.take() == []
