"""Presence rules of the emulated Teams presence service.

Pure: no I/O, no asyncio, no clock reads; every time is passed in as an aware ``datetime``.
Sources: ../shared/reference/graph-presence.md sections 2-4 (Microsoft's documentation) and
DESIGN section 13 (rankings and admin-session fading that we inferred).

Per user the state holds Teams client and application *sessions* (``session_id -> Session``),
an optional user-preferred presence and an optional status message. What a reader sees is the
*aggregate* (:meth:`PresenceState.presence`):

1. expired sessions vanish; a fading Available session shows Available/AvailableInactive 5 min
   after its last refresh and Away/Away after 10;
2. no session: Offline/Offline (a preferred presence is ignored);
3. a live preferred presence beats every session;
4. otherwise the highest-ranked session wins (DoNotDisturb > Busy > Available > Away >
   BeRightBack > Offline, ties InAConferenceCall > InACall > InAMeeting > Busy).

Every visible change bumps the user's ``sequenceNumber`` and is reported to the listeners.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bridge.emulator.config import UserRecord
from bridge.errors import BridgeError
from bridge.presence import (
    ACTIVITY_RANK,
    AVAILABILITY_RANK,
    AVAILABLE,
    AVAILABLE_TIMEOUT,
    AWAY,
    OFFLINE,
    PREFERRED_PAIRS,
    PRESENTING,
    SESSION_EXPIRY_MAX,
    SESSION_EXPIRY_MIN,
    SESSION_PAIRS,
    Pair,
    preferred_default_expiry,
)

log = logging.getLogger(__name__)

AVAILABLE_INACTIVE = Pair("Available", "AvailableInactive")
PRESENCE_UNKNOWN = Pair("PresenceUnknown", "PresenceUnknown")
OUT_OF_RANGE = "The provided [ExpirationDuration] is out of range."  # msgraph-sdk-dotnet#1186
DEFAULT_SESSION_EXPIRY = SESSION_EXPIRY_MIN  # [SET]: "a default expiration of 5 minutes"

_DURATION = re.compile(
    r"^P(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?"
    r"(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


class PresenceRuleError(BridgeError):
    """A request the presence service refuses; rendered in Graph's error shape by the routes."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status = status
        self.code = code
        self.message = message
        super().__init__(f"{status} {code}: {message}")


def bad_request(message: str, code: str = "BadRequest") -> PresenceRuleError:
    return PresenceRuleError(400, code, message)


def parse_duration(text: str) -> timedelta:
    """Parse an ISO 8601 duration such as ``PT5M``, ``PT1H30M``, ``P1D`` or ``PT90.5S``."""
    match = _DURATION.match(text.strip().upper()) if isinstance(text, str) else None
    if match is None or text.strip().upper() in ("P", "PT") or text.strip().upper().endswith("T"):
        raise bad_request(f"'{text}' is not an ISO 8601 duration (like PT15M).")
    parts = {k: float(v) if v else 0.0 for k, v in match.groupdict().items()}
    return timedelta(
        weeks=parts["w"], days=parts["d"], hours=parts["h"], minutes=parts["m"], seconds=parts["s"]
    )


def session_expiry(expiration: str | None) -> timedelta:
    """setPresence ``expirationDuration``: default PT5M, valid PT5M..PT4H [SET]."""
    if expiration is None:
        return DEFAULT_SESSION_EXPIRY
    duration = parse_duration(expiration)
    if not SESSION_EXPIRY_MIN <= duration <= SESSION_EXPIRY_MAX:
        raise bad_request(OUT_OF_RANGE, code="InvalidArgument")
    return duration


def check_session_id(session_id: object, client_id: str) -> None:
    """``sessionId`` must be the calling application's client id [SET]."""
    if not isinstance(session_id, str) or not session_id:
        raise bad_request("sessionId is required and must be the calling application's id.")
    if session_id.lower() != client_id.lower():
        raise bad_request(f"sessionId '{session_id}' is not the id of the calling application.")


def _canonical(availability: object, activity: object, allowed: Iterable[Pair], what: str) -> Pair:
    if not isinstance(availability, str) or not isinstance(activity, str):
        raise bad_request("availability and activity are required strings.")
    asked = Pair(availability, activity)
    for pair in allowed:
        if pair.same(asked):
            return pair
    raise bad_request(f"{availability}/{activity} is not a supported combination for {what}.")


