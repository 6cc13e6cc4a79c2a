"""Change-notification subscriptions for presence: ``POST/PATCH/DELETE /v1.0/subscriptions``.

Resources ``communications/presences/{id}`` and ``/communications/presences?$filter=id in ('a','b')``
[CN-PRES]. On creation the notificationUrl (and lifecycleNotificationUrl) is validated: a POST with
``?validationToken=`` as text/plain that must be echoed, decoded, as text/plain within 10 s
[WEBHOOK], else 400. Expiry at most 60 minutes; under 45 raised to 45 [SUB]; at most 650 ids; one
subscription per user per app (409) [CN-PRES]. Basic notifications (reference 6.5) are POSTed on
every visible change; ``reauthorizationRequired`` goes to the lifecycleNotificationUrl 10 minutes
before expiry (timing inferred) [LIFE]. Expired subscriptions vanish.

Deviation: Graph allows presence subscriptions only with delegated permissions; the emulator
accepts its app tokens with ``Presence.Read.All`` or ``Presence.ReadWrite.All``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bridge.emulator.graph_routes import READ_ROLES, json_body, summarize
from bridge.emulator.identity import Principal
from bridge.emulator.state import PresenceChange, PresenceRuleError, PresenceState, bad_request
from bridge.kit.clock import Clock, within

if TYPE_CHECKING:
    from bridge.emulator.graph_routes import GraphRoutes

log = logging.getLogger(__name__)

MAX_IDS = 650
MAX_LIFETIME = timedelta(minutes=60)
MIN_LIFETIME = timedelta(minutes=45)
REAUTHORIZE_LEAD = timedelta(minutes=10)
VALIDATION_TIMEOUT_SECONDS = 10.0
MAX_CLIENT_STATE = 128
_SINGLE = re.compile(r"^communications/presences/([^/?]+)$", re.IGNORECASE)
_BULK = re.compile(r"^communications/presences\?\$filter=id\s+in\s*\((.*)\)$", re.IGNORECASE)
_CONFLICT = "conflict; Reason: A subscripton already exists. It must be deleted before a another can be made"


@dataclass(frozen=True)
class Subscription:
    id: str
    app_id: str
    resource: str
    user_ids: tuple[str, ...]
    change_type: str
    notification_url: str
    lifecycle_url: str | None
    client_state: str | None
    expires_at: datetime
    reauthorization_sent: bool = False


def graph_time(moment: datetime) -> str:
    """``2023-09-14T10:00:00.0000000Z`` as Graph writes it."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond:06d}0Z"


def parse_resource(resource: object) -> tuple[str, ...]:
    """The user ids a presence subscription resource names; 400 for anything else."""
    if not isinstance(resource, str):
        raise bad_request("resource is required.")
    text = resource.strip().lstrip("/")
    if single := _SINGLE.match(text):
        return (single.group(1),)
    if bulk := _BULK.match(text):
        ids = tuple(dict.fromkeys(re.findall(r"'([^']+)'", bulk.group(1))))
        if not ids:
            raise bad_request("The $filter names no user ids.")
        if len(ids) > MAX_IDS:
            raise bad_request(f"At most {MAX_IDS} user ids are supported per subscription, got {len(ids)}.")
        return ids
    raise bad_request(f"Resource '{resource}' is not supported: use communications/presences.")


