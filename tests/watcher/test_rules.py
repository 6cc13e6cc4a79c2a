"""The pure Teams -> PBX policy: one case per table row and per loop rule."""

from __future__ import annotations

import pytest

from adapters.base import RoutableState
from bridge.presence import IN_A_CALL, PRESENTING, Pair
from bridge.writeback import (
    PBX_DND_MAX_HOLD,
    TEAMS_TO_ROUTABLE,
    Observation,
    PbxIntent,
    WatchState,
    observe,
    pbx_dnd_event,
    release,
    routable_for,
    table,
)

R = RoutableState
DND_PAIR = Pair("DoNotDisturb", "DoNotDisturb")
AVAILABLE = Pair("Available", "Available")


def obs(text: str, oof: bool = False) -> Observation:
    return Observation(Pair.parse(text), out_of_office=oof)


ROWS = [
    ("Busy/InACall", R.CALL),
    ("DoNotDisturb/InACall", R.CALL),
    ("Busy/InAConferenceCall", R.CALL),
    ("busy/inaconferencecall", R.CALL),
    ("DoNotDisturb/Presenting", R.PRESENTING),
    ("doNotDisturb/presenting", R.PRESENTING),
    ("DoNotDisturb/DoNotDisturb", R.DND),
    ("DoNotDisturb/Focusing", R.DND),
    ("DoNotDisturb/UrgentInterruptionsOnly", R.DND),
    ("donotdisturb/donotdisturb", R.DND),
    ("Busy/InAMeeting", R.NONE),
    ("Available/OutOfOffice", R.OOF),
    ("OutOfOffice/OutOfOffice", R.OOF),
    ("DoNotDisturb/OutOfOffice", R.DND),
    ("Away/Away", R.NONE),
    ("BeRightBack/BeRightBack", R.NONE),
    ("Offline/OffWork", R.NONE),
    ("Offline/Offline", R.NONE),
    ("Available/Available", R.NONE),
    ("Busy/Busy", R.NONE),
    ("PresenceUnknown/PresenceUnknown", R.NONE),
    ("Something/New", R.NONE),
]


@pytest.mark.parametrize(("shown", "expected"), ROWS, ids=[r[0] for r in ROWS])
def test_teams_state_maps_to_routable(shown: str, expected: RoutableState) -> None:
    assert routable_for(obs(shown)) is expected


def test_meeting_option_makes_a_meeting_routable() -> None:
    assert routable_for(obs("Busy/InAMeeting"), table(meeting=True)) is R.MEETING
    assert routable_for(obs("Busy/InACall"), table(meeting=True)) is R.CALL


OOF_ROWS = [
    ("Available/Available", R.OOF),
    ("Away/Away", R.OOF),
    ("Busy/InACall", R.CALL),  # "in a call, out of office": the call is what routing needs now
    ("DoNotDisturb/Presenting", R.PRESENTING),
    ("DoNotDisturb/DoNotDisturb", R.DND),
]


@pytest.mark.parametrize(("shown", "expected"), OOF_ROWS, ids=[r[0] for r in OOF_ROWS])
def test_out_of_office_flag_shows_below_busier_states(shown: str, expected: RoutableState) -> None:
    assert routable_for(obs(shown, oof=True)) is expected


def test_every_table_value_is_a_routable_state_and_keys_are_lower_case() -> None:
    for (availability, activity), state in TEAMS_TO_ROUTABLE.items():
        assert isinstance(state, RoutableState)
        assert availability == availability.lower() and activity == activity.lower()


def step(
    state: WatchState,
    shown: str | Observation,
    *,
    ours: Pair | None = None,
    opted: bool = False,
    now: float = 100.0,
    hold: float = 0.0,
    meeting: bool = False,
) -> tuple[WatchState, list[PbxIntent]]:
    o = shown if isinstance(shown, Observation) else obs(shown)
    return observe(state, o, ours, opted, now, hold, meeting=meeting)