@dataclass(frozen=True, slots=True)
class Session:
    """One presence session: a Teams client or an application (``setPresence``)."""

    pair: Pair
    set_at: datetime
    expires_at: datetime | None  # None: lives until removed (a signed-in Teams client)
    last_refresh: datetime
    fades: bool  # an Available session times out to AvailableInactive, then Away

    def live(self, now: datetime) -> bool:
        return self.expires_at is None or now < self.expires_at

    def shown(self, now: datetime) -> Pair:
        """The pair this session contributes at ``now`` (after fading)."""
        if not (self.fades and self.pair == AVAILABLE):
            return self.pair
        idle = now - self.last_refresh
        if idle >= 2 * AVAILABLE_TIMEOUT:
            return AWAY
        if idle >= AVAILABLE_TIMEOUT:
            return AVAILABLE_INACTIVE
        return self.pair

    def deadline(self, now: datetime) -> datetime | None:
        """The next instant after ``now`` at which this session's contribution changes."""
        times = [self.expires_at] if self.expires_at is not None else []
        if self.fades and self.pair == AVAILABLE:
            times += [self.last_refresh + AVAILABLE_TIMEOUT, self.last_refresh + 2 * AVAILABLE_TIMEOUT]
        future = [t for t in times if t > now]
        return min(future) if future else None


@dataclass(frozen=True, slots=True)
class Preferred:
    pair: Pair
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class StatusMessage:
    content: str
    content_type: str
    expires_at: datetime | None
    published_at: datetime


@dataclass(frozen=True, slots=True)
class Visible:
    """What Graph returns for a user right now."""

    user_id: str
    pair: Pair
    status_message: StatusMessage | None
    sequence: str


@dataclass(frozen=True, slots=True)
class PresenceChange:
    """A visible change, reported to listeners (subscriptions)."""

    user_id: str
    before: Pair
    after: Pair
    sequence: str
    at: datetime


@dataclass
class _User:
    record: UserRecord
    sessions: dict[str, Session] = field(default_factory=dict)
    preferred: Preferred | None = None
    message: StatusMessage | None = None
    shown: Pair = OFFLINE
    shown_message: StatusMessage | None = None
    sequence: str = ""


def _rank(pair: Pair) -> tuple[int, int]:
    activity = ACTIVITY_RANK.get(pair.activity, -1 if pair == AVAILABLE_INACTIVE else 0)
    return AVAILABILITY_RANK.get(pair.availability, 0), activity


