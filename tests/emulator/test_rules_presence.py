"""Pure presence rules: pairs, expiry, fading, aggregation, preferred presence, sequence numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bridge.emulator.config import UserRecord
from bridge.emulator.state import (
    PresenceChange,
    PresenceRuleError,
    PresenceState,
    check_session_id,
    parse_duration,
)
from bridge.presence import PREFERRED_PAIRS, SESSION_PAIRS, Pair

T0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
USER = "fa8bf3dc-eca7-46b7-bad1-db199b62afc3"
APP = "22553876-f5ab-4529-bffb-cfe50aa89f87"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
def state() -> PresenceState:
    return PresenceState([UserRecord(USER, "adele@contoso.test", "Adele")])


def shown(state: PresenceState, minutes: float) -> str:
    return str(state.presence(USER, at(minutes)).pair)


@pytest.mark.parametrize("pair", sorted(SESSION_PAIRS), ids=str)
def test_each_session_pair_is_accepted_and_shown(state: PresenceState, pair: Pair) -> None:
    state.set_presence(USER, APP, pair.availability, pair.activity, "PT1H", at(0))
    assert state.presence(USER, at(1)).pair == pair


@pytest.mark.parametrize(
    "pair",
    ["Busy/Busy", "DoNotDisturb/DoNotDisturb", "Available/InACall", "Busy/InAMeeting", "Offline/OffWork",
     "BeRightBack/BeRightBack"],
)
def test_other_pairs_are_refused_by_set_presence(state: PresenceState, pair: str) -> None:
    p = Pair.parse(pair)
    with pytest.raises(PresenceRuleError) as err:
        state.set_presence(USER, APP, p.availability, p.activity, None, at(0))
    assert err.value.status == 400
    assert str(state.presence(USER, at(0)).pair) == "Offline/Offline"


def test_pairs_are_matched_case_insensitively_and_shown_in_pascal_case(state: PresenceState) -> None:
    state.set_presence(USER, APP, "busy", "inacall", None, at(0))
    assert str(state.presence(USER, at(0)).pair) == "Busy/InACall"


def test_presenting_can_be_switched_off_like_older_graph() -> None:
    state = PresenceState([UserRecord(USER, "a@x")], presenting_supported=False)
    with pytest.raises(PresenceRuleError) as err:
        state.set_presence(USER, APP, "DoNotDisturb", "Presenting", None, at(0))
    assert err.value.status == 400


@pytest.mark.parametrize("pair", sorted(PREFERRED_PAIRS), ids=str)
def test_each_preferred_pair_is_accepted(state: PresenceState, pair: Pair) -> None:
    state.set_presence(USER, APP, "Available", "Available", "PT1H", at(0))
    state.set_preferred(USER, pair.availability, pair.activity, None, at(0))
    assert state.presence(USER, at(1)).pair == pair


def test_session_pair_in_a_call_is_refused_as_preferred(state: PresenceState) -> None:
    with pytest.raises(PresenceRuleError) as err:
        state.set_preferred(USER, "Busy", "InACall", None, at(0))
    assert err.value.status == 400


@pytest.mark.parametrize("duration", ["PT4M", "PT4H1M", "P1D", "PT299S"])
def test_expiration_outside_5m_to_4h_is_invalid_argument(state: PresenceState, duration: str) -> None:
    with pytest.raises(PresenceRuleError) as err:
        state.set_presence(USER, APP, "Busy", "InACall", duration, at(0))
    assert (err.value.status, err.value.code) == (400, "InvalidArgument")
    assert err.value.message == "The provided [ExpirationDuration] is out of range."


@pytest.mark.parametrize("duration", ["PT5M", "PT4H", "PT240M", "PT1H30M"])
def test_expiration_bounds_are_inclusive(state: PresenceState, duration: str) -> None:
    state.set_presence(USER, APP, "Busy", "InACall", duration, at(0))
    assert shown(state, 4.9) == "Busy/InACall"


def test_duration_parser() -> None:
    assert parse_duration("PT15M") == timedelta(minutes=15)
    assert parse_duration("P1DT2H") == timedelta(days=1, hours=2)
    assert parse_duration("PT90.5S") == timedelta(seconds=90.5)
    for bad in ("15M", "PT", "P", "PT5X", ""):
        with pytest.raises(PresenceRuleError):
            parse_duration(bad)


def test_default_session_expiry_is_five_minutes(state: PresenceState) -> None:
    state.set_presence(USER, APP, "Busy", "InACall", None, at(0))
    assert shown(state, 4.99) == "Busy/InACall"
    assert shown(state, 5) == "Offline/Offline"


def test_session_expires_after_its_duration(state: PresenceState) -> None:
    state.set_presence(USER, APP, "Busy", "InACall", "PT1H", at(0))
    assert shown(state, 59) == "Busy/InACall"
    assert shown(state, 60) == "Offline/Offline"


def test_available_fades_to_inactive_after_5_minutes_and_away_after_10(state: PresenceState) -> None:
    state.set_presence(USER, APP, "Available", "Available", "PT1H", at(0))
    assert shown(state, 4.9) == "Available/Available"
    assert shown(state, 5) == "Available/AvailableInactive"
    assert shown(state, 10) == "Away/Away"


def test_refreshing_available_restarts_the_timeout(state: PresenceState) -> None:
    state.set_presence(USER, APP, "Available", "Available", "PT1H", at(0))
    state.set_presence(USER, APP, "Available", "Available", "PT1H", at(4))
    assert shown(state, 8) == "Available/Available"
    assert shown(state, 9) == "Available/AvailableInactive"


def test_busy_sessions_do_not_fade(state: PresenceState) -> None:
    state.set_presence(USER, APP, "Busy", "InACall", "PT4H", at(0))
    assert shown(state, 200) == "Busy/InACall"


def test_admin_client_session_without_fading_stays_available(state: PresenceState) -> None:
    state.set_session(USER, "desktop", Pair("Available", "Available"), at(0), expires_in=None, fades=False)
    assert shown(state, 600) == "Available/Available"


def test_no_session_is_offline(state: PresenceState) -> None:
    assert shown(state, 0) == "Offline/Offline"


def test_clearing_the_only_session_is_offline(state: PresenceState) -> None:
    state.set_presence(USER, APP, "Busy", "InACall", None, at(0))
    state.clear_session(USER, APP, at(1))
    assert shown(state, 1) == "Offline/Offline"


def test_clearing_a_missing_session_is_404(state: PresenceState) -> None:
    with pytest.raises(PresenceRuleError) as err:
        state.clear_session(USER, APP, at(0))
    assert err.value.status == 404


def test_clearing_an_expired_session_is_404(state: PresenceState) -> None:
    state.set_presence(USER, APP, "Busy", "InACall", None, at(0))
    with pytest.raises(PresenceRuleError) as err:
        state.clear_session(USER, APP, at(6))
    assert err.value.status == 404


@pytest.mark.parametrize(
    ("a", "b", "winner"),
    [
        ("DoNotDisturb/Presenting", "Busy/InACall", "DoNotDisturb/Presenting"),
        ("Busy/InACall", "Available/Available", "Busy/InACall"),
        ("Available/Available", "Away/Away", "Available/Available"),
        ("Busy/InAConferenceCall", "Busy/InACall", "Busy/InAConferenceCall"),
        ("Busy/InACall", "Busy/InAMeeting", "Busy/InACall"),
        ("Busy/InAMeeting", "Busy/Busy", "Busy/InAMeeting"),
        ("Away/Away", "BeRightBack/BeRightBack", "Away/Away"),
        ("BeRightBack/BeRightBack", "Offline/OffWork", "BeRightBack/BeRightBack"),
    ],
)
def test_session_ranking(state: PresenceState, a: str, b: str, winner: str) -> None:
    for order in ((a, b), (b, a)):
        state.reset()
        for i, text in enumerate(order):
            state.set_session(USER, f"s{i}", Pair.parse(text), at(0), expires_in=None, fades=False)
        assert shown(state, 1) == winner


def test_active_available_beats_an_inactive_one(state: PresenceState) -> None:
    state.set_presence(USER, APP, "Available", "Available", "PT1H", at(0))
    state.set_session(USER, "desktop", Pair("Available", "Available"), at(6), expires_in=None, fades=True)
    assert shown(state, 7) == "Available/Available"


def test_app_away_loses_to_an_available_teams_client(state: PresenceState) -> None:
    state.set_session(USER, "desktop", Pair("Available", "Available"), at(0), expires_in=None, fades=False)
    state.set_presence(USER, APP, "Away", "Away", "PT1H", at(0))
    assert shown(state, 1) == "Available/Available"


def test_preferred_beats_every_session(state: PresenceState) -> None:
    state.set_presence(USER, APP, "DoNotDisturb", "Presenting", "PT1H", at(0))
    state.set_preferred(USER, "Available", "Available", None, at(0))
    assert shown(state, 1) == "Available/Available"
    state.clear_preferred(USER, at(2))
    assert shown(state, 2) == "DoNotDisturb/Presenting"


def test_preferred_shows_only_while_a_session_exists(state: PresenceState) -> None:
    state.set_preferred(USER, "Busy", "Busy", None, at(0))
    assert shown(state, 0) == "Offline/Offline"
    state.set_presence(USER, APP, "Available", "Available", None, at(1))
    assert shown(state, 1) == "Busy/Busy"
    assert shown(state, 6) == "Offline/Offline"  # the session expired


@pytest.mark.parametrize(
    ("pair", "days"), [("Busy/Busy", 1), ("DoNotDisturb/DoNotDisturb", 1), ("Away/Away", 7),
                       ("Available/Available", 7), ("BeRightBack/BeRightBack", 7), ("Offline/OffWork", 7)]
)
def test_preferred_default_expiry(state: PresenceState, pair: str, days: int) -> None:
    state.set_session(USER, "desktop", Pair("Busy", "InAMeeting"), at(0), expires_in=None, fades=False)
    p = Pair.parse(pair)
    state.set_preferred(USER, p.availability, p.activity, None, at(0))
    assert shown(state, days * 1440 - 1) == pair
    assert shown(state, days * 1440) == "Busy/InAMeeting"


def test_preferred_with_explicit_expiry(state: PresenceState) -> None:
    state.set_session(USER, "desktop", Pair("Available", "Available"), at(0), expires_in=None, fades=False)
    state.set_preferred(USER, "DoNotDisturb", "DoNotDisturb", "PT8H", at(0))
    assert shown(state, 479) == "DoNotDisturb/DoNotDisturb"
    assert shown(state, 480) == "Available/Available"


def test_sequence_number_increases_on_every_visible_change_only(state: PresenceState) -> None:
    seqs = [state.presence(USER, at(0)).sequence]
    state.set_presence(USER, APP, "Available", "Available", "PT1H", at(0))
    seqs.append(state.presence(USER, at(0)).sequence)
    state.set_presence(USER, APP, "Available", "Available", "PT1H", at(1))  # refresh: nothing visible
    assert state.presence(USER, at(1)).sequence == seqs[-1]
    seqs.append(state.presence(USER, at(6)).sequence)  # faded
    seqs.append(state.presence(USER, at(11)).sequence)  # away
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert all(isinstance(s, str) for s in seqs)


def test_listeners_hear_each_visible_change_with_timeouts_reported_by_refresh(state: PresenceState) -> None:
    heard: list[PresenceChange] = []
    state.add_listener(heard.append)
    state.set_presence(USER, APP, "Available", "Available", "PT1H", at(0))
    assert state.next_deadline(at(0)) == at(5)
    state.refresh(at(5))
    assert state.next_deadline(at(5)) == at(10)
    state.refresh(at(10))
    expected = ["Available/Available", "Available/AvailableInactive", "Away/Away"]
    assert [str(c.after) for c in heard] == expected
    assert [c.at for c in heard] == [at(0), at(5), at(10)]


def test_status_message_is_shown_until_it_expires(state: PresenceState) -> None:
    state.set_status_message(USER, "In the lab", "text", at(30), at(0))
    before = state.presence(USER, at(1))
    assert before.status_message is not None and before.status_message.content == "In the lab"
    after = state.presence(USER, at(30))
    assert after.status_message is None and after.sequence > before.sequence


def test_unknown_user_is_404(state: PresenceState) -> None:
    with pytest.raises(PresenceRuleError) as err:
        state.presence("00000000-0000-0000-0000-000000000000", at(0))
    assert err.value.status == 404


def test_session_id_must_be_the_calling_app() -> None:
    check_session_id(APP, APP)
    for bad in ("someone-else", "", None):
        with pytest.raises(PresenceRuleError) as err:
            check_session_id(bad, APP)
        assert err.value.status == 400


def test_users_are_found_by_id_or_upn_case_insensitively(state: PresenceState) -> None:
    assert state.find_user("ADELE@contoso.test") is not None
    assert state.find_user(USER.upper()) is not None
    assert state.find_user("nobody@contoso.test") is None
