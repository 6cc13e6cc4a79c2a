"""The pure publish planner: intents in, Graph calls out (no event loop, no clock, no Graph).

Expected calls come from the documented rules, not from the planner's tables: README "Default
mapping" and DESIGN 4/5/12 (only the difference is sent; idle clears our session; a whole call costs
two writes; in-call sessions refreshed every 4 minutes), the publisher's flap rule (at most two
writes per person in any ``flap_window``; a later change waits until the older leaves the window,
then the latest is sent; refreshes neither wait nor count) and the restart rule (a restored session
still wanted is refreshed no sooner than 60 s after start, or 120 s before it expires if sooner).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from bridge.presence import (
    CLEAR,
    IN_A_CALL,
    IN_A_CONFERENCE_CALL,
    PRESENTING,
    Pair,
    TeamsIntent,
)
from bridge.teams.ownership import PublishedRecord
from bridge.teams.plan_types import Call, Kind, Op, Outcome

from .planner_sim import T0, TENANT, Sim

BUSY = TeamsIntent(session=IN_A_CALL, reason="in_call")
HELD = TeamsIntent(session=IN_A_CALL, reason="on_hold")
CONF = TeamsIntent(session=IN_A_CONFERENCE_CALL, reason="in_conference")
DND = TeamsIntent(session=PRESENTING, reason="dnd")
PREF_DND = Pair("DoNotDisturb", "DoNotDisturb")
DND_PREF = TeamsIntent(
    session=PRESENTING, preferred=PREF_DND, preferred_expiry=timedelta(hours=8), reason="dnd"
)

SET_BUSY = "setPresence Busy/InACall"
SET_CONF = "setPresence Busy/InAConferenceCall"
SET_DND = "setPresence DoNotDisturb/Presenting"
CLEAR_SESSION = "clearPresence"
REFRESH_BUSY = "setPresence Busy/InACall refresh"


# --- diff: only the difference from what Graph confirmed is sent ---------------------------------

DIFF_ROWS = [
    ("a whole call costs two writes", [BUSY, HELD, BUSY, CLEAR], [SET_BUSY, CLEAR_SESSION]),
    ("conference", [CONF, CLEAR], [SET_CONF, CLEAR_SESSION]),
    ("dnd on and off", [DND, CLEAR], [SET_DND, CLEAR_SESSION]),
    ("idle with nothing of ours: no call", [CLEAR], []),
    ("the same state twice: one write", [BUSY, BUSY], [SET_BUSY]),
    ("call turned conference", [BUSY, CONF, CLEAR], [SET_BUSY, SET_CONF, CLEAR_SESSION]),
    ("dnd during a call", [BUSY, DND, BUSY], [SET_BUSY, SET_DND, SET_BUSY]),
]


@pytest.mark.parametrize(("intents", "expected"), [r[1:] for r in DIFF_ROWS], ids=[r[0] for r in DIFF_ROWS])
def test_each_change_sends_only_the_difference(intents: list[TeamsIntent], expected: list[str]) -> None:
    sim = Sim(flap_window=0.0)
    for n, intent in enumerate(intents):
        sim.desire("alice", intent, at=float(n))
    sim.advance(len(intents))
    assert sim.calls() == expected


LATEST_WINS_ROWS = [
    ("flap ending busy", [BUSY, CLEAR, DND, BUSY], [SET_BUSY]),
    ("flap ending where it started", [BUSY, CLEAR], []),
    ("flap ending dnd", [CLEAR, BUSY, DND], [SET_DND]),
]


@pytest.mark.parametrize(
    ("intents", "expected"), [r[1:] for r in LATEST_WINS_ROWS], ids=[r[0] for r in LATEST_WINS_ROWS]
)
def test_latest_intent_wins_and_nothing_in_between_is_sent(
    intents: list[TeamsIntent], expected: list[str]
) -> None:
    sim = Sim()
    for intent in intents:  # all before any worker ran
        sim.desire("bob", intent)
    sim.advance(5)
    assert sim.calls() == expected
    assert not sim.plan.view("bob", sim.now).pending


def test_writes_take_a_write_slot_and_a_session_carries_the_session_expiry() -> None:
    sim = Sim(session_expiry=timedelta(minutes=15))
    sim.desire("carol", BUSY)
    call = sim.plan.next_write(0.0)
    assert not isinstance(call, float) and call is not None
    assert (call.op, call.kind, call.pair, call.expiry) == (
        Op.SET_PRESENCE,
        Kind.WRITE,
        IN_A_CALL,
        timedelta(minutes=15),
    )


def test_view_shows_what_waits_and_for_how_long() -> None:
    sim = Sim()
    sim.desire("dave", BUSY, at=10.0)
    view = sim.plan.view("dave", 12.5)
    assert view.pending and view.staleness == 2.5 and view.desired == BUSY and view.sent_session is None
    sim.advance(13.0)
    view = sim.plan.view("dave", 13.0)
    assert not view.pending and view.staleness == 0.0 and view.sent_session == IN_A_CALL


# --- flap coalescing: two writes per flap_window, the latest state lands ------------------------

FLAP_ROWS = [
    (
        "a quick on/off goes at once",
        [(0.0, DND), (0.0, CLEAR)],
        [(0.0, SET_DND), (0.0, CLEAR_SESSION)],
    ),
    (
        "the third change waits for the first write to leave the window, then the latest lands",
        [(0.0, BUSY), (0.2, CLEAR), (0.4, DND), (0.5, BUSY)],
        [(0.0, SET_BUSY), (0.2, CLEAR_SESSION), (1.0, SET_BUSY)],
    ),
    (
        "a burst ending where the last write left it writes nothing more",
        [(0.0, BUSY), (0.1, CLEAR), (0.2, DND), (0.3, BUSY), (0.4, DND), (0.5, CLEAR)],
        [(0.0, SET_BUSY), (0.1, CLEAR_SESSION)],
    ),
    (
        "a quiet person's change goes at once",
        [(0.0, BUSY), (5.0, CLEAR), (10.0, DND)],
        [(0.0, SET_BUSY), (5.0, CLEAR_SESSION), (10.0, SET_DND)],
    ),
    (
        "two changes after a quiet second both go at once",
        [(0.0, BUSY), (0.5, CLEAR), (2.0, DND), (2.0, CLEAR)],
        [(0.0, SET_BUSY), (0.5, CLEAR_SESSION), (2.0, SET_DND), (2.0, CLEAR_SESSION)],
    ),
]


@pytest.mark.parametrize(("events", "expected"), [r[1:] for r in FLAP_ROWS], ids=[r[0] for r in FLAP_ROWS])
def test_flap_coalescing(events: list[tuple[float, TeamsIntent]], expected: list[tuple[float, str]]) -> None:
    sim = Sim(flap_window=1.0)
    sim.timeline([(at, "erin", intent) for at, intent in events], until=5.0)
    assert sim.timed() == expected


def test_a_burst_of_100_flaps_in_one_second_costs_two_writes_and_counts_the_held_ones() -> None:
    sim = Sim(flap_window=1.0)
    sim.timeline([(n * 0.01, "finn", DND if n % 2 == 0 else CLEAR) for n in range(100)], until=3.0)
    assert sim.calls() == [SET_DND, CLEAR_SESSION]
    assert sim.plan.counters["writes_held"] >= 1


def test_a_window_of_zero_writes_every_change() -> None:
    sim = Sim(flap_window=0.0)
    sim.timeline([(n * 0.01, "gus", DND if n % 2 == 0 else CLEAR) for n in range(10)], until=1.0)
    assert len(sim.calls()) == 10


def test_refreshes_neither_wait_nor_count_in_the_window() -> None:
    sim = Sim(flap_window=1.0, refresh_interval=240.0)
    sim.timeline([(0.0, "hana", BUSY), (240.0, "hana", CLEAR), (240.0, "hana", DND)], until=241.0)
    assert sim.timed() == [(0.0, SET_BUSY), (240.0, REFRESH_BUSY), (240.0, CLEAR_SESSION), (240.0, SET_DND)]


# --- refresh: every refresh_interval, earliest deadline first, from the refresh reserve ------------


def test_a_live_call_is_refreshed_every_interval_until_it_ends() -> None:
    sim = Sim(refresh_interval=240.0, session_expiry=timedelta(minutes=15))
    sim.desire("ivy", BUSY)
    sim.desire("ivy", CLEAR, at=1000.0)
    sim.advance(3000.0)
    assert sim.timed() == [
        (0.0, SET_BUSY),
        (240.0, REFRESH_BUSY),
        (480.0, REFRESH_BUSY),
        (720.0, REFRESH_BUSY),
        (960.0, REFRESH_BUSY),
        (1000.0, CLEAR_SESSION),
    ]


def test_refreshes_go_earliest_deadline_first_from_the_refresh_share() -> None:
    sim = Sim(refresh_interval=240.0)
    sim.desire("kate", DND, at=5.0)
    sim.desire("jack", BUSY, at=10.0)
    sim.advance(10.0)
    refresh = sim.plan.next_refresh(245.0)
    assert refresh is not None and not isinstance(refresh, float)
    assert (refresh.person_id, refresh.kind, refresh.refresh) == ("kate", Kind.REFRESH, True)
    assert sim.plan.next_refresh(245.0) == 250.0  # jack's is next, at its own deadline


def test_a_refresh_no_longer_wanted_by_the_time_it_has_a_slot_is_not_sent() -> None:
    sim = Sim(refresh_interval=240.0)
    sim.desire("lee", BUSY)
    sim.advance(1.0)
    refresh = sim.plan.next_refresh(240.0)
    assert refresh is not None and not isinstance(refresh, float)
    sim.plan.desire("lee", CLEAR, "hung up", 240.0)  # while the refresh waited for its slot
    assert not sim.plan.begin(refresh, 240.0, T0).send


# --- restore after a restart ------------------------------------------------------------------------


def stored(person: str, session: Pair | None, left: float, preferred: Pair | None = None) -> PublishedRecord:
    expires = T0 + timedelta(seconds=left)
    return PublishedRecord(
        person, TENANT, session, expires, preferred, T0 + timedelta(hours=1) if preferred else None
    )


RESTORE_ROWS = [
    ("10 min left: refreshed only after the 60 s grace", 600.0, (60.0, REFRESH_BUSY)),
    ("150 s left: refreshed 120 s before it lapses, inside the grace", 150.0, (30.0, REFRESH_BUSY)),
    ("14 min left (sent 1 min ago): on its own 240 s schedule", 840.0, (180.0, REFRESH_BUSY)),
]


@pytest.mark.parametrize(("left", "first"), [r[1:] for r in RESTORE_ROWS], ids=[r[0] for r in RESTORE_ROWS])
def test_a_restored_session_still_wanted_is_kept_without_a_reset(
    left: float, first: tuple[float, str]
) -> None:
    sim = Sim(session_expiry=timedelta(minutes=15), refresh_interval=240.0)
    sim.desire("mia", BUSY)  # the core's restored state comes first
    sim.restore(stored("mia", IN_A_CALL, left))
    sim.advance(first[0] + 1)
    assert sim.timed() == [first]


def test_a_restored_session_nobody_wants_is_cleared_at_once() -> None:
    sim = Sim()
    sim.restore(stored("ned", IN_A_CALL, 600.0))
    sim.advance(1.0)
    assert sim.timed() == [(0.0, CLEAR_SESSION)]
    assert not sim.last_save("ned").owns_anything


def test_a_restored_session_the_resync_changes_is_set_to_the_new_state() -> None:
    sim = Sim()
    sim.restore(stored("olga", IN_A_CALL, 600.0))
    sim.desire("olga", CONF)  # the adapter's snapshot arrives before a worker ran
    sim.advance(1.0)
    assert sim.calls() == [SET_CONF]


def test_an_expired_record_costs_no_call_and_is_forgotten() -> None:
    sim = Sim()
    sim.restore(stored("pia", IN_A_CALL, -600.0))
    sim.advance(100.0)
    assert sim.calls() == []
    assert [r.owns_anything for r in sim.saved] == [False]


# --- write-ahead: what a write is about to set is persisted, unconfirmed, before the call --------


def test_a_new_session_is_persisted_before_its_call_and_confirmed_after() -> None:
    sim = Sim(session_expiry=timedelta(minutes=15))
    sim.desire("quin", BUSY, at=10.0)
    call = sim.plan.next_write(10.0)
    assert call is not None and not isinstance(call, float)
    ahead = sim.plan.begin(call, 10.0, sim.wall(10.0)).save
    expires = T0 + timedelta(seconds=10, minutes=15)
    assert ahead == PublishedRecord("quin", TENANT, IN_A_CALL, expires, session_confirmed=False)
    sim.plan.outcome(call, Outcome(request_id="rid"), 10.0, sim.wall(10.0))
    sim.plan.finish("quin", 10.0, sim.wall(10.0))
    sim.advance(11.0)
    assert sim.plan.view("quin", 11.0).sent_session == IN_A_CALL


def test_a_change_of_an_owned_session_is_written_ahead_and_a_refresh_is_not() -> None:
    sim = Sim(flap_window=0.0)
    sim.desire("rita", BUSY)
    sim.advance(1.0)
    assert sim.last_save("rita").session_confirmed
    sim.desire("rita", CONF)
    call = sim.plan.next_write(1.0)
    assert call is not None and not isinstance(call, float)
    ahead = sim.plan.begin(call, 1.0, sim.wall(1.0)).save
    assert ahead is not None and (ahead.session, ahead.session_confirmed) == (IN_A_CONFERENCE_CALL, False)
    sim.plan.outcome(call, Outcome(request_id="rid"), 1.0, sim.wall(1.0))
    sim.plan.finish("rita", 1.0, sim.wall(1.0))
    assert sim.last_save("rita") != ahead
    refresh = sim.plan.next_refresh(1.0 + 240.0)
    assert isinstance(refresh, Call) and refresh.refresh
    assert sim.plan.begin(refresh, 241.0, sim.wall(241.0)).save is None


def test_every_confirmed_write_is_persisted_with_its_expiry() -> None:
    sim = Sim(session_expiry=timedelta(minutes=15))
    sim.desire("sam", DND_PREF, at=0.0)
    sim.advance(1.0)
    assert sim.last_save("sam") == PublishedRecord(
        "sam", TENANT, PRESENTING, T0 + timedelta(minutes=15), PREF_DND, T0 + timedelta(hours=8)
    )
    sim.answer = lambda call: Outcome(shown=PREF_DND)  # our preferred presence is still shown
    sim.desire("sam", CLEAR, at=5.0)
    sim.advance(6.0)
    assert not sim.last_save("sam").owns_anything
