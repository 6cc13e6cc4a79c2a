"""The admin API under /_emulator: playing Teams, the clock, the journal, reset."""

from __future__ import annotations

import httpx
import pytest

from bridge.emulator.app import Emulator, create_app
from bridge.emulator.graph_routes import Journal, JournalEntry
from bridge.kit.clock import SystemClock
from tests.emulator.graph_support import ADELE, BOB, WRITER, harness, make_config

NEW_USER = "0b6f1f2e-1111-4222-8333-944444444444"


@pytest.mark.parametrize(
    ("kind", "shown"),
    [
        ("desktop", "Available/Available"),
        ("meeting", "Busy/InAMeeting"),
        ("presenting", "DoNotDisturb/Presenting"),
        ("call", "Busy/InACall"),
        ("idle", "Available/Available"),
    ],
)
async def test_client_session_kinds_show_in_graph(kind: str, shown: str) -> None:
    async with harness() as h:
        response = await h.admin("PUT", f"/users/{ADELE}/sessions/teams-{kind}", {"kind": kind})
        assert response.status_code == 200
        assert response.json()["presence"] == dict(
            zip(("availability", "activity"), shown.split("/"), strict=True)
        )
        assert await h.shown(ADELE) == shown


async def test_desktop_session_does_not_fade_but_idle_desktop_does() -> None:
    async with harness() as h:
        await h.admin("PUT", f"/users/{ADELE}/sessions/desktop", {"kind": "desktop"})
        await h.admin("PUT", f"/users/{BOB}/sessions/desktop", {"kind": "idle"})
        await h.admin("POST", "/clock", {"advance": 600})
        h._tokens.clear()
        assert await h.shown(ADELE) == "Available/Available"
        assert await h.shown(BOB) == "Away/Away"


async def test_explicit_pair_and_expiring_session() -> None:
    async with harness() as h:
        body = {"availability": "BeRightBack", "activity": "BeRightBack", "expiresInSeconds": 60}
        assert (await h.admin("PUT", f"/users/{ADELE}/sessions/mobile", body)).status_code == 200
        assert await h.shown(ADELE) == "BeRightBack/BeRightBack"
        await h.admin("POST", "/clock", {"advance": 60})
        assert await h.shown(ADELE) == "Offline/Offline"


async def test_teams_client_meeting_beats_app_available_and_removing_it_reveals_the_app() -> None:
    async with harness() as h:
        await h.set_presence(ADELE, "Available", "Available", "PT1H")
        await h.admin("PUT", f"/users/{ADELE}/sessions/desktop", {"kind": "meeting"})
        assert await h.shown(ADELE) == "Busy/InAMeeting"
        assert (await h.admin("DELETE", f"/users/{ADELE}/sessions/desktop")).status_code == 200
        assert await h.shown(ADELE) == "Available/Available"
        assert (await h.admin("DELETE", f"/users/{ADELE}/sessions/desktop")).status_code == 404


async def test_manual_status_beats_sessions_until_cleared() -> None:
    async with harness() as h:
        await h.admin("PUT", f"/users/{ADELE}/sessions/desktop", {"kind": "desktop"})
        response = await h.admin(
            "PUT", f"/users/{ADELE}/preferred", {"availability": "Busy", "activity": "Busy"}
        )
        assert response.json()["preferred"]["availability"] == "Busy"
        assert await h.shown(ADELE) == "Busy/Busy"
        await h.admin("DELETE", f"/users/{ADELE}/preferred")
        assert await h.shown(ADELE) == "Available/Available"
        bad = await h.admin(
            "PUT", f"/users/{ADELE}/preferred", {"availability": "Busy", "activity": "InACall"}
        )
        assert bad.status_code == 400


async def test_user_state_shows_sessions_preferred_and_aggregate() -> None:
    async with harness() as h:
        await h.set_presence(ADELE, "Busy", "InACall", "PT15M")
        await h.admin("PUT", f"/users/{ADELE}/sessions/desktop", {"kind": "desktop"})
        state = (await h.admin("GET", f"/users/{ADELE}")).json()
        assert set(state["sessions"]) == {WRITER, "desktop"}
        assert (
            state["sessions"][WRITER]["expiresAt"] is not None
            and state["sessions"]["desktop"]["fades"] is False
        )
        assert state["presence"] == {"availability": "Busy", "activity": "InACall"}
        listing = (await h.admin("GET", "/users")).json()["value"]
        assert {u["id"] for u in listing} == {ADELE, BOB}


