"""The publisher against the fake Graph: minimum writes, latest wins, refreshes, errors (fake clock)."""

from __future__ import annotations

import logging
from datetime import timedelta

import httpx
import pytest

from adapters.base import Health
from bridge.presence import AVAILABLE, AWAY, CLEAR, IN_A_CALL, OFFLINE, PRESENTING, Pair, TeamsIntent

from .helpers import CLIENT_ID
from .rig import started

BUSY = TeamsIntent(session=IN_A_CALL, reason="in_call")
DND = TeamsIntent(session=PRESENTING, reason="dnd")
DND_PREF = TeamsIntent(
    session=PRESENTING, preferred=Pair("DoNotDisturb", "DoNotDisturb"), preferred_expiry=timedelta(hours=8)
)


def graph_error(status: int, code: str) -> httpx.Response:
    return httpx.Response(
        status, json={"error": {"code": code, "message": code}}, headers={"request-id": "rid-x"}
    )


async def test_a_whole_call_costs_exactly_two_writes() -> None:
    async with started() as rig:
        rig.fake.client_session("alice", AWAY)
        rig.pub.desire("alice", CLEAR, "ringing")  # ringing: no change
        await rig.settle()
        rig.pub.desire("alice", BUSY, "answered")
        await rig.settle()
        assert rig.fake.shown("alice") == IN_A_CALL
        rig.pub.desire("alice", BUSY, "held")
        await rig.settle()
        rig.pub.desire("alice", BUSY, "resumed")
        await rig.settle()
        rig.pub.desire("alice", CLEAR, "hung up")
        await rig.settle(5)
        assert rig.fake.writes("alice") == ["setPresence", "clearPresence"]
        assert rig.fake.shown("alice") == AWAY  # the desktop's own Away is back
        view = rig.pub.view("alice")
        assert view.sent_session is None and not view.pending and view.last_request_id


async def test_latest_wins_and_nothing_in_between_is_sent() -> None:
    async with started() as rig:
        for intent in (BUSY, CLEAR, DND, BUSY, CLEAR, BUSY):
            rig.pub.desire("bob", intent, "flap")
        await rig.settle()
        assert rig.fake.writes("bob") == ["setPresence"]
        assert rig.fake.session("bob", CLIENT_ID) == IN_A_CALL


async def test_change_during_a_write_is_not_lost() -> None:
    async with started(workers=1) as rig:
        rig.pub.desire("bob", BUSY, "answered")
        await rig.clock.settle(3)  # the write is in flight
        rig.pub.desire("bob", CLEAR, "hung up")
        await rig.settle(2)
        assert rig.fake.session("bob", CLIENT_ID) is None
        assert not rig.pub.view("bob").pending


async def test_three_hour_call_never_lapses() -> None:
    async with started() as rig:
        rig.pub.desire("carol", BUSY, "answered")
        for _ in range(3 * 60):  # one check per simulated minute
            await rig.clock.advance(60)
            assert rig.fake.session("carol", CLIENT_ID) == IN_A_CALL
        assert rig.fake.lapses == []
        assert rig.pub.stats()["publisher_refreshes"] >= 3 * 3600 / 240 - 1
        rig.pub.desire("carol", CLEAR, "hung up")
        await rig.settle()
        assert rig.fake.session("carol", CLIENT_ID) is None


async def test_refresh_stops_when_the_intent_no_longer_wants_the_session() -> None:
    async with started() as rig:
        rig.pub.desire("dave", BUSY, "answered")
        await rig.settle()
        rig.pub.desire("dave", CLEAR, "hung up")
        await rig.settle()
        await rig.clock.advance(1800)
        assert rig.fake.writes("dave") == ["setPresence", "clearPresence"]


async def test_throttled_write_waits_retry_after_and_lands() -> None:
    async with started() as rig:
        rig.fake.faults.append(graph_error(429, "TooManyRequests"))
        rig.fake.faults[-1].headers["Retry-After"] = "0.75"
        limit_before = rig.budget.limit
        rig.pub.desire("erin", BUSY, "answered")
        await rig.settle(2, step=0.25)
        assert rig.fake.session("erin", CLIENT_ID) == IN_A_CALL
        assert rig.budget.limit < limit_before  # AIMD cut


