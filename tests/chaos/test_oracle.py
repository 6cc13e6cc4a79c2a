"""The chaos suite's oracle against README's rows, one case each (so a wrong expectation in the
chaos runs cannot hide behind the bridge agreeing with it)."""

from __future__ import annotations

import pytest

from bridge.presence import AVAILABLE, AWAY, IN_A_CALL, IN_A_CONFERENCE_CALL, OFFLINE, PRESENTING, Pair
from tests.chaos.oracle import Line, teams_shows
from tests.chaos.teams_oracle import Watch

MEETING = Pair("Busy", "InAMeeting")
BRB = Pair("BeRightBack", "BeRightBack")

# (what the PBX said, at which second), when we look, the session README's table wants then
LINE_ROWS = [
    ("answered call", [("in_call", 0)], 1, IN_A_CALL),
    ("on hold", [("in_call", 0), ("on_hold", 5)], 6, IN_A_CALL),
    ("hung up, inside the 3 s idle hold", [("in_call", 0), ("idle", 10)], 12, IN_A_CALL),
    ("hung up, after the idle hold", [("in_call", 0), ("idle", 10)], 13.5, None),
    ("unplugged: not held", [("in_call", 0), ("unavailable", 10)], 10.5, None),
    ("dialing, before 2 s", [("dialing", 0)], 1.5, None),
    ("dialing, after 2 s", [("dialing", 0)], 2.5, IN_A_CALL),
    ("conference from idle", [("in_conference", 0)], 1, IN_A_CONFERENCE_CALL),
    ("conference during a call shown as InACall", [("in_call", 0), ("in_conference", 5)], 6, IN_A_CALL),
    (
        "conference after the call ended",
        [("in_call", 0), ("idle", 5), ("in_conference", 20)],
        21,
        IN_A_CONFERENCE_CALL,
    ),
    ("ringing has no pair", [("ringing", 0)], 5, None),
]


@pytest.mark.parametrize(
    ("events", "at", "wanted"), [r[1:] for r in LINE_ROWS], ids=[r[0] for r in LINE_ROWS]
)
def test_the_session_readme_wants(events: list[tuple[str, float]], at: float, wanted: Pair | None) -> None:
    line = Line()
    for state, when in events:
        line.report(when, line=state)
    assert line.wanted(at) == wanted


def test_dnd_beats_a_call_and_off_shows_the_call_again() -> None:
    line = Line()
    line.report(0, line="in_call")
    line.report(1, dnd=True)
    assert line.wanted(2) == PRESENTING
    line.report(3, dnd=False)
    assert line.wanted(4) == IN_A_CALL


# (the user's own sessions, their status chosen by hand, ours) -> what Teams shows
TEAMS_ROWS = [
    ("no session at all", [], None, OFFLINE),
    ("ours only", [IN_A_CALL], None, IN_A_CALL),
    ("busy beats available", [AVAILABLE, IN_A_CALL], None, IN_A_CALL),
    ("do not disturb beats busy", [PRESENTING, IN_A_CALL], None, PRESENTING),
    ("available beats away", [AWAY, AVAILABLE], None, AVAILABLE),
    ("away beats be right back", [BRB, AWAY], None, AWAY),
    (
        "conference beats a call beats a meeting",
        [MEETING, IN_A_CONFERENCE_CALL, IN_A_CALL],
        None,
        IN_A_CONFERENCE_CALL,
    ),
    ("a status chosen by hand beats every session", [IN_A_CALL], BRB, BRB),
    ("a status chosen by hand shows only with a session", [], BRB, OFFLINE),
]


@pytest.mark.parametrize(
    ("sessions", "preferred", "shown"), [r[1:] for r in TEAMS_ROWS], ids=[r[0] for r in TEAMS_ROWS]
)
def test_what_teams_shows(sessions: list[Pair], preferred: Pair | None, shown: Pair) -> None:
    assert teams_shows(sessions, preferred) == shown


def test_after_a_kill_a_conference_may_keep_the_call_pair_until_a_checked_rest() -> None:
    """Seed 1063: killed while the hang-up's clear was in flight, the bridge holds InACall, and
    the conference the snapshot reports keeps it (README: "a call already shown as InACall stays
    so"); once a quiescent point saw nothing wanted, the rule is exact again."""
    line = Line()
    line.report(0, line="in_call")
    line.report(10, line="unavailable")
    line.restarted()
    line.report(15, line="in_conference")
    assert line.accepted(16) == {IN_A_CALL, IN_A_CONFERENCE_CALL}
    line.report(20, line="idle")
    line.settled(30)
    line.report(40, line="in_conference")
    assert line.accepted(41) == {IN_A_CONFERENCE_CALL}


