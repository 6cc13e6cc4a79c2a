"""POST /cti/events over real loopback HTTP: what a PBX integrator sees."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

import httpx

from adapters.base import Health
from bridge.model import EndpointKey, LineState, StateChange, Toggle
from tests.adapters.generic_cti.conftest import Running
from tests.adapters.generic_cti.harness import TOKEN, key, post, url

AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def test_one_event_is_accepted_and_emitted(cti: Running) -> None:
    response = await post(cti.adapter, {"extension": "1001", "line": "in_call"})
    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "ignored": []}
    await cti.events.wait(lambda: len(cti.events.canonical) == 1, "event")
    assert cti.events.canonical == [StateChange(key("1001"), line=LineState.IN_CALL)]
    assert cti.adapter.counters["accepted"] == 1


async def test_array_of_events_in_order(cti: Running) -> None:
    body = [{"extension": "1001", "line": "ringing"}, {"extension": "1001", "line": "in_call"}]
    response = await post(cti.adapter, body)
    assert response.json() == {"accepted": 2, "ignored": []}
    await cti.events.wait(lambda: len(cti.events.canonical) == 2, "events")
    assert [c.line for c in cti.events.canonical] == [LineState.RINGING, LineState.IN_CALL]  # type: ignore[union-attr]


async def test_partial_event_changes_only_what_it_names(cti: Running) -> None:
    await post(cti.adapter, {"extension": "1002", "dnd": "on"})
    await cti.events.wait(lambda: len(cti.events.canonical) == 1, "event")
    assert cti.events.canonical == [StateChange(key("1002"), dnd=Toggle.ON)]


async def test_wrong_token_is_401_counted_and_health_unchanged(cti: Running) -> None:
    response = await post(cti.adapter, {"extension": "1001", "line": "in_call"}, token="not-the-token")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json() == {"error": "unauthorized"}
    assert cti.adapter.counters["bad_token"] == 1
    assert cti.adapter.health == Health.CONNECTED
    await cti.clock.settle()
    assert cti.events.canonical == []


async def test_missing_or_non_bearer_authorization_is_401(cti: Running) -> None:
    assert (await post(cti.adapter, {"extension": "1001"}, token=None)).status_code == 401
    async with httpx.AsyncClient() as client:
        basic = await client.post(url(cti.adapter), json={"extension": "1001"}, auth=("pbx", TOKEN))
    assert basic.status_code == 401
    assert cti.adapter.counters["bad_token"] == 2


async def test_token_never_echoed_in_answers_or_repr(cti: Running) -> None:
    response = await post(cti.adapter, {"extension": "1001", "bogus": 1})
    assert TOKEN not in response.text
    assert TOKEN not in repr(cti.adapter)


async def test_bad_json_is_400_and_counted(cti: Running) -> None:
    response = await post(cti.adapter, None, raw=b'{"extension": "1001", ')
    assert response.status_code == 400
    assert response.json()["kind"] == "bad_json"
    assert "invalid JSON" in response.json()["error"]
    assert cti.adapter.counters["rejected_bad_json"] == 1


async def test_unknown_key_is_400_naming_it(cti: Running) -> None:
    response = await post(cti.adapter, {"extension": "1001", "state": "busy"})
    assert response.status_code == 400
    assert response.json() | {"error": ""} == {"error": "", "kind": "schema", "index": 0, "field": "state"}
    assert "unknown key" in response.json()["error"]


async def test_bad_line_value_rejects_whole_request_naming_index_and_field(cti: Running) -> None:
    body = [{"extension": "1001", "line": "in_call"}, {"extension": "1002", "line": "talking"}]
    response = await post(cti.adapter, body)
    assert response.status_code == 400
    assert (response.json()["index"], response.json()["field"]) == (1, "line")
    assert "event 1, field 'line'" in response.json()["error"]
    await cti.clock.settle()
    assert cti.events.canonical == [], "nothing of a rejected request is applied"
    assert cti.adapter.counters["rejected_schema"] == 1
    assert cti.adapter.counters["accepted"] == 0


async def test_unmapped_extension_is_202_listed_as_ignored(start_cti: Callable[..., object]) -> None:
    cti: Running = await start_cti(mapped=lambda endpoint: endpoint.extension != "9999")  # type: ignore[misc]
    body = [{"extension": "1001", "line": "in_call"}, {"extension": "9999", "line": "in_call"}]
    response = await post(cti.adapter, body)
    assert response.status_code == 202
    assert response.json() == {
        "accepted": 1,
        "ignored": [{"index": 1, "extension": "9999", "context": "", "device": "", "reason": "unmapped"}],
    }
    await cti.events.wait(lambda: len(cti.events.canonical) == 1, "event")
    assert cti.events.canonical[0].endpoint == EndpointKey("pbx", "1001")  # type: ignore[union-attr]
    assert cti.adapter.counters["ignored_unmapped"] == 1


async def test_oversize_body_by_content_length_is_413(start_cti: Callable[..., object]) -> None:
    run: Running = await start_cti(max_body_bytes=100)  # type: ignore[misc]
    body = [{"extension": str(1000 + i), "line": "idle"} for i in range(10)]
    response = await post(run.adapter, body)
    assert response.status_code == 413
    assert "100 bytes" in response.json()["error"]
    assert run.adapter.counters["rejected_oversize"] == 1


async def test_oversize_streamed_body_without_length_is_413(start_cti: Callable[..., object]) -> None:
    run: Running = await start_cti(max_body_bytes=100)  # type: ignore[misc]

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b" " * 20  # chunked transfer: no Content-Length to check up front

    async with httpx.AsyncClient() as client:
        response = await client.post(url(run.adapter), content=chunks(), headers=AUTH)
    assert response.status_code == 413
    assert run.adapter.counters["rejected_oversize"] == 1


async def test_body_at_the_limit_is_accepted(start_cti: Callable[..., object]) -> None:
    body = json.dumps({"extension": "1001", "line": "idle"}).encode()
    run: Running = await start_cti(max_body_bytes=len(body))  # type: ignore[misc]
    assert (await post(run.adapter, None, raw=body)).status_code == 202


async def test_wrong_method_is_405_with_allow(cti: Running) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(url(cti.adapter), headers=AUTH)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


async def test_non_json_content_type_is_415(cti: Running) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(
            url(cti.adapter), content=b"extension=1001", headers=AUTH | {"Content-Type": "text/plain"}
        )
    assert response.status_code == 415
    assert "application/json" in response.json()["error"]


async def test_missing_content_type_is_tolerated(cti: Running) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(url(cti.adapter), content=b'{"extension": "1001"}', headers=AUTH)
    assert response.status_code == 202


async def test_still_serving_after_every_kind_of_rejection(cti: Running) -> None:
    await post(cti.adapter, None, raw=b"\xff\xfe")
    await post(cti.adapter, None, raw=b"[" * 50000)
    await post(cti.adapter, {"extension": None})
    await post(cti.adapter, 42)
    response = await post(cti.adapter, {"extension": "1001", "line": "idle"})
    assert response.status_code == 202
    assert cti.adapter.health == Health.CONNECTED


async def test_two_authorization_headers_are_400_not_first_wins(cti: Running) -> None:
    """A proxy that adds its own Authorization must not make us pick one silently."""
    headers = [("Authorization", f"Bearer {TOKEN}"), ("Authorization", "Bearer something-else")]
    async with httpx.AsyncClient() as client:
        response = await client.post(url(cti.adapter), json={"extension": "1001"}, headers=headers)
    assert response.status_code == 400
    assert "one Authorization header" in response.json()["error"]
    await cti.clock.settle()
    assert cti.events.canonical == []
