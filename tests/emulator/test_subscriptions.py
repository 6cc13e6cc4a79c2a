"""Presence change-notification subscriptions: handshake, limits, notifications, lifecycle."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from bridge.emulator.subscriptions import graph_time
from tests.emulator.graph_support import ADELE, BOB, NOBODY, READER, Harness, harness

HOOK = "https://bridge.test/hook"
LIFECYCLE = "https://bridge.test/lifecycle"


class Receiver:
    """A webhook endpoint: answers validation per ``mode`` and records notifications."""

    def __init__(self) -> None:
        self.mode = "echo"
        self.validations: list[httpx.Request] = []
        self.posts: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        token = request.url.params.get("validationToken")
        if token is not None:
            self.validations.append(request)
            if self.mode == "hang":
                await asyncio.Event().wait()
            if self.mode == "wrong":
                return httpx.Response(200, text="not the token")
            if self.mode == "encoded":
                return httpx.Response(200, text=quote(token))
            if self.mode == "json":
                return httpx.Response(200, json=token)
            return httpx.Response(200, text=token)
        self.posts.append((str(request.url), json.loads(request.content)))
        return httpx.Response(202)

    def items(self, url: str = HOOK) -> list[dict[str, Any]]:
        return [item for u, body in self.posts if u == url for item in body["value"]]


@asynccontextmanager
async def with_receiver() -> AsyncIterator[tuple[Harness, Receiver]]:
    receiver = Receiver()
    async with httpx.AsyncClient(transport=httpx.MockTransport(receiver)) as http:
        async with harness(http=http, ticker=True) as h:
            yield h, receiver


def request_body(
    h: Harness, minutes: float = 60, resource: str | None = None, **extra: Any
) -> dict[str, Any]:
    expiry = h.clock.now() + timedelta(minutes=minutes)
    return {
        "changeType": "updated",
        "notificationUrl": HOOK,
        "resource": resource or f"communications/presences/{ADELE}",
        "expirationDateTime": expiry.isoformat().replace("+00:00", "Z"),
        "clientState": "secret-state",
        **extra,
    }


async def subscribe(h: Harness, app: str | None = None, **kwargs: Any) -> httpx.Response:
    body = request_body(h, **kwargs)
    return await (
        h.call("POST", "/subscriptions", body, app=app) if app else h.call("POST", "/subscriptions", body)
    )


def expiry_of(response: httpx.Response) -> datetime:
    return datetime.fromisoformat(response.json()["expirationDateTime"].replace("Z", "+00:00"))


async def test_create_validates_the_url_with_a_plain_text_token_and_returns_201() -> None:
    async with with_receiver() as (h, receiver):
        response = await subscribe(h)
        assert response.status_code == 201, response.text
        body = response.json()
        assert (
            body["resource"] == f"communications/presences/{ADELE}" and body["clientState"] == "secret-state"
        )
        assert body["id"] and body["changeType"] == "updated"
        (validation,) = receiver.validations
        assert validation.method == "POST"
        assert validation.headers["content-type"].startswith("text/plain")
        assert validation.url.params["validationToken"].startswith("Validation:")  # spaces survive decoding


@pytest.mark.parametrize("mode", ["wrong", "encoded", "json"])
async def test_a_bad_echo_fails_validation_with_400_and_creates_nothing(mode: str) -> None:
    async with with_receiver() as (h, receiver):
        receiver.mode = mode
        response = await subscribe(h)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "ValidationError"
        assert (await h.call("GET", "/subscriptions")).json()["value"] == []


async def test_no_answer_within_10_seconds_fails_validation() -> None:
    async with with_receiver() as (h, receiver):
        receiver.mode = "hang"
        await h.token()
        pending = asyncio.ensure_future(subscribe(h))
        await h.clock.advance(9.9)
        assert not pending.done()
        await h.clock.advance(0.1)
        assert (await pending).status_code == 400


async def test_expiry_over_60_minutes_is_refused_and_under_45_raised_to_45() -> None:
    async with with_receiver() as (h, _):
        assert (await subscribe(h, minutes=61)).status_code == 400
        response = await subscribe(h, minutes=10)
        assert response.status_code == 201
        assert expiry_of(response) == h.clock.now() + timedelta(minutes=45)


async def test_notifications_on_every_visible_change_echo_client_state() -> None:
    async with with_receiver() as (h, receiver):
        sub_id = (await subscribe(h)).json()["id"]
        await h.set_presence(ADELE, "Available", "Available", "PT1H")
        await h.set_presence(ADELE, "Available", "Available", "PT1H")  # a refresh: nothing visible
        await h.set_presence(BOB, "Busy", "InACall")  # not subscribed
        await h.emu.settle()
        (item,) = receiver.items()
        assert item["subscriptionId"] == sub_id and item["clientState"] == "secret-state"
        assert item["changeType"] == "updated" and item["resource"] == f"communications/presences/{ADELE}"
        assert item["resourceData"] == {
            "@odata.id": f"users/{ADELE}/presence",
            "@odata.type": "#microsoft.graph.presence",
            "id": ADELE,
        }
        assert item["tenantId"] == h.emu.config.tenant_id
        await h.clock.advance(300)  # fades to AvailableInactive: the emulator tells on its own
        await h.emu.settle()
        assert len(receiver.items()) == 2
        await h.clock.advance(300)  # then Away
        await h.emu.settle()
        assert len(receiver.items()) == 3


async def test_bulk_filter_subscription_covers_each_id() -> None:
    async with with_receiver() as (h, receiver):
        resource = f"/communications/presences?$filter=id in ('{ADELE}','{BOB}')"
        assert (await subscribe(h, resource=resource)).status_code == 201
        await h.set_presence(BOB, "Busy", "InACall")
        await h.set_presence(ADELE, "Busy", "InACall")
        await h.emu.settle()
        assert [i["resourceData"]["id"] for i in receiver.items()] == [BOB, ADELE]


async def test_at_most_650_ids_per_subscription() -> None:
    async with with_receiver() as (h, _):
        ids = ",".join(f"'{i:08d}-0000-0000-0000-000000000000'" for i in range(651))
        response = await subscribe(h, resource=f"/communications/presences?$filter=id in ({ids})")
        assert response.status_code == 400


async def test_one_subscription_per_user_per_app() -> None:
    async with with_receiver() as (h, _):
        assert (await subscribe(h)).status_code == 201
        conflict = await subscribe(h, resource=f"/communications/presences?$filter=id in ('{BOB}','{ADELE}')")
        assert conflict.status_code == 409
        assert (await subscribe(h, app=READER)).status_code == 201  # another app may


async def test_renew_and_delete() -> None:
    async with with_receiver() as (h, receiver):
        created = await subscribe(h, minutes=45)
        sub_id = created.json()["id"]
        await h.clock.advance(30 * 60)
        new_expiry = h.clock.now() + timedelta(minutes=60)
        renewed = await h.call(
            "PATCH", f"/subscriptions/{sub_id}", {"expirationDateTime": graph_time(new_expiry)}
        )
        assert renewed.status_code == 200 and expiry_of(renewed) == new_expiry
        assert (await h.call("DELETE", f"/subscriptions/{sub_id}")).status_code == 204
        assert (await h.call("GET", f"/subscriptions/{sub_id}")).status_code == 404
        await h.set_presence(ADELE, "Busy", "InACall")
        await h.emu.settle()
        assert receiver.items() == []
        assert (await h.call("DELETE", f"/subscriptions/{sub_id}")).status_code == 404


async def test_reauthorization_required_before_expiry_then_the_subscription_ends() -> None:
    async with with_receiver() as (h, receiver):
        created = await subscribe(h, minutes=60, lifecycleNotificationUrl=LIFECYCLE)
        assert len(receiver.validations) == 2  # both URLs validated
        sub_id = created.json()["id"]
        await h.clock.advance(49 * 60)
        await h.emu.settle()
        assert receiver.items(LIFECYCLE) == []
        await h.clock.advance(60)
        await h.emu.settle()
        (event,) = receiver.items(LIFECYCLE)
        assert event["lifecycleEvent"] == "reauthorizationRequired" and event["subscriptionId"] == sub_id
        assert event["clientState"] == "secret-state"
        await h.clock.advance(10 * 60)
        h._tokens.clear()
        assert (await h.call("GET", f"/subscriptions/{sub_id}")).status_code == 404
        await h.set_presence(ADELE, "Busy", "InACall")
        await h.emu.settle()
        assert receiver.items() == []


async def test_subscriptions_need_a_presence_read_role() -> None:
    async with with_receiver() as (h, _):
        assert (await subscribe(h, app=NOBODY)).status_code == 403


async def test_failed_deliveries_are_counted_not_raised() -> None:
    async def refuse(request: httpx.Request) -> httpx.Response:
        token = request.url.params.get("validationToken")
        return httpx.Response(200, text=token) if token else httpx.Response(500)

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as http:
        async with harness(http=http) as h:
            assert (await subscribe(h)).status_code == 201
            await h.set_presence(ADELE, "Busy", "InACall")
            await h.emu.settle()
            assert h.emu.stats()["subscriptions_delivery_failures"] == 1
