"""A small in-memory Graph presence service for httpx.MockTransport (fake clock, sliding rate window).

Just enough of the real rules (reference/graph-presence.md 2-4, 8) to judge the publisher: our
sessions expire, preferred beats sessions, DoNotDisturb > Busy > Available > Away, a sliding
window answering 429 with Retry-After, scripted faults, and a journal of every call.
"""

from __future__ import annotations

import json
import re
from collections import deque
from dataclasses import dataclass, field

import httpx

from bridge.kit.clock import FakeClock
from bridge.presence import ACTIVITY_RANK, AVAILABILITY_RANK, OFFLINE, PRESENTING, SESSION_PAIRS, Pair

_USER_PATH = re.compile(r"^/v1\.0/users/([^/]+)/presence/(\w+)$")
_DURATION = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?$")


def _seconds(text: str) -> float:
    match = _DURATION.match(text)
    if not match:
        return 8 * 3600.0  # preferred expiries (days) are not checked here
    h, m, s = (int(x) if x else 0 for x in match.groups())
    return h * 3600.0 + m * 60.0 + s


@dataclass
class User:
    sessions: dict[str, tuple[Pair, float]] = field(default_factory=dict)  # sid -> (pair, expires mono)
    preferred: tuple[Pair, float] | None = None


class FakeGraph:
    def __init__(self, clock: FakeClock, *, rate_limit: int = 1500, window: float = 30.0) -> None:
        self.clock = clock
        self.rate_limit = rate_limit
        self.window = window
        self.users: dict[str, User] = {}
        self.unknown_users: set[str] = set()
        self.presenting_supported = True
        self.faults: deque[httpx.Response | Exception] = deque()
        self.calls: list[tuple[str, str, dict[str, object]]] = []  # (action, user, body)
        self.throttled = 0
        self.requests = 0  # every request that reached the service, faults included
        self.request_times: list[float] = []
        self._stamps: deque[float] = deque()
        self._rid = 0
        self.lapses: list[tuple[str, float]] = []  # (user, when) sessions that expired

    # --- what a Teams user would see ------------------------------------------------------------

    def _user(self, uid: str) -> User:
        return self.users.setdefault(uid, User())

    def _expire(self, uid: str) -> None:
        now = self.clock.monotonic()
        user = self._user(uid)
        for sid, (_, expires) in list(user.sessions.items()):
            if expires <= now:
                del user.sessions[sid]
                self.lapses.append((uid, expires))
        if user.preferred and user.preferred[1] <= now:
            user.preferred = None

    def shown(self, uid: str) -> Pair:
        self._expire(uid)
        user = self._user(uid)
        if not user.sessions:
            return OFFLINE
        if user.preferred:
            return user.preferred[0]
        pairs = [p for p, _ in user.sessions.values()]
        return max(
            pairs, key=lambda p: (AVAILABILITY_RANK.get(p.availability, 0), ACTIVITY_RANK.get(p.activity, 0))
        )

    def session(self, uid: str, sid: str) -> Pair | None:
        self._expire(uid)
        entry = self._user(uid).sessions.get(sid)
        return entry[0] if entry else None

    def client_session(
        self, uid: str, pair: Pair, seconds: float = 86400.0, sid: str = "teams-desktop"
    ) -> None:
        """A Teams client session of the user (``sid`` another app's id to plant one of ours)."""
        self._user(uid).sessions[sid] = (pair, self.clock.monotonic() + seconds)

    def user_sets_preferred(self, uid: str, pair: Pair) -> None:
        self._user(uid).preferred = (pair, self.clock.monotonic() + 86400.0)

    def writes(self, uid: str | None = None) -> list[str]:
        return [a for a, u, _ in self.calls if a != "getPresencesByUserId" and (uid is None or u == uid)]

    def busiest_window(self) -> int:
        """Most requests seen in any sliding window (to check the bridge's own budget)."""
        best, start = 0, 0
        for end, t in enumerate(self.request_times):
            while self.request_times[start] <= t - self.window:
                start += 1
            best = max(best, end - start + 1)
        return best

    # --- the transport ---------------------------------------------------------------------------

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def _response(self, status: int, body: object | None = None, **headers: str) -> httpx.Response:
        self._rid += 1
        headers = {"request-id": f"req-{self._rid}", **headers}
        if body is None:
            return httpx.Response(status, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    def _error(self, status: int, code: str, **headers: str) -> httpx.Response:
        return self._response(status, {"error": {"code": code, "message": code}}, **headers)

    def handle(self, request: httpx.Request) -> httpx.Response:
        now = self.clock.monotonic()
        self.requests += 1
        self.request_times.append(now)
        while self._stamps and self._stamps[0] <= now - self.window:
            self._stamps.popleft()
        self._stamps.append(now)
        if len(self._stamps) > self.rate_limit:
            self.throttled += 1
            return self._error(429, "TooManyRequests", **{"Retry-After": "1.5"})
        if self.faults:
            fault = self.faults.popleft()
            if isinstance(fault, Exception):
                raise fault
            return fault
        body = json.loads(request.content) if request.content else {}
        if request.url.path == "/v1.0/communications/getPresencesByUserId":
            self.calls.append(("getPresencesByUserId", ",".join(body["ids"]), body))
            value = [
                {"id": i, "availability": self.shown(i).availability, "activity": self.shown(i).activity}
                for i in body["ids"]
            ]
            return self._response(200, {"value": value})
        match = _USER_PATH.match(request.url.path)
        if not match:
            return self._error(404, "NotFound")
        uid, action = match.groups()
        self.calls.append((action, uid, body))
        if uid in self.unknown_users:
            return self._error(404, "NotFound")
        user = self._user(uid)
        self._expire(uid)
        if action == "setPresence":
            pair = Pair(body["availability"], body["activity"])
            if pair not in SESSION_PAIRS or (pair == PRESENTING and not self.presenting_supported):
                return self._error(400, "BadRequest")
            user.sessions[body["sessionId"]] = (pair, now + _seconds(body["expirationDuration"]))
        elif action == "clearPresence":
            if user.sessions.pop(body["sessionId"], None) is None:
                return self._error(404, "NotFound")
        elif action == "setUserPreferredPresence":
            user.preferred = (
                Pair(body["availability"], body["activity"]),
                now + _seconds(body["expirationDuration"]),
            )
        elif action == "clearUserPreferredPresence":
            user.preferred = None
        else:
            return self._error(400, "BadRequest")
        return self._response(200)
