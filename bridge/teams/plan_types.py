"""The words the publish planner and its workers exchange (pure values, no I/O).

A worker asks the planner for a :class:`Call`, takes a budget slot of the call's :class:`Kind`,
tells the planner it is sending (``begin`` -> :class:`Start`: whether to send, and the write-ahead
record to persist first), runs the call and hands back an :class:`Outcome`; the planner answers
with :class:`Effects` (a record to persist, a health change, lines to log).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import Enum, StrEnum

from bridge.errors import GraphAuthError, GraphError, GraphThrottled, GraphUnavailable
from bridge.kit.health import Health
from bridge.presence import Pair, TeamsIntent
from bridge.teams.ownership import PublishedRecord


class Kind(StrEnum):
    """Which share of the tenant's Graph budget a call is paced from."""

    REFRESH = "refresh"  # keeping a live session alive (served from the reserve first)
    WRITE = "write"  # any other presence write
    READ = "read"  # presence reads (same Graph limit)


class Op(StrEnum):
    """The Graph presence calls the publisher makes."""

    SET_PRESENCE = "setPresence"
    CLEAR_PRESENCE = "clearPresence"
    READ_PRESENCE = "getPresencesByUserId"
    SET_PREFERRED = "setUserPreferredPresence"
    CLEAR_PREFERRED = "clearUserPreferredPresence"


@dataclass(frozen=True, slots=True)
class Call:
    """One Graph call for one person. ``pair``/``expiry`` for the two sets; ``refresh`` keeps a live
    session alive (no flap accounting, budget from the refresh reserve)."""

    person_id: str
    op: Op
    kind: Kind = Kind.WRITE
    pair: Pair | None = None
    expiry: timedelta | None = None
    refresh: bool = False


class Result(Enum):
    """How a call ended, as the planner needs to know it (the worker translates Graph's errors)."""

    OK = "ok"
    THROTTLED = "throttled"  # 429/503/504 after the client's own retries
    UNAVAILABLE = "unavailable"  # transport failure after retries
    AUTH = "auth"  # 401 after a fresh token, or 403
    REFUSED = "refused"  # any other 4xx (404 unknown user, 400 on DoNotDisturb/Presenting...)


# Graph's exceptions (bridge.errors), most specific first: what each means to the planner.
RESULT_OF_ERROR: tuple[tuple[type[GraphError], Result], ...] = (
    (GraphAuthError, Result.AUTH),
    (GraphThrottled, Result.THROTTLED),
    (GraphUnavailable, Result.UNAVAILABLE),
    (GraphError, Result.REFUSED),
)


@dataclass(frozen=True, slots=True)
class Outcome:
    """A call's outcome. ``found`` is False when a clearPresence met no session (404, done);
    ``shown`` is what a presence read returned. ``error`` keeps the exception for callers that re-raise."""

    result: Result = Result.OK
    request_id: str | None = None
    found: bool = True
    shown: Pair | None = None
    status: int | None = None
    code: str | None = None
    detail: str = ""
    error: GraphError | None = None

    @classmethod
    def failed(cls, exc: GraphError) -> Outcome:
        """The outcome of a call that raised ``exc`` (the most specific row of ``RESULT_OF_ERROR``)."""
        result = next(result for kind, result in RESULT_OF_ERROR if isinstance(exc, kind))
        return cls(result, exc.request_id, status=exc.status, code=exc.code, detail=str(exc), error=exc)


@dataclass(frozen=True, slots=True)
class Note:
    """A log line the planner wants written: level, %-format and its arguments (formatted lazily)."""

    level: int
    message: str
    args: tuple[object, ...] = ()


@dataclass(frozen=True, slots=True)
class Start:
    """``begin``'s answer: send the call or not (a refresh no longer wanted), and the write-ahead
    ownership record to persist before sending."""

    send: bool = True
    save: PublishedRecord | None = None


@dataclass(frozen=True, slots=True)
class Effects:
    """What the workers do after an outcome: persist ``save``, set ``health``, log ``notes``."""

    save: PublishedRecord | None = None
    health: tuple[Health, str] | None = None
    notes: tuple[Note, ...] = ()


@dataclass(frozen=True, slots=True)
class PublishView:
    """One person as the publisher sees them (for /status and the demo table)."""

    desired: TeamsIntent | None
    cause: str
    sent_session: Pair | None
    sent_preferred: Pair | None
    last_request_id: str | None
    pending: bool
    staleness: float  # seconds the desired state has been waiting (0 when in step)
    failed: str | None
    quarantined: bool

    @property
    def ours(self) -> Pair | None:
        """What of ours Teams shows, if anything: a preferred presence of ours beats every session
        (ours and the user's clients), so it is ours while we hold one, else our session. The
        Teams -> PBX watcher never reflects it (README, no loops)."""
        return self.sent_preferred or self.sent_session