def test_nothing_is_sent_at_start_for_people_showing_nothing() -> None:
    state, intents = step(WatchState(), "Available/Available")
    assert intents == []
    assert state.sent_routable is R.NONE
    _, intents = step(WatchState(), "Busy/InACall")
    assert [i.routable for i in intents] == [R.CALL]


def test_teams_call_sends_call_once_only_differences() -> None:
    state, first = step(WatchState(), "Busy/InACall")
    state, second = step(state, "Busy/InACall", now=110)
    assert [i.routable for i in first] == [R.CALL]
    assert second == []
    state, third = step(state, "Busy/InAConferenceCall", now=120)
    assert third == []  # still `call`
    _, back = step(state, "Available/Available", now=130)
    assert [(i.routable, i.pbx_dnd) for i in back] == [(R.NONE, None)]


def test_our_own_session_is_never_reflected() -> None:
    state, _ = step(WatchState(), "Available/Available")
    state, intents = step(state, "Busy/InACall", ours=IN_A_CALL)
    assert intents == []
    state, intents = step(state, "Busy/InAConferenceCall", ours=IN_A_CALL, now=110)
    assert intents == []  # same availability: our session explains it
    _, intents = step(state, "DoNotDisturb/Presenting", ours=PRESENTING, now=120)
    assert intents == []  # our PBX DND shown as DoNotDisturb/Presenting


def test_teams_state_beyond_our_session_is_reflected() -> None:
    state, _ = step(WatchState(), "Available/Available")
    _, intents = step(state, "DoNotDisturb/Presenting", ours=IN_A_CALL)
    assert [i.routable for i in intents] == [R.PRESENTING]


def test_hold_down_ignores_read_after_write_echo() -> None:
    state, _ = step(WatchState(), "Available/Available")
    state, intents = step(state, "Busy/InACall", ours=None, now=100, hold=105)
    assert intents == []
    assert state.sent_routable is R.NONE
    _, intents = step(state, "Busy/InACall", ours=None, now=106, hold=105)
    assert [i.routable for i in intents] == [R.CALL]


def test_dnd_needs_two_consecutive_observations() -> None:
    state, _ = step(WatchState(), "Available/Available")
    state, first = step(state, "DoNotDisturb/DoNotDisturb", opted=True, now=110)
    assert first == []
    state, second = step(state, "DoNotDisturb/DoNotDisturb", opted=True, now=120)
    assert second == [PbxIntent(routable=R.DND, pbx_dnd=True, reason="teams DoNotDisturb/DoNotDisturb")]
    state, third = step(state, "DoNotDisturb/Focusing", opted=True, now=130)
    assert third == []


def test_a_dnd_blip_does_nothing() -> None:
    state, _ = step(WatchState(), "Available/Available")
    state, one = step(state, "DoNotDisturb/DoNotDisturb", opted=True, now=110)
    state, two = step(state, "Available/Available", opted=True, now=120)
    state, three = step(state, "DoNotDisturb/DoNotDisturb", opted=True, now=130)
    assert one == two == three == []


def test_pbx_dnd_only_for_people_who_opted_in() -> None:
    state, _ = step(WatchState(), "DoNotDisturb/DoNotDisturb")
    state, intents = step(state, "DoNotDisturb/DoNotDisturb", now=110)
    assert [(i.routable, i.pbx_dnd) for i in intents] == [(R.DND, None)]
    assert not state.pbx_dnd_ours


def test_pbx_dnd_released_when_teams_leaves_dnd() -> None:
    state, _ = step(WatchState(), "DoNotDisturb/DoNotDisturb", opted=True)
    state, _ = step(state, "DoNotDisturb/DoNotDisturb", opted=True, now=110)
    state, intents = step(state, "Available/Available", opted=True, now=120)
    assert [(i.routable, i.pbx_dnd) for i in intents] == [(R.NONE, False)]
    assert not state.pbx_dnd_ours


