"""Time-driven changes (expiry, fading) are found from a deadline index, not a pass over every user:
they still happen exactly when due, and a refreshed session's old deadline no longer counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bridge.emulator.config import UserRecord
from bridge.emulator.state import PresenceState
from bridge.presence import Pair

T0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
APP = "app-session"
IN_A_CALL = Pair("Busy", "InACall")
OFFLINE = Pair("Offline", "Offline")


def users(count: int) -> list[UserRecord]:
    return [UserRecord(f"00000000-0000-4000-8000-{n:012d}", f"u{n}@x.test") for n in range(count)]


def test_each_expiry_lands_when_due_among_thousands_of_users() -> None:
    records = users(3000)
    state = PresenceState(records)
    ann, bob = records[0].id, records[1].id
    state.set_session(ann, APP, IN_A_CALL, T0, expires_in=timedelta(minutes=5), fades=True)
    state.set_session(bob, APP, IN_A_CALL, T0, expires_in=timedelta(minutes=10), fades=True)
    assert state.next_deadline(T0) == T0 + timedelta(minutes=5)
    assert state.refresh(T0 + timedelta(minutes=4)) == []
    changes = state.refresh(T0 + timedelta(minutes=5))
    assert [(c.user_id, c.after) for c in changes] == [(ann, OFFLINE)]
    assert state.presence(bob, T0 + timedelta(minutes=5)).pair == IN_A_CALL
    assert state.next_deadline(T0 + timedelta(minutes=5)) == T0 + timedelta(minutes=10)


def test_a_refreshed_session_is_not_expired_by_its_old_deadline() -> None:
    records = users(2)
    state = PresenceState(records)
    ann = records[0].id
    state.set_session(ann, APP, IN_A_CALL, T0, expires_in=timedelta(minutes=5), fades=True)
    state.set_session(
        ann, APP, IN_A_CALL, T0 + timedelta(minutes=4), expires_in=timedelta(minutes=5), fades=True
    )
    assert state.refresh(T0 + timedelta(minutes=5)) == []
    assert state.presence(ann, T0 + timedelta(minutes=5)).pair == IN_A_CALL
    assert state.next_deadline(T0 + timedelta(minutes=5)) == T0 + timedelta(minutes=9)


def test_an_available_session_still_fades_on_time() -> None:
    records = users(2)
    state = PresenceState(records)
    ann = records[0].id
    state.set_session(ann, APP, Pair("Available", "Available"), T0, expires_in=timedelta(hours=1), fades=True)
    faded = state.refresh(T0 + timedelta(minutes=5))
    assert [c.after for c in faded] == [Pair("Available", "AvailableInactive")]
    away = state.refresh(T0 + timedelta(minutes=10))
    assert [c.after for c in away] == [Pair("Away", "Away")]


def test_reset_forgets_every_deadline() -> None:
    records = users(2)
    state = PresenceState(records)
    state.set_session(records[0].id, APP, IN_A_CALL, T0, expires_in=timedelta(minutes=5), fades=True)
    state.reset()
    assert state.next_deadline(T0) is None
