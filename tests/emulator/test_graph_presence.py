"""Graph presence endpoints over HTTP (ASGI): paths, bodies, status codes and error shapes."""

from __future__ import annotations

import httpx
import pytest

from tests.emulator.graph_support import ADELE, BOB, NOBODY, READER, WRITER, harness, make_config


def assert_graph_error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) >= {"code", "message", "innerError"}
    assert error["innerError"]["request-id"] == response.headers["request-id"]
    assert error["innerError"]["date"]
    if code is not None:
        assert error["code"] == code
    return error


async def test_set_presence_then_read_it_back_on_both_paths() -> None:
    async with harness() as h:
        response = await h.set_presence(ADELE, "Busy", "InACall", "PT1H")
        assert response.status_code == 200
        assert response.headers["request-id"]
        body = (await h.call("GET", f"/users/{ADELE}/presence")).json()
        assert (body["id"], body["availability"], body["activity"]) == (ADELE, "Busy", "InACall")
        assert body["sequenceNumber"] and body["outOfOfficeSettings"] == {
            "message": None,
            "isOutOfOffice": False,
        }
        alias = (await h.call("GET", f"/communications/presences/{ADELE}")).json()
        assert alias["availability"] == "Busy" and alias["sequenceNumber"] == body["sequenceNumber"]


async def test_unsupported_pair_is_400_in_graph_shape() -> None:
    async with harness() as h:
        assert_graph_error(await h.set_presence(ADELE, "Busy", "Busy"), 400)
        assert await h.shown(ADELE) == "Offline/Offline"


async def test_out_of_range_expiration_is_invalid_argument() -> None:
    async with harness() as h:
        error = assert_graph_error(
            await h.set_presence(ADELE, "Busy", "InACall", "PT4M"), 400, "InvalidArgument"
        )
        assert error["message"] == "The provided [ExpirationDuration] is out of range."


async def test_session_id_must_be_the_callers_client_id() -> None:
    async with harness() as h:
        body = {"sessionId": READER, "availability": "Busy", "activity": "InACall"}
        assert_graph_error(await h.call("POST", f"/users/{ADELE}/presence/setPresence", body), 400)


async def test_default_expiry_and_fading_follow_the_clock() -> None:
    async with harness() as h:
        await h.set_presence(ADELE, "Available", "Available", "PT1H")
        await h.clock.advance(300)
        assert await h.shown(ADELE) == "Available/AvailableInactive"
        await h.clock.advance(300)
        assert await h.shown(ADELE) == "Away/Away"
        await h.set_presence(BOB, "Busy", "InACall")  # default PT5M
        await h.clock.advance(300)
        assert await h.shown(BOB) == "Offline/Offline"


async def test_clear_presence_and_its_404_when_no_session() -> None:
    async with harness() as h:
        path = f"/users/{ADELE}/presence/clearPresence"
        assert_graph_error(await h.call("POST", path, {"sessionId": WRITER}), 404)
        await h.set_presence(ADELE, "Busy", "InACall")
        assert (await h.call("POST", path, {"sessionId": WRITER})).status_code == 200
        assert await h.shown(ADELE) == "Offline/Offline"


async def test_communications_aliases_for_set_and_clear() -> None:
    async with harness() as h:
        base = f"/communications/presences/{ADELE}"
        body = {"sessionId": WRITER, "availability": "DoNotDisturb", "activity": "Presenting"}
        assert (await h.call("POST", f"{base}/setPresence", body)).status_code == 200
        assert await h.shown(ADELE) == "DoNotDisturb/Presenting"
        assert (await h.call("POST", f"{base}/clearPresence", {"sessionId": WRITER})).status_code == 200
        assert await h.shown(ADELE) == "Offline/Offline"


async def test_preferred_presence_overrides_and_clears() -> None:
    async with harness() as h:
        await h.set_presence(ADELE, "Busy", "InACall", "PT1H")
        pref = {"availability": "DoNotDisturb", "activity": "DoNotDisturb", "expirationDuration": "PT8H"}
        response = await h.call("POST", f"/users/{ADELE}/presence/setUserPreferredPresence", pref)
        assert response.status_code == 200
        assert await h.shown(ADELE) == "DoNotDisturb/DoNotDisturb"
        response = await h.call("POST", f"/users/{ADELE}/presence/clearUserPreferredPresence", {})
        assert response.status_code == 200
        assert await h.shown(ADELE) == "Busy/InACall"


async def test_preferred_session_pair_is_refused() -> None:
    async with harness() as h:
        pref = {"availability": "Busy", "activity": "InACall"}
        assert_graph_error(
            await h.call("POST", f"/users/{ADELE}/presence/setUserPreferredPresence", pref), 400
        )