async def test_added_users_exist_in_graph() -> None:
    async with harness() as h:
        body = {"id": NEW_USER, "userPrincipalName": "carol@contoso.test", "displayName": "Carol"}
        assert (await h.admin("POST", "/users", body)).status_code == 201
        assert (await h.call("GET", "/users/carol@contoso.test")).json()["id"] == NEW_USER
        assert await h.shown(NEW_USER) == "Offline/Offline"
        assert (await h.admin("POST", "/users", {"id": NEW_USER})).status_code == 400


async def test_clock_advance_moves_time_and_reports_it() -> None:
    async with harness() as h:
        before = (await h.admin("GET", "/clock")).json()
        after = (await h.admin("POST", "/clock", {"advance": 90})).json()
        assert after["manual"] is True
        assert after["now"] > before["now"]
        assert (await h.admin("POST", "/clock", {"advance": -1})).status_code == 400


async def test_clock_advance_on_a_real_clock_is_refused() -> None:
    emu = Emulator(make_config(), SystemClock())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(emu)), base_url="https://g.test"
    ) as c:
        response = await c.post("/_emulator/clock", json={"advance": 5})
        assert response.status_code == 409
    await emu.aclose()


async def test_journal_records_graph_requests_with_client_and_status() -> None:
    async with harness() as h:
        await h.set_presence(ADELE, "Busy", "InACall", "PT15M")
        await h.set_presence(ADELE, "Busy", "Busy")
        entries = (await h.admin("GET", "/journal")).json()["value"]
        graph = [e for e in entries if e["path"].startswith("/v1.0")]
        assert [(e["method"], e["status"], e["client_id"]) for e in graph] == [
            ("POST", 200, WRITER),
            ("POST", 400, WRITER),
        ]
        assert graph[0]["summary"] == "Busy/InACall PT15M" and graph[0]["request_id"]
        assert all(not e["path"].startswith("/_emulator") for e in entries)
        assert len((await h.admin("GET", "/journal?limit=1")).json()["value"]) == 1


def test_journal_is_bounded() -> None:
    journal = Journal(maxlen=3)
    for n in range(5):
        journal.record(JournalEntry("t", "GET", f"/v1.0/{n}", None, 200, "", str(n)))
    assert [e["path"] for e in journal.entries()] == ["/v1.0/2", "/v1.0/3", "/v1.0/4"]


async def test_presenting_switch_at_runtime() -> None:
    async with harness() as h:
        await h.admin("PUT", "/settings", {"presentingSupported": False})
        assert (await h.set_presence(ADELE, "DoNotDisturb", "Presenting")).status_code == 400
        await h.admin("PUT", "/settings", {"presentingSupported": True})
        assert (await h.set_presence(ADELE, "DoNotDisturb", "Presenting")).status_code == 200


async def test_reset_forgets_presence_faults_and_journal() -> None:
    async with harness() as h:
        await h.set_presence(ADELE, "Busy", "InACall", "PT1H")
        await h.admin("PUT", f"/users/{BOB}/sessions/desktop", {"kind": "desktop"})
        await h.admin("POST", "/faults", {"kind": "503", "count": 5})
        assert (await h.admin("POST", "/reset")).status_code == 200
        assert (await h.admin("GET", "/faults")).json()["pending"] == []
        assert await h.shown(ADELE) == "Offline/Offline"
        assert await h.shown(BOB) == "Offline/Offline"
        assert len((await h.admin("GET", "/journal")).json()["value"]) == 2  # the two reads above


async def test_stats_are_plain_numbers() -> None:
    async with harness() as h:
        await h.call("GET", f"/users/{ADELE}/presence")
        stats = (await h.admin("GET", "/stats")).json()
        assert stats["rate_accepted"] == 1 and stats["rate_limit"] == 1500
        assert all(isinstance(v, int | float) for v in stats.values())


async def test_in_process_helpers_for_the_demo() -> None:
    async with harness() as h:
        await h.set_presence(ADELE, "Busy", "InAConferenceCall", "PT1H")
        assert str(h.emu.presence_of(ADELE)) == "Busy/InAConferenceCall"
        await h.emu.advance(3600)
        assert str(h.emu.presence_of(ADELE)) == "Offline/Offline"