class PresenceState:
    """All users' presence, aggregated exactly as reference section 4.1 and DESIGN 13 say."""

    def __init__(self, users: Iterable[UserRecord] = (), *, presenting_supported: bool = True) -> None:
        self.presenting_supported = presenting_supported
        self._counter = itertools.count(1)
        self._users: dict[str, _User] = {}
        self._listeners: list[Callable[[PresenceChange], None]] = []
        self._schedule_listeners: list[Callable[[], None]] = []
        # When each user's presence may next change by itself (fading, expiries): a heap with lazy
        # deletion (an entry counts only while ``_due`` still names it), so a tick and the next
        # deadline cost O(log n) instead of a pass over every user (5,000 users: ~8 ms per write).
        self._deadlines: list[tuple[datetime, str]] = []
        self._due: dict[str, datetime] = {}
        for record in users:
            self.add_user(record)

    # -- users -------------------------------------------------------------------------------------

    def add_user(self, record: UserRecord) -> None:
        """Add a directory user (or replace its record, keeping its presence)."""
        existing = self._users.get(record.id.lower())
        if existing is not None:
            existing.record = record
            return
        self._users[record.id.lower()] = _User(record, sequence=self._next_sequence())

    def users(self) -> list[UserRecord]:
        return [u.record for u in self._users.values()]

    def find_user(self, id_or_upn: str) -> UserRecord | None:
        """``GET /users/{id-or-userPrincipalName}``: object id or UPN, case-insensitive."""
        key = id_or_upn.lower()
        if key in self._users:
            return self._users[key].record
        for user in self._users.values():
            if user.record.user_principal_name.lower() == key:
                return user.record
        return None

    def has_user(self, user_id: str) -> bool:
        return user_id.lower() in self._users

    def reset(self) -> None:
        """Forget every session, preferred presence and status message (users stay)."""
        for user in self._users.values():
            user.sessions.clear()
            user.preferred = None
            user.message = None
        self._deadlines.clear()
        self._due.clear()
        self._changed()

    # -- hooks -------------------------------------------------------------------------------------

    def add_listener(self, listener: Callable[[PresenceChange], None]) -> None:
        """Called synchronously with every visible change (pair or status message)."""
        self._listeners.append(listener)

    def add_schedule_listener(self, listener: Callable[[], None]) -> None:
        """Called after every mutation: deadlines (:meth:`next_deadline`) may have moved."""
        self._schedule_listeners.append(listener)

    # -- Graph operations --------------------------------------------------------------------------

    def set_presence(
        self,
        user_id: str,
        session_id: str,
        availability: object,
        activity: object,
        expiration: str | None,
        now: datetime,
    ) -> None:
        """``setPresence``: exactly the five session pairs [SET]; refreshes an existing session."""
        pair = _canonical(availability, activity, SESSION_PAIRS, "setPresence")
        if pair == PRESENTING and not self.presenting_supported:
            raise bad_request(f"{pair} is not a supported combination for setPresence.")
        if expiration is not None and not isinstance(expiration, str):
            raise bad_request("expirationDuration must be an ISO 8601 duration string.")
        expires_in = session_expiry(expiration)
        self.set_session(user_id, session_id, pair, now, expires_in=expires_in, fades=True)

    def set_session(
        self,
        user_id: str,
        session_id: str,
        pair: Pair,
        now: datetime,
        *,
        expires_in: timedelta | None,
        fades: bool,
    ) -> None:
        """Create or refresh a session with any known availability (admin API and setPresence)."""
        if pair.availability not in AVAILABILITY_RANK or not pair.activity:
            raise bad_request(f"{pair} is not a presence state the emulator knows.")
        user = self._user(user_id)
        old = user.sessions.get(session_id)
        set_at = old.set_at if old is not None and old.live(now) and old.pair == pair else now
        user.sessions[session_id] = Session(
            pair=pair,
            set_at=set_at,
            expires_at=now + expires_in if expires_in is not None else None,
            last_refresh=now,
            fades=fades,
        )
        self._update(user, now)
        self._changed()

    def clear_session(self, user_id: str, session_id: str, now: datetime) -> None:
        """``clearPresence``: 404 when the session does not exist [CLR]."""
        user = self._user(user_id)
        self._prune(user, now)
        if session_id not in user.sessions:
            raise PresenceRuleError(404, "NotFound", f"No presence session '{session_id}' for this user.")
        del user.sessions[session_id]
        self._update(user, now)
        self._changed()

    def set_preferred(
        self, user_id: str, availability: object, activity: object, expiration: object, now: datetime
    ) -> None:
        """``setUserPreferredPresence``: six pairs, default expiry 1 day (Busy/DND) or 7 days [PREF]."""
        pair = _canonical(availability, activity, PREFERRED_PAIRS, "setUserPreferredPresence")
        if expiration is None:
            expires_in = preferred_default_expiry(pair)
        elif isinstance(expiration, str):
            expires_in = parse_duration(expiration)
            if expires_in <= timedelta(0):
                raise bad_request(OUT_OF_RANGE, code="InvalidArgument")
        else:
            raise bad_request("expirationDuration must be an ISO 8601 duration string.")
        user = self._user(user_id)
        user.preferred = Preferred(pair, now + expires_in)
        self._update(user, now)
        self._changed()

    def clear_preferred(self, user_id: str, now: datetime) -> None:
        """``clearUserPreferredPresence`` (200 even when none was set)."""
        user = self._user(user_id)
        user.preferred = None
        self._update(user, now)
        self._changed()

    def set_status_message(
        self, user_id: str, content: str, content_type: str, expires_at: datetime | None, now: datetime
    ) -> None:
        """``setStatusMessage``; empty content clears the message."""
        if content_type.lower() != "text":
            raise bad_request("The only supported message contentType is 'text'.")
        user = self._user(user_id)
        user.message = StatusMessage(content, "text", expires_at, now) if content else None
        self._update(user, now)
        self._changed()

    # -- reading -----------------------------------------------------------------------------------

    def presence(self, user_id: str, now: datetime) -> Visible:
        """The aggregated presence; 404 for an unknown user."""
        user = self._user(user_id)
        self._update(user, now)
        return Visible(user.record.id, user.shown, user.shown_message, user.sequence)

    def refresh(self, now: datetime) -> list[PresenceChange]:
        """Apply timeouts and expiries that are due; returns (and reports) the visible changes."""
        due: list[_User] = []
        heap = self._deadlines
        while heap and heap[0][0] <= now:
            at, key = heapq.heappop(heap)
            if self._due.get(key) == at:
                del self._due[key]
                due.append(self._users[key])
        return [c for u in due if (c := self._update(u, now)) is not None]

    def next_deadline(self, now: datetime) -> datetime | None:
        """The earliest instant at which some user's presence may change by itself (at or before
        ``now`` when something is due and not yet applied)."""
        heap = self._deadlines
        while heap and self._due.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)  # superseded
        return heap[0][0] if heap else None

    def _reschedule(self, user: _User, now: datetime) -> None:
        times = [d for s in user.sessions.values() if (d := s.deadline(now)) is not None]
        if user.preferred is not None and user.preferred.expires_at > now:
            times.append(user.preferred.expires_at)
        if user.message is not None and user.message.expires_at is not None and user.message.expires_at > now:
            times.append(user.message.expires_at)
        key = user.record.id.lower()
        if not times:
            self._due.pop(key, None)
            return
        at = min(times)
        if self._due.get(key) != at:
            self._due[key] = at
            heapq.heappush(self._deadlines, (at, key))

    def describe(self, user_id: str, now: datetime) -> dict[str, object]:
        """Full state of one user for the admin API and the demo."""
        user = self._user(user_id)
        self._update(user, now)
        return {
            "id": user.record.id,
            "userPrincipalName": user.record.user_principal_name,
            "displayName": user.record.display_name,
            "presence": {"availability": user.shown.availability, "activity": user.shown.activity},
            "sequenceNumber": user.sequence,
            "sessions": {
                sid: {
                    "availability": s.pair.availability,
                    "activity": s.pair.activity,
                    "shown": str(s.shown(now)),
                    "setAt": s.set_at.isoformat(),
                    "lastRefresh": s.last_refresh.isoformat(),
                    "expiresAt": s.expires_at.isoformat() if s.expires_at else None,
                    "fades": s.fades,
                }
                for sid, s in user.sessions.items()
            },
            "preferred": (
                {
                    "availability": user.preferred.pair.availability,
                    "activity": user.preferred.pair.activity,
                    "expiresAt": user.preferred.expires_at.isoformat(),
                }
                if user.preferred
                else None
            ),
            "statusMessage": user.message.content if user.message else None,
        }

    # -- internals ---------------------------------------------------------------------------------

    def _user(self, user_id: str) -> _User:
        user = self._users.get(user_id.lower()) if isinstance(user_id, str) else None
        if user is None:
            raise PresenceRuleError(404, "NotFound", f"User '{user_id}' was not found.")
        return user

    def _next_sequence(self) -> str:
        return f"A{next(self._counter):012d}"

    @staticmethod
    def _prune(user: _User, now: datetime) -> None:
        for sid in [sid for sid, s in user.sessions.items() if not s.live(now)]:
            del user.sessions[sid]
        if user.preferred is not None and now >= user.preferred.expires_at:
            user.preferred = None
        if user.message is not None and user.message.expires_at is not None:
            if now >= user.message.expires_at:
                user.message = None

    @staticmethod
    def _aggregate(user: _User, now: datetime) -> Pair:
        if not user.sessions:
            return OFFLINE
        if user.preferred is not None:
            return user.preferred.pair
        shown = [s.shown(now) for s in user.sessions.values()]
        return max(shown, key=_rank)

    def _update(self, user: _User, now: datetime) -> PresenceChange | None:
        self._prune(user, now)
        self._reschedule(user, now)
        pair = self._aggregate(user, now)
        if pair == user.shown and user.message == user.shown_message:
            return None
        change = PresenceChange(user.record.id, user.shown, pair, self._next_sequence(), now)
        user.shown, user.shown_message, user.sequence = pair, user.message, change.sequence
        for listener in self._listeners:
            try:
                listener(change)
            except Exception:
                log.exception("presence listener failed for user %s", user.record.id)
        return change

    def _changed(self) -> None:
        for listener in self._schedule_listeners:
            listener()
