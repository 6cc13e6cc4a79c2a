"""Mapping tables PBX -> Teams (DESIGN section 5), their YAML vocabulary and their resolution.

Pure data: no I/O, no clock. ``LINE_TO_TEAMS`` is the default table, one row per LineState.
An *action* is a session Pair (one of ``SESSION_PAIRS``), ``Directive.NONE`` ("no change": the
rest of the person's state decides, typically a clear) or ``Directive.CLEAR`` (this line state
says "not on the phone": our session goes unless something of lower precedence keeps one).

The YAML vocabulary that overrides these defaults (``mapping:`` globally, per adapter, per
person) and its resolution into one ``MappingTable`` live on the config floor:
``bridge.config_mapping``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from types import MappingProxyType

from bridge.model import LineState
from bridge.presence import (
    IN_A_CALL,
    IN_A_CONFERENCE_CALL,
    PRESENTING,
    Pair,
)


class Directive(StrEnum):
    """Table values that are not a pair."""

    NONE = "none"  # no change: what the rest of the person's state says
    CLEAR = "clear"  # clear our session (unless a lower-precedence state keeps one)


Action = Pair | Directive

# DESIGN section 5, row by row. UNKNOWN's row is what applies once the grace period is over.
LINE_TO_TEAMS: Mapping[LineState, Action] = MappingProxyType(
    {
        LineState.IN_CALL: IN_A_CALL,
        LineState.ON_HOLD: IN_A_CALL,
        LineState.BUSY: IN_A_CALL,
        LineState.DIALING: IN_A_CALL,  # after dialing_delay
        LineState.IN_CONFERENCE: IN_A_CONFERENCE_CALL,  # not switched to mid-call (policy)
        LineState.RINGING: Directive.NONE,  # ringing_personal may show personal calls
        LineState.IDLE: Directive.CLEAR,  # after idle_hold
        LineState.UNAVAILABLE: Directive.CLEAR,
        LineState.UNKNOWN: Directive.CLEAR,  # after unknown_grace
    }
)

DEFAULT_DIALING_DELAY = 2.0
DEFAULT_IDLE_HOLD = 3.0
DEFAULT_UNKNOWN_GRACE = 120.0
PREFERRED_EXPIRY_MAX = timedelta(hours=12)  # dnd_preferred_expiry and away_preferred_expiry


@dataclass(frozen=True, slots=True)
class MappingTable:
    """A fully resolved table for one (adapter, person): what the policy reads, no lookups left."""

    line: Mapping[LineState, Action]
    dialing_delay: float = DEFAULT_DIALING_DELAY
    idle_hold: float = DEFAULT_IDLE_HOLD
    unknown_grace: float = DEFAULT_UNKNOWN_GRACE
    dnd: Action = PRESENTING
    dnd_preferred: bool = False
    dnd_preferred_expiry: timedelta | None = None
    away: Action = Directive.NONE
    away_preferred: bool = False
    away_preferred_expiry: timedelta | None = None
    ringing_personal: Action = Directive.NONE
    agent_wrapup: Action = Directive.NONE
    # Derived: sessions this table shows for a call (what the idle hold and the conference rule keep).
    call_pairs: frozenset[Pair] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        actions = (*self.line.values(), self.ringing_personal, self.agent_wrapup)
        object.__setattr__(self, "call_pairs", frozenset(a for a in actions if isinstance(a, Pair)))


DEFAULT_TABLE = MappingTable(line=LINE_TO_TEAMS)


class MappingResolutionError(ValueError):
    """The merged table is inconsistent (e.g. dnd_preferred without an expiry); ``key`` names the
    switch that needs what is missing, so the config check reports it where it is set."""

    def __init__(self, message: str, key: str) -> None:
        super().__init__(message)
        self.key = key