async def test_outage_then_recovery_converges_and_reports_health() -> None:
    async with started() as rig:
        for _ in range(5):  # the client's five attempts all fail
            rig.fake.faults.append(graph_error(503, "ServiceUnavailable"))
        rig.fake.faults.append(httpx.RemoteProtocolError("connection dropped"))
        rig.pub.desire("frank", BUSY, "answered")
        await rig.settle(60)
        assert rig.pub.health is Health.CONNECTED
        assert rig.fake.session("frank", CLIENT_ID) == IN_A_CALL
        assert rig.pub.stats()["publisher_transient_errors"] >= 1


async def test_outage_marks_transient_disconnect() -> None:
    async with started() as rig:
        for _ in range(50):
            rig.fake.faults.append(httpx.ConnectError("refused"))
        rig.pub.desire("frank", BUSY, "answered")
        await rig.settle(20)
        assert rig.pub.health is Health.TRANSIENT_DISCONNECT
        assert rig.pub.view("frank").pending


async def test_missing_permission_is_bad_credentials_without_a_retry_loop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    async with started() as rig:
        for _ in range(1000):
            rig.fake.faults.append(graph_error(403, "Forbidden"))
        rig.pub.desire("gina", BUSY, "answered")
        rig.pub.desire("hank", BUSY, "answered")
        await rig.settle(600, step=5)
        assert rig.pub.health is Health.BAD_CREDENTIALS
        assert "bad_credentials" in rig.pub.alarms
        # no loop: one write per pause, the pauses at least 30, 60, 120, 240 s (planner.AUTH_BACKOFF),
        # so 600 s hold the first two writes and at most four retries
        assert rig.fake.requests <= 6
        assert sum("BAD_CREDENTIALS" in r.getMessage() for r in caplog.records) == 1
        rig.fake.faults.clear()
        await rig.settle(900, step=5)  # after the backoff (at most 15 minutes) it tries again and recovers
        assert rig.pub.health is Health.CONNECTED
        assert rig.fake.session("gina", CLIENT_ID) == IN_A_CALL


async def test_expired_token_is_refreshed_once_and_write_lands() -> None:
    async with started() as rig:
        rig.fake.faults.append(graph_error(401, "InvalidAuthenticationToken"))
        rig.pub.desire("ivy", BUSY, "answered")
        await rig.settle()
        assert rig.fake.session("ivy", CLIENT_ID) == IN_A_CALL
        assert rig.tokens.invalidations == 1  # type: ignore[attr-defined]
        assert rig.pub.health is Health.CONNECTED


async def test_unknown_user_is_not_retried_then_quarantined() -> None:
    async with started() as rig:
        rig.fake.unknown_users.add("ghost")
        rig.pub.desire("ghost", BUSY, "answered")
        await rig.settle(30)
        assert len(rig.fake.writes("ghost")) == 1
        assert rig.pub.view("ghost").failed == "404 NotFound"
        rig.pub.desire("ghost", CLEAR, "hung up")  # nothing of ours to clear: no call
        rig.pub.desire("ghost", DND, "dnd")
        await rig.settle(5)
        rig.pub.desire("ghost", BUSY, "answered")
        await rig.settle(5)
        assert len(rig.fake.writes("ghost")) == 3
        assert rig.pub.view("ghost").quarantined
        rig.pub.desire("ghost", DND, "dnd")
        await rig.settle(600, step=10)
        assert len(rig.fake.writes("ghost")) == 3  # quarantined: no budget spent
        rig.fake.unknown_users.discard("ghost")
        await rig.settle(3600, step=30)
        assert rig.fake.session("ghost", CLIENT_ID) == PRESENTING


