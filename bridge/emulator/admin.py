"""Admin API under ``/_emulator/`` (not Graph): play Teams, move the clock, inject faults.

No authentication: the emulator listens on loopback only. Errors use Graph's error shape.

=======  ==========================================  ==================================================
method   path                                        body / effect
=======  ==========================================  ==================================================
GET      /_emulator/users                            every user with its aggregated presence
POST     /_emulator/users                            {"id", "userPrincipalName", "displayName"?,
                                                     "businessPhones"?} -> 201
GET      /_emulator/users/{id}                       sessions, preferred, presence, sequenceNumber
PUT      /_emulator/users/{id}/sessions/{session}    {"kind": desktop|idle|meeting|presenting|call} or
                                                     {"availability", "activity", "fades"?},
                                                     "expiresInSeconds"? (default: never)
DELETE   /_emulator/users/{id}/sessions/{session}    remove a Teams client session (404 if none)
PUT      /_emulator/users/{id}/preferred             {"availability", "activity", "expirationDuration"?}
DELETE   /_emulator/users/{id}/preferred             clear the user's own status
GET/POST /_emulator/clock                            {"advance": seconds} (manual clock only) -> now
GET/PUT  /_emulator/rate-limit                       {"limit": n, "windowSeconds"?: s}
GET/PUT  /_emulator/latency                          {"latency": "80ms,p99=400ms", "seed"?: n}; from the
                                                     next request on; GET adds "kind"
GET/POST /_emulator/faults                           {"kind": 429|503|504|slow|drop, "count"?: n,
                                                     "delay"?: s, "retryAfter"?: s, "scope"?: graph|all}
DELETE   /_emulator/faults                           forget pending faults
GET      /_emulator/journal?limit=n                  requests received (newest last); DELETE clears
PUT      /_emulator/settings                         {"presentingSupported": bool}
GET      /_emulator/stats                            counters
POST     /_emulator/reset                            forget sessions, preferred, subscriptions, faults,
                                                     journal and rate-limit history
=======  ==========================================  ==================================================
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bridge.emulator.config import UserRecord
from bridge.emulator.faults import Fault, FaultKind, FaultScope, error_body
from bridge.emulator.graph_routes import request_id_of
from bridge.emulator.latency import LatencySpec
from bridge.emulator.state import PresenceRuleError, bad_request
from bridge.presence import AVAILABLE, IN_A_CALL, PRESENTING, Pair

if TYPE_CHECKING:
    from bridge.emulator.app import Emulator

# kind -> (pair, fades). Teams client sessions; only the idle desktop times out (DESIGN 13).
SESSION_KINDS: dict[str, tuple[Pair, bool]] = {
    "desktop": (AVAILABLE, False),
    "idle": (AVAILABLE, True),
    "meeting": (Pair("Busy", "InAMeeting"), False),
    "presenting": (PRESENTING, False),
    "call": (IN_A_CALL, False),
}

AdminHandler = Callable[[Request], Awaitable[Response]]


class AdminRoutes:
    def __init__(self, emulator: Emulator) -> None:
        self.emu = emulator

    def routes(self) -> list[BaseRoute]:
        table: list[tuple[str, str, AdminHandler]] = [
            ("/_emulator/users", "GET", self._list_users),
            ("/_emulator/users", "POST", self._add_user),
            ("/_emulator/users/{user_id}", "GET", self._describe),
            ("/_emulator/users/{user_id}/sessions/{session_id}", "PUT", self._put_session),
            ("/_emulator/users/{user_id}/sessions/{session_id}", "DELETE", self._delete_session),
            ("/_emulator/users/{user_id}/preferred", "PUT", self._put_preferred),
            ("/_emulator/users/{user_id}/preferred", "DELETE", self._delete_preferred),
            ("/_emulator/clock", "GET", self._get_clock),
            ("/_emulator/clock", "POST", self._advance_clock),
            ("/_emulator/rate-limit", "GET", self._get_rate_limit),
            ("/_emulator/rate-limit", "PUT", self._put_rate_limit),
            ("/_emulator/latency", "GET", self._get_latency),
            ("/_emulator/latency", "PUT", self._put_latency),
            ("/_emulator/faults", "GET", self._get_faults),
            ("/_emulator/faults", "POST", self._add_fault),
            ("/_emulator/faults", "DELETE", self._clear_faults),
            ("/_emulator/journal", "GET", self._get_journal),
            ("/_emulator/journal", "DELETE", self._clear_journal),
            ("/_emulator/settings", "PUT", self._put_settings),
            ("/_emulator/stats", "GET", self._stats),
            ("/_emulator/reset", "POST", self._reset),
        ]
        return [Route(path, self._wrap(handler), methods=[method]) for path, method, handler in table]

    def _wrap(self, handler: AdminHandler) -> AdminHandler:
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except PresenceRuleError as err:
                body = error_body(err.code, err.message, request_id_of(request), self.emu.clock.now())
                return JSONResponse(body, status_code=err.status)

        return endpoint

    @staticmethod
    async def _body(request: Request) -> dict[str, Any]:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            raise bad_request("The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise bad_request("The request body must be a JSON object.")
        return body

    def _user_json(self, user_id: str) -> JSONResponse:
        return JSONResponse(self.emu.state.describe(user_id, self.emu.clock.now()))

    # ---- users and sessions ----

    async def _list_users(self, request: Request) -> Response:
        now = self.emu.clock.now()
        return JSONResponse({"value": [self.emu.state.describe(u.id, now) for u in self.emu.state.users()]})

    async def _add_user(self, request: Request) -> Response:
        body = await self._body(request)
        user_id, upn = body.get("id"), body.get("userPrincipalName")
        if not isinstance(user_id, str) or not user_id or not isinstance(upn, str) or not upn:
            raise bad_request("id and userPrincipalName are required.")
        phones = body.get("businessPhones") or []
        if not isinstance(phones, list) or not all(isinstance(p, str) for p in phones):
            raise bad_request("businessPhones must be a list of strings.")
        self.emu.state.add_user(UserRecord(user_id, upn, str(body.get("displayName") or ""), tuple(phones)))
        response = self._user_json(user_id)
        response.status_code = 201
        return response

    async def _describe(self, request: Request) -> Response:
        return self._user_json(request.path_params["user_id"])

    async def _put_session(self, request: Request) -> Response:
        body = await self._body(request)
        kind = body.get("kind")
        if kind is not None:
            if kind not in SESSION_KINDS:
                raise bad_request(f"kind must be one of {', '.join(SESSION_KINDS)}.")
            pair, fades = SESSION_KINDS[kind]
        else:
            availability, activity = body.get("availability"), body.get("activity")
            if not isinstance(availability, str) or not isinstance(activity, str):
                raise bad_request("give a kind, or availability and activity.")
            pair, fades = Pair(availability, activity), bool(body.get("fades", False))
        expires = body.get("expiresInSeconds")
        if expires is not None and (not isinstance(expires, int | float) or expires <= 0):
            raise bad_request("expiresInSeconds must be a positive number.")
        user_id = request.path_params["user_id"]
        self.emu.state.set_session(
            user_id,
            request.path_params["session_id"],
            pair,
            self.emu.clock.now(),
            expires_in=timedelta(seconds=expires) if expires is not None else None,
            fades=fades,
        )
        return self._user_json(user_id)

    async def _delete_session(self, request: Request) -> Response:
        user_id = request.path_params["user_id"]
        self.emu.state.clear_session(user_id, request.path_params["session_id"], self.emu.clock.now())
        return self._user_json(user_id)

    async def _put_preferred(self, request: Request) -> Response:
        body = await self._body(request)
        user_id = request.path_params["user_id"]
        self.emu.state.set_preferred(
            user_id,
            body.get("availability"),
            body.get("activity"),
            body.get("expirationDuration"),
            self.emu.clock.now(),
        )
        return self._user_json(user_id)

    async def _delete_preferred(self, request: Request) -> Response:
        user_id = request.path_params["user_id"]
        self.emu.state.clear_preferred(user_id, self.emu.clock.now())
        return self._user_json(user_id)

    # ---- clock, limits, faults ----

    def _clock_json(self) -> JSONResponse:
        manual = hasattr(self.emu.clock, "advance")
        return JSONResponse({"now": self.emu.clock.now().isoformat(), "manual": manual})

    async def _get_clock(self, request: Request) -> Response:
        return self._clock_json()

    async def _advance_clock(self, request: Request) -> Response:
        body = await self._body(request)
        seconds = body.get("advance")
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
            raise bad_request("advance must be a number of seconds >= 0.")
        try:
            await self.emu.advance(float(seconds))
        except TypeError:
            raise PresenceRuleError(
                409, "Conflict", "The clock is not manual (start with --manual-clock)."
            ) from None
        return self._clock_json()

    def _limit_json(self) -> JSONResponse:
        limiter = self.emu.limiter
        return JSONResponse({"limit": limiter.limit, "windowSeconds": limiter.window})

    async def _get_rate_limit(self, request: Request) -> Response:
        return self._limit_json()

    async def _put_rate_limit(self, request: Request) -> Response:
        body = await self._body(request)
        limit, window = body.get("limit"), body.get("windowSeconds")
        if not isinstance(limit, int) or isinstance(limit, bool):
            raise bad_request("limit must be an integer.")
        if window is not None and not isinstance(window, int | float):
            raise bad_request("windowSeconds must be a number.")
        try:
            self.emu.limiter.set_limit(limit, float(window) if window is not None else None)
        except ValueError as exc:
            raise bad_request(str(exc)) from None
        return self._limit_json()

    async def _get_latency(self, request: Request) -> Response:
        return JSONResponse(self.emu.latency.describe())

    async def _put_latency(self, request: Request) -> Response:
        body = await self._body(request)
        text, seed = body.get("latency"), body.get("seed")
        if not isinstance(text, str):
            raise bad_request('latency must be a spec string: "0", "80ms", "80ms+-20ms" or "80ms,p99=400ms".')
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise bad_request("seed must be an integer.")
        try:
            spec = LatencySpec.parse(text)
        except ValueError as exc:
            raise bad_request(str(exc)) from None
        self.emu.latency.set(spec, seed)
        return JSONResponse(self.emu.latency.describe())

    async def _get_faults(self, request: Request) -> Response:
        return JSONResponse({"pending": self.emu.faults.pending()})

    async def _add_fault(self, request: Request) -> Response:
        body = await self._body(request)
        try:
            kind = FaultKind(str(body.get("kind")))
            scope = FaultScope(str(body.get("scope", "graph")))
        except ValueError:
            kinds = ", ".join(k.value for k in FaultKind)
            raise bad_request(f"kind must be one of {kinds}; scope graph or all.") from None
        count, delay, retry_after = body.get("count", 1), body.get("delay", 0.0), body.get("retryAfter")
        if not isinstance(count, int) or not isinstance(delay, int | float):
            raise bad_request("count must be an integer and delay a number.")
        if retry_after is not None and not isinstance(retry_after, int | float):
            raise bad_request("retryAfter must be a number.")
        fault = Fault(kind, scope, float(delay), float(retry_after) if retry_after is not None else None)
        try:
            self.emu.faults.inject(fault, count)
        except ValueError as exc:
            raise bad_request(str(exc)) from None
        return JSONResponse({"pending": self.emu.faults.pending()}, status_code=201)

    async def _clear_faults(self, request: Request) -> Response:
        self.emu.faults.clear()
        return JSONResponse({"pending": []})

    async def _get_journal(self, request: Request) -> Response:
        limit_text = request.query_params.get("limit")
        limit = int(limit_text) if limit_text and limit_text.isdigit() else None
        return JSONResponse({"value": self.emu.journal.entries(limit)})

    async def _clear_journal(self, request: Request) -> Response:
        self.emu.journal.clear()
        return JSONResponse({"value": []})

    async def _put_settings(self, request: Request) -> Response:
        body = await self._body(request)
        supported = body.get("presentingSupported")
        if not isinstance(supported, bool):
            raise bad_request("presentingSupported must be true or false.")
        self.emu.state.presenting_supported = supported
        return JSONResponse({"presentingSupported": supported})

    async def _stats(self, request: Request) -> Response:
        return JSONResponse(self.emu.stats())

    async def _reset(self, request: Request) -> Response:
        self.emu.reset()
        return JSONResponse({"reset": True})