def _parse_expiry(value: object, now: datetime) -> datetime:
    if not isinstance(value, str):
        raise bad_request("expirationDateTime is required.")
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise bad_request(f"expirationDateTime '{value}' is not a date-time.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment - now > MAX_LIFETIME:
        raise bad_request(
            "Subscription expiration can only be 60 minutes in the future for presence resources.",
            code="InvalidRequest",
        )
    return max(moment, now + MIN_LIFETIME)


def _check_url(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise bad_request(f"{name} is required.")
    parts = urlsplit(value)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise bad_request(f"{name} must be an https URL.")
    return value


class Subscriptions:
    """Subscription registry and notification delivery (each delivery an owned task)."""

    def __init__(
        self,
        state: PresenceState,
        clock: Clock,
        http: httpx.AsyncClient,
        *,
        tenant_id: str,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self._state = state
        self._clock = clock
        self._http = http
        self._tenant_id = tenant_id
        self._wake = wake
        self._subs: dict[str, Subscription] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.counters: dict[str, float] = {
            "created": 0,
            "validation_failures": 0,
            "notifications_sent": 0,
            "lifecycle_sent": 0,
            "delivery_failures": 0,
        }
        state.add_listener(self._on_change)

    # ---- registry ----

    def active(self) -> list[Subscription]:
        return list(self._subs.values())

    async def create(self, body: dict[str, Any], principal: Principal) -> Subscription:
        now = self._clock.now()
        if body.get("changeType") != "updated":
            raise bad_request("changeType must be 'updated' for presence.")
        if body.get("includeResourceData"):
            raise bad_request("The emulator sends basic notifications only (includeResourceData=false).")
        user_ids = parse_resource(body.get("resource"))
        for user_id in user_ids:
            if not self._state.has_user(user_id):
                raise PresenceRuleError(404, "NotFound", f"User '{user_id}' was not found.")
        client_state = body.get("clientState")
        if client_state is not None and (
            not isinstance(client_state, str) or len(client_state) > MAX_CLIENT_STATE
        ):
            raise bad_request(f"clientState must be a string of at most {MAX_CLIENT_STATE} characters.")
        notification_url = _check_url(body.get("notificationUrl"), "notificationUrl")
        lifecycle = body.get("lifecycleNotificationUrl")
        lifecycle_url = _check_url(lifecycle, "lifecycleNotificationUrl") if lifecycle is not None else None
        expires_at = _parse_expiry(body.get("expirationDateTime"), now)
        self.expire(now)
        wanted = {u.lower() for u in user_ids}
        for sub in self._subs.values():
            if sub.app_id == principal.client_id and wanted & {u.lower() for u in sub.user_ids}:
                raise PresenceRuleError(409, "Conflict", _CONFLICT)
        await self._validate(notification_url)
        if lifecycle_url is not None:
            await self._validate(lifecycle_url)
        sub = Subscription(
            id=str(uuid.uuid4()),
            app_id=principal.client_id,
            resource=str(body["resource"]),
            user_ids=user_ids,
            change_type="updated",
            notification_url=notification_url,
            lifecycle_url=lifecycle_url,
            client_state=client_state,
            expires_at=expires_at,
        )
        self._subs[sub.id] = sub
        self.counters["created"] += 1
        self._wake()
        return sub

    def renew(self, sub_id: str, body: dict[str, Any], principal: Principal) -> Subscription:
        sub = self._own(sub_id, principal)
        expires_at = _parse_expiry(body.get("expirationDateTime"), self._clock.now())
        sub = replace(sub, expires_at=expires_at, reauthorization_sent=False)
        self._subs[sub.id] = sub
        self._wake()
        return sub

    def delete(self, sub_id: str, principal: Principal) -> None:
        del self._subs[self._own(sub_id, principal).id]

    def get(self, sub_id: str, principal: Principal) -> Subscription:
        return self._own(sub_id, principal)

    def reauthorize(self, sub_id: str, principal: Principal) -> None:
        sub = self._own(sub_id, principal)
        self._subs[sub.id] = replace(sub, reauthorization_sent=False)

    def clear(self) -> None:
        self._subs.clear()

    def _own(self, sub_id: str, principal: Principal) -> Subscription:
        self.expire(self._clock.now())
        sub = self._subs.get(sub_id)
        if sub is None or sub.app_id != principal.client_id:
            raise PresenceRuleError(404, "NotFound", f"Subscription '{sub_id}' was not found.")
        return sub

    # ---- time ----

    def expire(self, now: datetime) -> None:
        for sub_id in [s.id for s in self._subs.values() if now >= s.expires_at]:
            log.info("subscription %s expired", sub_id)
            del self._subs[sub_id]

    def refresh(self, now: datetime) -> None:
        """Send due ``reauthorizationRequired`` events and drop expired subscriptions."""
        self.expire(now)
        for sub in list(self._subs.values()):
            if (
                sub.lifecycle_url
                and not sub.reauthorization_sent
                and now >= sub.expires_at - REAUTHORIZE_LEAD
            ):
                self._subs[sub.id] = replace(sub, reauthorization_sent=True)
                self._spawn(self._send_lifecycle(sub))

    def next_deadline(self, now: datetime) -> datetime | None:
        times: list[datetime] = []
        for sub in self._subs.values():
            times.append(sub.expires_at)
            if sub.lifecycle_url and not sub.reauthorization_sent:
                times.append(sub.expires_at - REAUTHORIZE_LEAD)
        future = [t for t in times if t > now]
        return min(future) if future else None

    # ---- delivery ----

    def _on_change(self, change: PresenceChange) -> None:
        self.expire(change.at)
        for sub in self._subs.values():
            if any(u.lower() == change.user_id.lower() for u in sub.user_ids):
                self._spawn(self._send_change(sub, change.user_id))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        try:
            task = asyncio.get_running_loop().create_task(coro)
        except RuntimeError:
            coro.close()
            self.counters["delivery_failures"] += 1
            log.warning("notification not sent: no running event loop")
            return
        self._tasks.add(task)
        task.add_done_callback(self._delivery_done)

    def _delivery_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.counters["delivery_failures"] += 1
            log.error("notification delivery task failed", exc_info=task.exception())

    async def drain(self) -> None:
        """Wait until every delivery started so far (and any they started) has finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        self._tasks.clear()

    async def _send_change(self, sub: Subscription, user_id: str) -> None:
        item = {
            "subscriptionId": sub.id,
            "clientState": sub.client_state,
            "changeType": "updated",
            "tenantId": self._tenant_id,
            "resource": f"communications/presences/{user_id}",
            "subscriptionExpirationDateTime": graph_time(sub.expires_at),
            "resourceData": {
                "@odata.id": f"users/{user_id}/presence",
                "@odata.type": "#microsoft.graph.presence",
                "id": user_id,
            },
            "organizationId": self._tenant_id,
        }
        if await self._post(sub.notification_url, {"value": [item]}):
            self.counters["notifications_sent"] += 1

    async def _send_lifecycle(self, sub: Subscription) -> None:
        assert sub.lifecycle_url is not None
        item = {
            "subscriptionId": sub.id,
            "subscriptionExpirationDateTime": graph_time(sub.expires_at),
            "tenantId": self._tenant_id,
            "clientState": sub.client_state,
            "lifecycleEvent": "reauthorizationRequired",
        }
        if await self._post(sub.lifecycle_url, {"value": [item]}):
            self.counters["lifecycle_sent"] += 1

    async def _post(self, url: str, payload: dict[str, Any]) -> bool:
        try:
            response = await self._http.post(url, json=payload, timeout=10.0)
        except httpx.HTTPError as exc:
            self.counters["delivery_failures"] += 1
            log.warning("notification to %s failed: %s", url, type(exc).__name__)
            return False
        if not 200 <= response.status_code < 300:
            self.counters["delivery_failures"] += 1
            log.warning("notification to %s answered %s", url, response.status_code)
            return False
        return True

    async def _validate(self, url: str) -> None:
        """The validationToken handshake [WEBHOOK]; 400 unless echoed within 10 s."""
        token = (
            f"Validation: Testing client application reachability for subscription Request-Id: {uuid.uuid4()}"
        )
        post = asyncio.ensure_future(
            self._http.post(
                url,
                params={"validationToken": token},
                headers={"Content-Type": "text/plain; charset=utf-8"},
                content=b"",
                timeout=VALIDATION_TIMEOUT_SECONDS,
            )
        )
        with contextlib.suppress(Exception):  # the outcome is read from ``post`` below
            await within(self._clock, VALIDATION_TIMEOUT_SECONDS, post)
        problem = self._validation_problem(post)
        if problem is not None:
            self.counters["validation_failures"] += 1
            log.info("subscription validation of %s failed: %s", url, problem)
            raise bad_request(f"Subscription validation request failed. {problem}", code="ValidationError")

    @staticmethod
    def _validation_problem(post: asyncio.Future[httpx.Response]) -> str | None:
        if post.cancelled():
            return "The notification endpoint did not answer within 10 seconds."
        if post.exception() is not None:
            return "The notification endpoint could not be reached."
        response = post.result()
        if response.status_code != 200:
            return f"The notification endpoint answered {response.status_code}, expected 200 OK."
        if not response.headers.get("content-type", "").lower().startswith("text/plain"):
            return "The response must be text/plain."
        token = str(response.request.url.params.get("validationToken"))
        if response.text != token:
            return "Response must exactly match validationToken query parameter."
        return None


class SubscriptionRoutes:
    """``/v1.0/subscriptions`` endpoints, guarded like every Graph call (401/403)."""

    def __init__(self, subscriptions: Subscriptions, graph: GraphRoutes) -> None:
        self.subs = subscriptions
        self.graph = graph

    def routes(self) -> list[BaseRoute]:
        g = self.graph.guarded
        return [
            Route("/v1.0/subscriptions", g(READ_ROLES, False, self._create), methods=["POST"]),
            Route("/v1.0/subscriptions", g(READ_ROLES, False, self._list), methods=["GET"]),
            Route("/v1.0/subscriptions/{sub_id}", g(READ_ROLES, False, self._get), methods=["GET"]),
            Route("/v1.0/subscriptions/{sub_id}", g(READ_ROLES, False, self._renew), methods=["PATCH"]),
            Route("/v1.0/subscriptions/{sub_id}", g(READ_ROLES, False, self._delete), methods=["DELETE"]),
            Route(
                "/v1.0/subscriptions/{sub_id}/reauthorize",
                g(READ_ROLES, False, self._reauthorize),
                methods=["POST"],
            ),
        ]

    @staticmethod
    def as_json(sub: Subscription) -> dict[str, Any]:
        return {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity",
            "id": sub.id,
            "resource": sub.resource,
            "applicationId": sub.app_id,
            "changeType": sub.change_type,
            "clientState": sub.client_state,
            "notificationUrl": sub.notification_url,
            "lifecycleNotificationUrl": sub.lifecycle_url,
            "expirationDateTime": graph_time(sub.expires_at),
            "creatorId": sub.app_id,
            "includeResourceData": False,
            "latestSupportedTlsVersion": "v1_2",
            "encryptionCertificate": None,
            "encryptionCertificateId": None,
            "notificationQueryOptions": None,
            "notificationUrlAppId": None,
        }

    async def _create(self, request: Request, principal: Principal) -> Response:
        body = await json_body(request)
        summarize(request, f"subscribe {body.get('resource')}"[:120])
        sub = await self.subs.create(body, principal)
        return JSONResponse(self.as_json(sub), status_code=201)

    async def _list(self, request: Request, principal: Principal) -> Response:
        own = [self.as_json(s) for s in self.subs.active() if s.app_id == principal.client_id]
        return JSONResponse({"value": own})

    async def _get(self, request: Request, principal: Principal) -> Response:
        return JSONResponse(self.as_json(self.subs.get(request.path_params["sub_id"], principal)))

    async def _renew(self, request: Request, principal: Principal) -> Response:
        body = await json_body(request)
        summarize(request, f"renew to {body.get('expirationDateTime')}")
        sub = self.subs.renew(request.path_params["sub_id"], body, principal)
        return JSONResponse(self.as_json(sub))

    async def _delete(self, request: Request, principal: Principal) -> Response:
        self.subs.delete(request.path_params["sub_id"], principal)
        return Response(status_code=204)

    async def _reauthorize(self, request: Request, principal: Principal) -> Response:
        self.subs.reauthorize(request.path_params["sub_id"], principal)
        return Response(status_code=200)