def test_a_hold_that_ran_out_between_events_counts_its_clear() -> None:
    """Seed 4325: a call, ringing past the 3 s hold (our session is cleared then), a call again:
    README's rows make that set, clear, set: three changes, though no event came at the clear."""
    line = Line()
    line.report(0, line="in_call")
    line.report(4, line="ringing")
    line.report(8, line="in_call")  # the hold ended at 7: the clear happened in between
    assert line.changes == 3


def test_release_forgets_the_line_so_a_conference_afterwards_is_a_conference() -> None:
    """Seed 2853: ``release`` forgets the stored PBX states (README), so after it a snapshot that
    leaves the person out and then a conference are a fresh conference, not a call that goes on."""
    line = Line()
    line.report(0, line="in_call")
    line.released(5)
    line.report(10, line="idle")  # the snapshot after the restart: not listed, so at rest
    line.report(10, line="in_conference")
    assert line.wanted(10.5) == IN_A_CONFERENCE_CALL


# Teams -> PBX (README "No loops": "pressing *79 during a Teams DND keeps PBX DND off until the next
# Teams change"). Steps: ("teams", own client, chosen status), ("check", what a check accepted),
# ("press", PBX DND on?). Expected: PBX DND must be off now (forbidden), must be ours (required).
DESK = (AVAILABLE,)
DND = Pair("DoNotDisturb", "DoNotDisturb")
WATCH_ROWS = [
    ("Teams DND checked, nothing pressed: ours", [("teams", DESK, DND), ("check", {"dnd"})], False, True),
    (
        "switched off after a check saw the Teams DND: off",
        [("teams", DESK, DND), ("check", {"dnd"}), ("press", False)],
        True,
        False,
    ),
    (
        "switched off, then Teams left DND: the next change ends it",
        [("teams", DESK, DND), ("check", {"dnd"}), ("press", False), ("teams", DESK, None)],
        False,
        False,
    ),
    (
        "switched off before any check saw the DND (debounce): either",
        [("teams", DESK, DND), ("press", False)],
        False,
        False,
    ),
    (
        "switched off, then on by hand: theirs",
        [("teams", DESK, DND), ("check", {"dnd"}), ("press", False), ("press", True)],
        False,
        False,
    ),
    (
        "no Teams client: with our session cleared Teams shows Offline, a change",
        [("teams", (), DND), ("check", {"dnd"}), ("press", False)],
        False,
        False,
    ),
    (
        "a check saw the DND over: the next Teams DND is ours again",
        [
            ("teams", DESK, DND),
            ("check", {"dnd"}),
            ("press", False),
            ("teams", DESK, None),
            ("check", {"none"}),
            ("teams", DESK, DND),
            ("check", {"dnd"}),
        ],
        False,
        True,
    ),
]


@pytest.mark.parametrize(
    ("steps", "forbidden", "required"), [r[1:] for r in WATCH_ROWS], ids=[r[0] for r in WATCH_ROWS]
)
def test_pbx_dnd_readme_wants(steps: list[tuple[object, ...]], forbidden: bool, required: bool) -> None:
    watch = Watch(opted_in=True)
    accepted: frozenset[str] = frozenset({"none"})
    for step in steps:
        if step[0] == "teams":
            watch.teams_changed(step[1], step[2])  # type: ignore[arg-type]
        elif step[0] == "check":
            accepted = frozenset(step[1])  # type: ignore[arg-type]
            watch.checked("dnd" if "dnd" in accepted else "none", accepted)
        else:
            watch.pbx_dnd_pressed(bool(step[1]))
    assert watch.dnd_forbidden() == forbidden
    assert watch.dnd_required(accepted) == required
    if forbidden:
        assert not watch.dnd_allowed(accepted)


def test_signing_out_of_teams_with_no_session_of_ours_may_clear_what_we_set() -> None:
    """Seed 1721: Dave's own Teams was presenting (the PBX held ``presenting``); he signed out while
    we held no session: Teams showed Offline, so the watcher rightly cleared (README: "Offline ...
    clear what we set"). Our DND session later explains what Teams shows, so the PBX keeps none;
    the check must count the no-session moment among the rows Teams showed."""
    watch = Watch()
    watch.teams_changed([PRESENTING], None)
    watch.checked("presenting", frozenset({"presenting"}))
    watch.teams_changed([], None)  # signed out
    watch.teams_changed([IN_A_CALL], None)  # back with a Teams call; ours is DoNotDisturb/Presenting
    assert "none" in watch.accepted(PRESENTING, PRESENTING)
