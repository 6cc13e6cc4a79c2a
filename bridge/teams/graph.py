"""Microsoft Graph presence client: the one place that speaks HTTP to Graph.

Every call goes through ``_call``, which owns retries and error translation:

- 429/500/502/503/504 are retried, honouring ``Retry-After`` (fractional seconds allowed), else
  exponential backoff with jitter from the injected rng, sleeping on the injected clock; each 429 is
  reported to ``on_throttle`` so the budget can cut (AIMD). Exhausted: ``GraphThrottled`` (its
  ``status`` tells a 429 from a 5xx). A 429's Retry-After is waited by the request that got it,
  exactly; other requests are not held (each worker waits out its own 429, so at most one request
  per worker reaches a throttling Graph per Retry-After).
- 401: the token is invalidated and the call retried once with a fresh one, then ``GraphAuthError``.
- 403: a missing permission, ``GraphAuthError`` at once.
- other 4xx: ``GraphError`` with Graph's error code and request-id, never retried.
- ``httpx.TransportError``: retried with backoff, then ``GraphUnavailable``.

Nothing above this module sees an httpx exception, and no token is ever logged.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NamedTuple, Protocol
from urllib.parse import quote

import httpx

from bridge.errors import GraphAuthError, GraphError, GraphThrottled, GraphUnavailable
from bridge.kit.backoff import Backoff
from bridge.kit.clock import Clock
from bridge.presence import Pair

log = logging.getLogger(__name__)

PRESENCE_IDS_PER_REQUEST = 650  # getPresencesByUserId limit (reference 5.2)
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


class TokenProvider(Protocol):
    async def token(self) -> str: ...

    def invalidate(self) -> None: ...


class PresenceRead(NamedTuple):
    """One user's presence as read: the pair, and whether Outlook/Teams says out of office."""

    pair: Pair
    out_of_office: bool = False


@dataclass(frozen=True, slots=True)
class UserInfo:
    id: str
    upn: str
    display_name: str


@dataclass(frozen=True, slots=True)
class WriteResult:
    """Outcome of a presence write: Graph's request-id, and ``found`` False when a clear hit a 404."""

    request_id: str | None
    found: bool = True


def iso_duration(span: timedelta) -> str:
    """``timedelta(minutes=15)`` -> ``"PT15M"`` (ISO 8601, as expirationDuration expects)."""
    total = int(span.total_seconds())
    if total <= 0:
        raise ValueError("a duration must be positive")
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    time = "".join(f"{v}{u}" for v, u in ((hours, "H"), (minutes, "M"), (seconds, "S")) if v)
    return "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "")


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (fractional allowed); None when absent or not a number."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    if seconds != seconds or seconds < 0:  # NaN or negative
        return None
    return min(seconds, 3600.0)


def _error_fields(response: httpx.Response) -> tuple[str | None, str | None]:
    """Graph's error code and the request-id from its error body, tolerating any shape."""
    try:
        body = response.json()
    except ValueError:
        return None, None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, None
    code = error.get("code") if isinstance(error.get("code"), str) else None
    inner = error.get("innerError") or error.get("innererror") or {}
    request_id = inner.get("request-id") if isinstance(inner, dict) else None
    return code, request_id if isinstance(request_id, str) else None