async def test_dnd_presenting_unsupported_falls_back_to_in_a_call() -> None:
    async with started() as rig:
        rig.fake.presenting_supported = False
        rig.pub.desire("jack", DND, "dnd on")
        await rig.settle()
        assert rig.fake.session("jack", CLIENT_ID) == IN_A_CALL
        assert rig.pub.presenting_supported is False
        assert "dnd_presenting_unsupported" in rig.pub.alarms
        rig.pub.desire("kate", DND, "dnd on")
        await rig.settle()
        assert [c[2]["activity"] for c in rig.fake.calls if c[1] == "kate"] == ["InACall"]  # no second probe


async def test_dnd_presenting_supported_is_remembered() -> None:
    async with started() as rig:
        rig.pub.desire("jack", DND, "dnd on")
        await rig.settle()
        assert rig.fake.shown("jack") == PRESENTING
        assert rig.pub.presenting_supported is True
        assert "dnd_presenting_unsupported" not in rig.pub.alarms


async def test_preferred_dnd_is_set_and_cleared_when_still_shown() -> None:
    async with started() as rig:
        rig.pub.desire("lee", DND_PREF, "dnd on")
        await rig.settle()
        assert rig.fake.shown("lee") == Pair("DoNotDisturb", "DoNotDisturb")
        assert rig.store.load_published("contoso")["lee"].preferred == Pair("DoNotDisturb", "DoNotDisturb")
        rig.pub.desire("lee", CLEAR, "dnd off")
        await rig.settle()
        assert rig.fake.writes("lee") == [
            "setPresence",
            "setUserPreferredPresence",
            "clearUserPreferredPresence",
            "clearPresence",
        ]
        assert rig.fake.users["lee"].preferred is None
        assert rig.store.load_published("contoso") == {}


async def test_preferred_changed_by_the_user_is_left_alone() -> None:
    async with started() as rig:
        rig.fake.client_session("mia", AVAILABLE)
        rig.pub.desire("mia", DND_PREF, "dnd on")
        await rig.settle()
        rig.fake.user_sets_preferred("mia", Pair("BeRightBack", "BeRightBack"))  # by hand in Teams
        rig.pub.desire("mia", CLEAR, "dnd off")
        await rig.settle()
        assert "clearUserPreferredPresence" not in rig.fake.writes("mia")
        assert rig.fake.shown("mia") == Pair("BeRightBack", "BeRightBack")
        assert rig.pub.view("mia").sent_preferred is None  # no longer ours


async def test_view_reports_staleness_while_waiting() -> None:
    async with started() as rig:
        for _ in range(50):
            rig.fake.faults.append(httpx.ConnectError("refused"))
        rig.pub.desire("ned", BUSY, "answered")
        await rig.settle(10)
        view = rig.pub.view("ned")
        assert view.pending and view.staleness >= 9
        assert rig.pub.stats()["publisher_max_staleness_seconds"] >= 9
        assert view.desired == BUSY and view.cause == "answered"


async def test_session_offline_after_clear_without_teams_client() -> None:
    async with started() as rig:
        rig.pub.desire("olga", BUSY, "answered")
        await rig.settle()
        rig.pub.desire("olga", CLEAR, "hung up")
        await rig.settle()
        assert rig.fake.shown("olga") == OFFLINE


async def test_refresh_capacity_alarm_when_live_sessions_exceed_the_reserve() -> None:
    async with started(budget_requests=30) as rig:  # capacity: 0.25 x 1/s x 240 s = 60 sessions
        assert rig.budget.capacity == pytest.approx(60)
        for n in range(80):
            rig.pub.desire(f"p{n}", BUSY, "answered")
        await rig.settle(300, step=5)
        assert "refresh_capacity_exceeded" in rig.pub.alarms
        assert rig.pub.stats()["publisher_live_sessions"] > 60
        for n in range(80):
            rig.pub.desire(f"p{n}", CLEAR, "hung up")
        await rig.settle(600, step=5)
        assert "refresh_capacity_exceeded" not in rig.pub.alarms
        assert rig.fake.busiest_window() <= 30