async def test_status_message_is_shown_without_expiry_to_apps() -> None:
    async with harness() as h:
        body = {
            "statusMessage": {
                "message": {"content": "On the phone", "contentType": "text"},
                "expiryDateTime": {"dateTime": "2026-11-28T12:00:00.0000000", "timeZone": "UTC"},
            }
        }
        assert (await h.call("POST", f"/users/{ADELE}/presence/setStatusMessage", body)).status_code == 200
        shown = (await h.call("GET", f"/users/{ADELE}/presence")).json()["statusMessage"]
        assert shown == {"message": {"content": "On the phone", "contentType": "text"}}
        await h.clock.advance(2 * 3600)
        h._tokens.clear()  # the first token expired with the clock
        assert (await h.call("GET", f"/users/{ADELE}/presence")).json()["statusMessage"] is None


async def test_status_message_expiry_with_offset_is_refused() -> None:
    async with harness() as h:
        body = {
            "statusMessage": {
                "message": {"content": "x", "contentType": "text"},
                "expiryDateTime": {"dateTime": "2026-11-28T12:00:00+01:00", "timeZone": "UTC"},
            }
        }
        assert_graph_error(await h.call("POST", f"/users/{ADELE}/presence/setStatusMessage", body), 400)


async def test_sequence_number_grows_with_each_visible_change() -> None:
    async with harness() as h:
        seen = []
        for availability, activity in (("Available", "Available"), ("Busy", "InACall"), ("Away", "Away")):
            await h.set_presence(ADELE, availability, activity)
            seen.append((await h.call("GET", f"/users/{ADELE}/presence")).json()["sequenceNumber"])
        assert seen == sorted(seen) and len(set(seen)) == 3


async def test_unknown_user_is_404() -> None:
    async with harness() as h:
        assert_graph_error(await h.call("GET", f"/users/{NOBODY}/presence"), 404)
        assert_graph_error(await h.set_presence(NOBODY, "Busy", "InACall"), 404)


async def test_presence_path_does_not_take_a_upn() -> None:
    async with harness() as h:
        assert_graph_error(await h.call("GET", "/users/adele@contoso.test/presence"), 404)


async def test_get_presences_by_user_id_in_request_order_with_unknown_ids_as_presence_unknown() -> None:
    async with harness() as h:
        await h.set_presence(BOB, "Busy", "InAConferenceCall")
        response = await h.call("POST", "/communications/getPresencesByUserId", {"ids": [BOB, NOBODY, ADELE]})
        assert response.status_code == 200
        got = [(p["id"], p["availability"], p["activity"]) for p in response.json()["value"]]
        assert got == [
            (BOB, "Busy", "InAConferenceCall"),
            (NOBODY, "PresenceUnknown", "PresenceUnknown"),
            (ADELE, "Offline", "Offline"),
        ]


@pytest.mark.parametrize(("count", "status"), [(650, 200), (651, 400)])
async def test_get_presences_by_user_id_takes_at_most_650_ids(count: int, status: int) -> None:
    async with harness() as h:
        ids = [ADELE] + [f"00000000-0000-0000-0000-{i:012d}" for i in range(count - 1)]
        response = await h.call("POST", "/communications/getPresencesByUserId", {"ids": ids})
        assert response.status_code == status
        if status == 200:
            assert len(response.json()["value"]) == 650
        else:
            assert_graph_error(response, 400)


async def test_get_user_by_id_or_upn() -> None:
    async with harness() as h:
        for key in (ADELE, "Adele@Contoso.test"):
            body = (await h.call("GET", f"/users/{key}")).json()
            assert body["id"] == ADELE and body["userPrincipalName"] == "adele@contoso.test"
            assert body["displayName"] == "Adele Vance" and body["businessPhones"] == ["+1 425 555 0109"]
        assert_graph_error(await h.call("GET", "/users/ghost@contoso.test"), 404, "Request_ResourceNotFound")


async def test_missing_or_bad_token_is_401() -> None:
    async with harness() as h:
        response = await h.client.get(f"/v1.0/users/{ADELE}/presence")
        assert_graph_error(response, 401)
        response = await h.client.get(
            f"/v1.0/users/{ADELE}/presence", headers={"Authorization": "Bearer junk"}
        )
        assert_graph_error(response, 401)


async def test_write_needs_readwrite_role() -> None:
    async with harness() as h:
        response = await h.set_presence(ADELE, "Busy", "InACall", app=READER)
        assert_graph_error(response, 403)
        assert (await h.call("GET", f"/users/{ADELE}/presence", app=READER)).status_code == 200


async def test_read_needs_a_presence_role_and_users_need_user_read_all() -> None:
    async with harness() as h:
        assert_graph_error(await h.call("GET", f"/users/{ADELE}/presence", app=NOBODY), 403)
        assert_graph_error(
            await h.call("POST", "/communications/getPresencesByUserId", {"ids": [ADELE]}, app=NOBODY), 403
        )
        assert_graph_error(await h.call("GET", f"/users/{ADELE}", app=READER), 403)


async def test_presenting_switch_rejects_dnd_presenting_like_older_graph() -> None:
    async with harness(make_config(presenting_supported=False)) as h:
        assert_graph_error(await h.set_presence(ADELE, "DoNotDisturb", "Presenting"), 400)
        assert (await h.set_presence(ADELE, "Busy", "InACall")).status_code == 200
