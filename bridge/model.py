"""Canonical vocabulary of the core: what adapters say about PBX endpoints.

Adapters speak PBX words and translate them into these types; the core never sees
a protocol. Everything here is a frozen value: no I/O, no clock, no asyncio.

Frozen interface: adapters, policy, runtime and store all depend on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple


class LineState(StrEnum):
    """State of one endpoint's line (DESIGN section 3)."""

    IDLE = "idle"
    RINGING = "ringing"  # inbound alerting
    DIALING = "dialing"  # outbound, unanswered
    IN_CALL = "in_call"
    ON_HOLD = "on_hold"
    IN_CONFERENCE = "in_conference"
    BUSY = "busy"  # in use, detail unknown
    UNAVAILABLE = "unavailable"  # unregistered
    UNKNOWN = "unknown"  # adapter disconnected or resyncing


# Busiest first (DESIGN section 13): the person's line is the busiest personal endpoint.
LINE_BUSYNESS: tuple[LineState, ...] = (
    LineState.IN_CONFERENCE,
    LineState.IN_CALL,
    LineState.ON_HOLD,
    LineState.BUSY,
    LineState.DIALING,
    LineState.RINGING,
    LineState.UNKNOWN,
    LineState.IDLE,
    LineState.UNAVAILABLE,
)
LINE_RANK: dict[LineState, int] = {s: len(LINE_BUSYNESS) - i for i, s in enumerate(LINE_BUSYNESS)}
assert set(LINE_RANK) == set(LineState), "every LineState needs a busyness rank"


class Toggle(StrEnum):
    """A PBX flag that may be unknown (dnd, away)."""

    ON = "on"
    OFF = "off"
    UNKNOWN = "unknown"


class CallKind(StrEnum):
    """Who a ringing call is for: only personal calls may ever show as Busy while ringing."""

    PERSONAL = "personal"
    GROUP = "group"
    QUEUE = "queue"


class EndpointRole(StrEnum):
    PERSONAL = "personal"  # counts for the person's line state
    SHARED = "shared"  # left out of line state, still gets write-back
    IGNORE = "ignore"  # events dropped and counted


@dataclass(frozen=True, slots=True)
class AgentState:
    """Queue agent state, kept apart from away."""

    logged_in: bool = False
    paused: bool = False
    reason: str | None = None
    wrapup: bool = False


@dataclass(frozen=True, slots=True)
class EndpointKey:
    """One PBX endpoint as an adapter names it.

    ``extension`` is the dialable number; ``device`` (optional) tells apart several devices
    behind one extension (desk phone + softphone); ``context`` is the dialplan context or
    tenant partition where the PBX has one ("" when it does not).
    """

    adapter: str
    extension: str
    context: str = ""
    device: str = ""


@dataclass(frozen=True, slots=True)
class StateChange:
    """A partial update about one endpoint: ``None`` fields are unchanged.

    ``at`` is when the PBX observed it (UTC-aware) if the source says so; the runtime
    stamps receive time otherwise. An event older than the endpoint's latest is stale.
    ``echo`` marks a change the adapter recognised as caused by our own write-back.
    """

    endpoint: EndpointKey
    line: LineState | None = None
    dnd: Toggle | None = None
    away: Toggle | None = None
    agent: AgentState | None = None
    call_kind: CallKind | None = None
    at: datetime | None = None
    echo: bool = False


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A full resync from one adapter: it replaces what the core knew of that adapter.

    Endpoints of ``adapter`` that the core knew but that are absent here keep their
    last state only if ``partial`` is true; otherwise they become idle / dnd off / away off.
    """

    adapter: str
    changes: tuple[StateChange, ...] = field(default_factory=tuple)
    partial: bool = False
    at: datetime | None = None


class EndpointState(NamedTuple):
    """The core's latest knowledge of one endpoint (all fields merged from partial updates).

    A NamedTuple (immutable; copy with ``_replace``): one is built per event on the hot path,
    and tuple construction is several times cheaper than a frozen dataclass's.
    """

    line: LineState = LineState.UNKNOWN
    dnd: Toggle = Toggle.UNKNOWN
    away: Toggle = Toggle.UNKNOWN
    agent: AgentState = AgentState()
    call_kind: CallKind = CallKind.PERSONAL
    observed_at: datetime | None = None  # PBX time of the latest applied change
    line_since: float | None = None  # monotonic seconds when `line` last changed
    restored: bool = False  # loaded from the store after a restart, not yet confirmed
    dnd_ours: bool = False  # the PBX DND was set by our Teams -> PBX write-back (never published back)


# --- Write-back vocabulary (Teams -> PBX), DESIGN sections 6 and 13 -----------------


class RoutableState(StrEnum):
    """The Teams state a dialplan can route on; NONE clears what we set."""

    CALL = "call"
    PRESENTING = "presenting"
    DND = "dnd"
    OOF = "oof"
    MEETING = "meeting"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class WriteBack:
    """One command to a PBX about one extension. ``None`` fields mean "leave as is".

    ``pbx_dnd``: switch the PBX's own DND (only for people who opted in).
    ``queue_pause``: a reason string pauses queue membership with ``teams:<reason>``;
    "" unpauses (only while the pause reason is still ours).
    """

    extension: str
    context: str = ""
    routable: RoutableState | None = None
    pbx_dnd: bool | None = None
    queue_pause: str | None = None