def test_dnd_to_presenting_releases_pbx_dnd() -> None:
    state, _ = step(WatchState(), "DoNotDisturb/DoNotDisturb", opted=True)
    state, _ = step(state, "DoNotDisturb/DoNotDisturb", opted=True, now=110)
    _, intents = step(state, "DoNotDisturb/Presenting", opted=True, now=120)
    assert [(i.routable, i.pbx_dnd) for i in intents] == [(R.PRESENTING, False)]


def held_dnd() -> WatchState:
    state, _ = step(WatchState(), "DoNotDisturb/DoNotDisturb", opted=True)
    state, _ = step(state, "DoNotDisturb/DoNotDisturb", opted=True, now=110)
    assert state.pbx_dnd_ours
    return state


def test_person_switching_pbx_dnd_off_wins_until_next_teams_transition() -> None:
    state = pbx_dnd_event(held_dnd(), on=False, by_us=False)
    state, intents = step(state, "DoNotDisturb/DoNotDisturb", opted=True, now=120)
    assert intents == []  # we stay off although Teams still shows DND
    state, intents = step(state, "Available/Available", opted=True, now=130)
    assert [(i.routable, i.pbx_dnd) for i in intents] == [(R.NONE, None)]  # nothing of ours to release
    state, _ = step(state, "DoNotDisturb/DoNotDisturb", opted=True, now=140)
    _, intents = step(state, "DoNotDisturb/DoNotDisturb", opted=True, now=150)
    assert [(i.routable, i.pbx_dnd) for i in intents] == [(R.DND, True)]  # next transition: ours again


def test_our_own_pbx_dnd_echo_changes_nothing() -> None:
    state = held_dnd()
    assert pbx_dnd_event(state, on=True, by_us=True) == state
    assert pbx_dnd_event(state, on=True, by_us=False) == state  # "on" while we hold it on is no news
    _, intents = step(state, "Available/Available", opted=True, now=200)
    assert [(i.routable, i.pbx_dnd) for i in intents] == [(R.NONE, False)]  # still ours to release


def test_person_switching_pbx_dnd_on_is_never_cleared_by_us() -> None:
    state, _ = step(WatchState(), "Available/Available", opted=True)
    state = pbx_dnd_event(state, on=True, by_us=False)
    state, _ = step(state, "DoNotDisturb/DoNotDisturb", opted=True, now=110)
    state, intents = step(state, "DoNotDisturb/DoNotDisturb", opted=True, now=120)
    assert [(i.routable, i.pbx_dnd) for i in intents] == [(R.DND, None)]
    _, intents = step(state, "Available/Available", opted=True, now=130)
    assert [(i.routable, i.pbx_dnd) for i in intents] == [(R.NONE, None)]


def test_pbx_dnd_held_at_most_eight_hours() -> None:
    state = held_dnd()
    state, intents = step(state, "DoNotDisturb/DoNotDisturb", opted=True, now=110 + PBX_DND_MAX_HOLD)
    assert [(i.routable, i.pbx_dnd) for i in intents] == [(None, False)]
    _, intents = step(state, "DoNotDisturb/DoNotDisturb", opted=True, now=120 + PBX_DND_MAX_HOLD)
    assert intents == []


def test_release_clears_what_we_set() -> None:
    state, intents = release(held_dnd())
    assert [(i.routable, i.pbx_dnd) for i in intents] == [(R.NONE, False)]
    assert release(state)[1] == []


def test_meeting_option_in_observe() -> None:
    state, _ = step(WatchState(), "Available/Available")
    _, intents = step(state, "Busy/InAMeeting", meeting=True)
    assert [i.routable for i in intents] == [R.MEETING]
    _, intents = step(state, "Busy/InAMeeting")
    assert intents == []


def test_out_of_office_in_observe() -> None:
    state, _ = step(WatchState(), "Available/Available")
    _, intents = step(state, obs("Away/Away", oof=True))
    assert [i.routable for i in intents] == [R.OOF]