class GraphClient:
    """Presence writes and reads for one tenant.

    ``on_throttle`` is called on every 429 (the budget cuts its rate). ``before_retry`` is awaited
    before every retry attempt so retries are paced through the budget as well (the caller paces the
    first attempt).
    """

    def __init__(
        self,
        base_url: str,
        tokens: TokenProvider,
        http: httpx.AsyncClient,
        clock: Clock,
        rng: random.Random,
        *,
        max_attempts: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        on_throttle: Callable[[], None] | None = None,
        before_retry: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._tokens = tokens
        self._http = http
        self._clock = clock
        self._rng = rng
        self._max_attempts = max(1, max_attempts)
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self.on_throttle = on_throttle
        self.before_retry = before_retry
        self.last_request_id: str | None = None
        self.counters: dict[str, int] = {
            "requests": 0,
            "throttled": 0,
            "retries": 0,
            "transport_errors": 0,
            "auth_failures": 0,
            "errors": 0,
        }

    # --- public calls ----------------------------------------------------------------

    async def set_presence(self, user_id: str, session_id: str, pair: Pair, expiry: timedelta) -> WriteResult:
        body = {
            "sessionId": session_id,
            "availability": pair.availability,
            "activity": pair.activity,
            "expirationDuration": iso_duration(expiry),
        }
        await self._call("POST", f"/users/{_seg(user_id)}/presence/setPresence", body)
        return WriteResult(self.last_request_id)

    async def clear_presence(self, user_id: str, session_id: str) -> WriteResult:
        """Clear our session; a 404 (no session) counts as done and comes back as ``found=False``."""
        path = f"/users/{_seg(user_id)}/presence/clearPresence"
        response = await self._call("POST", path, {"sessionId": session_id}, not_found_ok=True)
        return WriteResult(self.last_request_id, found=response.status_code != 404)

    async def set_preferred(self, user_id: str, pair: Pair, expiry: timedelta) -> WriteResult:
        body = {
            "availability": pair.availability,
            "activity": pair.activity,
            "expirationDuration": iso_duration(expiry),
        }
        await self._call("POST", f"/users/{_seg(user_id)}/presence/setUserPreferredPresence", body)
        return WriteResult(self.last_request_id)

    async def clear_preferred(self, user_id: str) -> WriteResult:
        await self._call("POST", f"/users/{_seg(user_id)}/presence/clearUserPreferredPresence", {})
        return WriteResult(self.last_request_id)

    async def get_presences(self, ids: Sequence[str]) -> dict[str, Pair]:
        """Aggregated presence per user id (``getPresencesByUserId``, 650 ids per request)."""
        return {uid: read.pair for uid, read in (await self.read_presences(ids)).items()}

    async def read_presences(self, ids: Sequence[str]) -> dict[str, PresenceRead]:
        """Presence and out-of-office flag per user id (``getPresencesByUserId``, 650 ids per request)."""
        result: dict[str, PresenceRead] = {}
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), PRESENCE_IDS_PER_REQUEST):
            chunk = unique[start : start + PRESENCE_IDS_PER_REQUEST]
            response = await self._call("POST", "/communications/getPresencesByUserId", {"ids": chunk})
            for item in _json(response).get("value", []):
                if not isinstance(item, dict):
                    continue
                uid, avail, act = item.get("id"), item.get("availability"), item.get("activity")
                if isinstance(uid, str) and isinstance(avail, str) and isinstance(act, str):
                    oof = item.get("outOfOfficeSettings")
                    away = isinstance(oof, dict) and oof.get("isOutOfOffice") is True
                    result[uid] = PresenceRead(Pair(avail, act), away)
        return result

    async def get_user(self, id_or_upn: str) -> UserInfo:
        params = {"$select": "id,userPrincipalName,displayName"}
        response = await self._call("GET", f"/users/{_seg(id_or_upn)}", None, params=params)
        body = _json(response)
        uid = body.get("id")
        if not isinstance(uid, str):
            raise GraphError(
                "user without an id", status=response.status_code, request_id=self.last_request_id
            )
        return UserInfo(uid, str(body.get("userPrincipalName") or ""), str(body.get("displayName") or ""))

    async def ensure_token(self) -> None:
        """Fetch (or reuse) a token: proves the credential without spending presence budget."""
        await self._tokens.token()

    # --- the one request path ----------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        *,
        params: dict[str, str] | None = None,
        not_found_ok: bool = False,
    ) -> httpx.Response:
        url = self._base + path
        backoff = Backoff(self._backoff_base, self._backoff_max, rng=self._rng)
        refreshed_token = False
        attempt = 0
        while True:
            attempt += 1
            if attempt > 1 and self.before_retry is not None:
                await self.before_retry()
            token = await self._tokens.token()
            headers = {"Authorization": f"Bearer {token}", "client-request-id": self._client_request_id()}
            self.counters["requests"] += 1
            try:
                response = await self._http.request(method, url, json=body, params=params, headers=headers)
            except httpx.TransportError as exc:
                self.counters["transport_errors"] += 1
                self.last_request_id = headers["client-request-id"]
                if attempt >= self._max_attempts:
                    raise GraphUnavailable(
                        f"{method} {path}: {type(exc).__name__}", request_id=self.last_request_id
                    ) from exc
                log.debug("graph %s %s: %s, retrying", method, path, type(exc).__name__)
                await self._backoff(backoff, None)
                continue
            except httpx.HTTPError as exc:  # not a transport failure (decoding, redirects): no retry
                raise GraphError(f"{method} {path}: {type(exc).__name__}") from exc
            self.last_request_id = response.headers.get("request-id") or headers["client-request-id"]
            status = response.status_code
            if status < 400 or (status == 404 and not_found_ok):
                return response
            code, body_request_id = _error_fields(response)
            request_id = response.headers.get("request-id") or body_request_id or headers["client-request-id"]
            self.last_request_id = request_id
            if status == 401 and not refreshed_token:
                refreshed_token = True
                self._tokens.invalidate()
                attempt -= 1  # a fresh token is not a throttling retry
                log.debug("graph %s %s: 401, retrying once with a fresh token", method, path)
                continue
            if status in (401, 403):
                self.counters["auth_failures"] += 1
                raise GraphAuthError(
                    f"{method} {path} refused" + (" (missing permission)" if status == 403 else ""),
                    status=status,
                    code=code,
                    request_id=request_id,
                )
            if status in RETRYABLE_STATUS:
                if status == 429:
                    self.counters["throttled"] += 1
                    if self.on_throttle is not None:
                        self.on_throttle()
                if attempt >= self._max_attempts:
                    raise GraphThrottled(
                        f"{method} {path} gave up after {attempt} attempts",
                        status=status,
                        code=code,
                        request_id=request_id,
                    )
                await self._backoff(backoff, parse_retry_after(response.headers.get("Retry-After")))
                continue
            self.counters["errors"] += 1
            raise GraphError(f"{method} {path} failed", status=status, code=code, request_id=request_id)

    async def _backoff(self, backoff: Backoff, retry_after: float | None) -> None:
        """Wait ``Retry-After`` when Graph gave one, else the call's next jittered backoff; a hinted
        wait still counts as an attempt, so the next unhinted one is as long as its attempt number."""
        self.counters["retries"] += 1
        if retry_after is None:
            retry_after = backoff.next()
        else:
            backoff.attempt += 1
        await self._clock.sleep(retry_after)

    def _client_request_id(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))


def _seg(value: str) -> str:
    return quote(value, safe="@.")


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise GraphError("Graph answered with invalid JSON", status=response.status_code) from exc
    if not isinstance(body, dict):
        raise GraphError("Graph answered with unexpected JSON", status=response.status_code)
    return body
