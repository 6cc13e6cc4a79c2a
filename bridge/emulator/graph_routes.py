"""The Graph presence endpoints under ``/v1.0`` (paths exactly as Graph's), plus the request journal.

Every call needs a bearer token from the emulator's identity platform (401), and a role:
writes ``Presence.ReadWrite.All``, reads ``Presence.Read.All`` or ``Presence.ReadWrite.All``,
``GET /users/{id}`` ``User.Read.All`` (403). Presence calls share one sliding-window rate limit per
(tenant, app) and answer 429 with ``Retry-After`` past it. Errors use Graph's shape
``{"error": {"code", "message", "innerError": {"request-id", "date"}}}``.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bridge.emulator.config import ROLE_READ, ROLE_READWRITE, ROLE_USER_READ
from bridge.emulator.faults import error_body, format_retry_after
from bridge.emulator.identity import AuthProblem, Principal
from bridge.emulator.state import PRESENCE_UNKNOWN, PresenceRuleError, Visible, bad_request, check_session_id

if TYPE_CHECKING:
    from bridge.emulator.app import Emulator

log = logging.getLogger(__name__)

MAX_IDS_PER_REQUEST = 650  # [BYID]
READ_ROLES = frozenset({ROLE_READ, ROLE_READWRITE})
WRITE_ROLES = frozenset({ROLE_READWRITE})
USER_ROLES = frozenset({ROLE_USER_READ})
_FORBIDDEN = "Insufficient privileges to complete the operation."

Handler = Callable[[Request, Principal], Awaitable[Response]]


# ---- journal ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JournalEntry:
    at: str  # ISO time on the emulator's clock
    method: str
    path: str
    client_id: str | None
    status: int  # 0: connection dropped without a response
    summary: str
    request_id: str


class Journal:
    """The last ``maxlen`` requests the emulator received (admin API ``/_emulator/journal``)."""

    def __init__(self, maxlen: int = 2000) -> None:
        self._entries: deque[JournalEntry] = deque(maxlen=maxlen)

    def record(self, entry: JournalEntry) -> None:
        self._entries.append(entry)

    def entries(self, limit: int | None = None) -> list[dict[str, Any]]:
        items = list(self._entries)
        if limit is not None:
            items = items[-limit:] if limit > 0 else []
        return [asdict(e) for e in items]

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


# ---- helpers ------------------------------------------------------------------------------------


def request_id_of(request: Request) -> str:
    state = request.scope.setdefault("state", {})
    if "request_id" not in state:
        state["request_id"] = str(uuid.uuid4())
    return str(state["request_id"])


def summarize(request: Request, text: str) -> None:
    request.scope.setdefault("state", {})["summary"] = text[:200]


def graph_error(request: Request, status: int, code: str, message: str, now: datetime) -> JSONResponse:
    return JSONResponse(error_body(code, message, request_id_of(request), now), status_code=status)


def presence_json(visible: Visible) -> dict[str, Any]:
    """A presence resource as an app (always "another user") reads it [RES][STATUS]."""
    message = visible.status_message
    return {
        "id": visible.user_id,
        "availability": visible.pair.availability,
        "activity": visible.pair.activity,
        "statusMessage": (
            {"message": {"content": message.content, "contentType": message.content_type}}
            if message
            else None
        ),
        "outOfOfficeSettings": {"message": None, "isOutOfOffice": False},
        "sequenceNumber": visible.sequence or None,
    }


async def json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise bad_request("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    return body


def _status_expiry(value: object) -> datetime | None:
    """``expiryDateTime`` (dateTimeTimeZone): dateTime without offset plus a time zone name [PSM]."""
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("dateTime"), str):
        raise bad_request("expiryDateTime must be {'dateTime': ..., 'timeZone': ...}.")
    try:
        local = datetime.fromisoformat(value["dateTime"])
    except ValueError:
        raise bad_request(f"expiryDateTime.dateTime '{value['dateTime']}' is not a date-time.") from None
    if local.tzinfo is not None:
        raise bad_request("expiryDateTime.dateTime must not include a time zone offset.")
    zone_name = value.get("timeZone") or "UTC"
    try:
        zone = UTC if str(zone_name).upper() == "UTC" else ZoneInfo(str(zone_name))
    except (ZoneInfoNotFoundError, ValueError):
        raise bad_request(
            f"timeZone '{zone_name}' is not supported by the emulator (use UTC or IANA)."
        ) from None
    return local.replace(tzinfo=zone).astimezone(UTC)


# ---- routes -------------------------------------------------------------------------------------


class GraphRoutes:
    """Builds the ``/v1.0`` routes over an :class:`~bridge.emulator.app.Emulator`."""

    def __init__(self, emulator: Emulator) -> None:
        self.emu = emulator

    def routes(self) -> list[BaseRoute]:
        w, r = WRITE_ROLES, READ_ROLES
        table: list[tuple[str, str, frozenset[str], bool, Handler]] = []
        for base in ("/v1.0/users/{user_id}/presence", "/v1.0/communications/presences/{user_id}"):
            table += [
                (f"{base}/setPresence", "POST", w, True, self._set_presence),
                (f"{base}/clearPresence", "POST", w, True, self._clear_presence),
                (f"{base}/setUserPreferredPresence", "POST", w, True, self._set_preferred),
                (f"{base}/clearUserPreferredPresence", "POST", w, True, self._clear_preferred),
                (f"{base}/setStatusMessage", "POST", w, True, self._set_status_message),
                (base, "GET", r, True, self._get_presence),
            ]
        table += [
            ("/v1.0/communications/getPresencesByUserId", "POST", r, True, self._by_user_ids),
            ("/v1.0/users/{user_key}", "GET", USER_ROLES, False, self._get_user),
        ]
        return [
            Route(path, self.guarded(roles, presence, handler), methods=[method])
            for path, method, roles, presence, handler in table
        ]

    def guarded(
        self, roles: frozenset[str], presence_call: bool, handler: Handler
    ) -> Callable[[Request], Awaitable[Response]]:
        """Auth (401), rate limit (429, presence calls), role (403), then ``handler``."""

        async def endpoint(request: Request) -> Response:
            emu = self.emu
            now = emu.clock.now()
            try:
                principal = emu.identity.principal(request.headers.get("authorization"))
                request.scope.setdefault("state", {})["client_id"] = principal.client_id
                if presence_call:
                    wait = emu.limiter.acquire(
                        principal.tenant_id, principal.client_id, emu.clock.monotonic()
                    )
                    if wait is not None:
                        return self._throttled(request, wait, now)
                if not principal.roles & roles:
                    raise AuthProblem(403, "Forbidden", _FORBIDDEN)
                return await handler(request, principal)
            except AuthProblem as problem:
                body = problem.body(request_id=request_id_of(request), date=now)
                return JSONResponse(body, status_code=problem.status)
            except PresenceRuleError as err:
                return graph_error(request, err.status, err.code, err.message, now)

        return endpoint

    @staticmethod
    def _throttled(request: Request, wait: float, now: datetime) -> JSONResponse:
        """Graph's 429 as documented in [THR]."""
        rid = request_id_of(request)
        body = {
            "error": {
                "code": "TooManyRequests",
                "message": "Please retry again later.",
                "innerError": {
                    "code": "429",
                    "date": now.strftime("%Y-%m-%dT%H:%M:%S"),
                    "message": "Please retry after",
                    "request-id": rid,
                    "status": "429",
                },
            }
        }
        summarize(request, f"throttled, retry after {format_retry_after(wait)} s")
        return JSONResponse(body, status_code=429, headers={"Retry-After": format_retry_after(wait)})

    # ---- presence writes ----

    async def _set_presence(self, request: Request, principal: Principal) -> Response:
        body = await json_body(request)
        user_id = request.path_params["user_id"]
        summarize(
            request,
            f"{body.get('availability')}/{body.get('activity')} {body.get('expirationDuration') or 'PT5M'}",
        )
        check_session_id(body.get("sessionId"), principal.client_id)
        self.emu.state.set_presence(
            user_id,
            principal.client_id,
            body.get("availability"),
            body.get("activity"),
            body.get("expirationDuration"),
            self.emu.clock.now(),
        )
        return Response(status_code=200)

    async def _clear_presence(self, request: Request, principal: Principal) -> Response:
        body = await json_body(request)
        summarize(request, "clear session")
        check_session_id(body.get("sessionId"), principal.client_id)
        self.emu.state.clear_session(
            request.path_params["user_id"], principal.client_id, self.emu.clock.now()
        )
        return Response(status_code=200)

    async def _set_preferred(self, request: Request, principal: Principal) -> Response:
        body = await json_body(request)
        summarize(request, f"preferred {body.get('availability')}/{body.get('activity')}")
        self.emu.state.set_preferred(
            request.path_params["user_id"],
            body.get("availability"),
            body.get("activity"),
            body.get("expirationDuration"),
            self.emu.clock.now(),
        )
        return Response(status_code=200)

    async def _clear_preferred(self, request: Request, principal: Principal) -> Response:
        await json_body(request)
        summarize(request, "clear preferred")
        self.emu.state.clear_preferred(request.path_params["user_id"], self.emu.clock.now())
        return Response(status_code=200)

    async def _set_status_message(self, request: Request, principal: Principal) -> Response:
        body = await json_body(request)
        status = body.get("statusMessage")
        if not isinstance(status, dict):
            raise bad_request("statusMessage is required.")
        message = status.get("message") or {}
        if not isinstance(message, dict) or not isinstance(message.get("content", ""), str):
            raise bad_request("statusMessage.message must be an itemBody with text content.")
        content = message.get("content", "")
        summarize(request, f"status message ({len(content)} chars)")
        self.emu.state.set_status_message(
            request.path_params["user_id"],
            content,
            str(message.get("contentType", "text")),
            _status_expiry(status.get("expiryDateTime")),
            self.emu.clock.now(),
        )
        return Response(status_code=200)

    # ---- presence reads ----

    async def _get_presence(self, request: Request, principal: Principal) -> Response:
        visible = self.emu.state.presence(request.path_params["user_id"], self.emu.clock.now())
        summarize(request, str(visible.pair))
        return JSONResponse(presence_json(visible))

    async def _by_user_ids(self, request: Request, principal: Principal) -> Response:
        """Unknown ids are answered as PresenceUnknown/PresenceUnknown entries (inferred, documented)."""
        body = await json_body(request)
        ids = body.get("ids")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
            raise bad_request("ids must be a non-empty list of user ids.")
        if len(ids) > MAX_IDS_PER_REQUEST:
            raise bad_request(
                f"At most {MAX_IDS_PER_REQUEST} user ids are supported per request, got {len(ids)}."
            )
        summarize(request, f"{len(ids)} ids")
        now = self.emu.clock.now()
        state = self.emu.state
        value = []
        for user_id in dict.fromkeys(ids):
            if state.has_user(user_id):
                value.append(presence_json(state.presence(user_id, now)))
            else:
                value.append(presence_json(Visible(user_id, PRESENCE_UNKNOWN, None, "")))
        return JSONResponse({"value": value})

    # ---- directory ----

    async def _get_user(self, request: Request, principal: Principal) -> Response:
        key = request.path_params["user_key"]
        summarize(request, f"user {key}")
        user = self.emu.state.find_user(key)
        if user is None:
            message = (
                f"Resource '{key}' does not exist or one of its queried reference-property objects "
                "are not present."
            )
            return graph_error(request, 404, "Request_ResourceNotFound", message, self.emu.clock.now())
        return JSONResponse(
            {
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity",
                "id": user.id,
                "userPrincipalName": user.user_principal_name,
                "displayName": user.display_name,
                "businessPhones": list(user.business_phones),
            }
        )
