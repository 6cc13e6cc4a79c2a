"""Mapping tables PBX -> Teams (DESIGN section 5), their YAML vocabulary and their resolution.

Pure data: no I/O, no clock. ``LINE_TO_TEAMS`` is the default table, one row per LineState.
An *action* is a session Pair (one of ``SESSION_PAIRS``), ``Directive.NONE`` ("no change": the
rest of the person's state decides, typically a clear) or ``Directive.CLEAR`` (this line state
says "not on the phone": our session goes unless something of lower precedence keeps one).

YAML (``mapping:`` globally, ``mapping.adapters.<name>:`` per adapter, ``people[].mapping:``
per person) overrides the defaults key by key; ``resolve_table`` merges person over adapter over
global over defaults into one fully resolved, frozen ``MappingTable``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator, create_model

from bridge.model import LineState
from bridge.presence import (
    IN_A_CALL,
    IN_A_CONFERENCE_CALL,
    PRESENTING,
    SESSION_PAIRS,
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
DND_PREFERRED_MAX = timedelta(hours=12)

_SESSION_PAIRS_TEXT = ", ".join(sorted(str(p) for p in SESSION_PAIRS))


def _action_parser(allowed: frozenset[Directive], *, pairs: bool = True, hint: str = "") -> Any:
    """A pydantic validator turning YAML text into an Action limited to ``allowed`` directives."""
    words = " or ".join(repr(d.value) for d in sorted(allowed))
    expected = (f"one of {_SESSION_PAIRS_TEXT}" + (f", or {words}" if words else "")) if pairs else words

    def parse(value: object) -> Action:
        if isinstance(value, Pair) and pairs and value in SESSION_PAIRS:
            return value
        if isinstance(value, str):
            text = value.strip()
            for directive in allowed:
                if text.lower() == directive.value:
                    return directive
            if pairs and "/" in text:
                try:
                    pair = Pair.parse(text)
                except ValueError:
                    pair = None
                for known in SESSION_PAIRS:
                    if known.same(pair):
                        return known
        raise ValueError(f"{value!r} is not allowed here; expected {expected}{hint}")

    return PlainValidator(parse)


def _action_text(action: Action) -> str:
    return str(action) if isinstance(action, Pair) else action.value


_AS_TEXT = PlainSerializer(_action_text, return_type=str)


SessionOrNone = Annotated[Action, _action_parser(frozenset({Directive.NONE})), _AS_TEXT]
LineRowAction = Annotated[Action, _action_parser(frozenset({Directive.NONE, Directive.CLEAR})), _AS_TEXT]
RingingRowAction = Annotated[
    Action,
    _action_parser(
        frozenset({Directive.NONE, Directive.CLEAR}),
        pairs=False,
        hint=" (use ringing_personal to show personal ringing calls; group and queue calls never show)",
    ),
    _AS_TEXT,
]
Seconds = Annotated[float, Field(ge=0, le=3600)]
PreferredExpiry = Annotated[timedelta, Field(gt=timedelta(0), le=DND_PREFERRED_MAX)]

_FROZEN = ConfigDict(extra="forbid", frozen=True)

# One optional field per LineState, generated from the enum so the two can never disagree.
LineOverrides: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "LineOverrides",
    __config__=_FROZEN,
    **{
        state.value: ((RingingRowAction if state is LineState.RINGING else LineRowAction) | None, None)
        for state in LineState
    },
)


class MappingOverrides(BaseModel):
    """Per-person ``mapping:`` (and per-adapter entries): every key optional, None = inherit."""

    model_config = _FROZEN

    line: LineOverrides | None = None  # type: ignore[valid-type]
    dialing_delay: Seconds | None = None
    idle_hold: Seconds | None = None
    unknown_grace: Seconds | None = None
    dnd: SessionOrNone | None = None
    dnd_preferred: bool | None = None
    dnd_preferred_expiry: PreferredExpiry | None = None
    away: SessionOrNone | None = None
    ringing_personal: SessionOrNone | None = None
    agent_wrapup: SessionOrNone | None = None


class MappingConfig(MappingOverrides):
    """The global ``mapping:`` section: same keys plus ``adapters: {name: overrides}``."""

    adapters: dict[str, MappingOverrides] = Field(default_factory=dict)

    def __hash__(self) -> int:
        return hash((self.model_dump_json(),))


PersonMapping = MappingOverrides


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
    ringing_personal: Action = Directive.NONE
    agent_wrapup: Action = Directive.NONE
    # Derived: sessions this table shows for a call (what the idle hold and the conference rule keep).
    call_pairs: frozenset[Pair] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        actions = (*self.line.values(), self.ringing_personal, self.agent_wrapup)
        object.__setattr__(self, "call_pairs", frozenset(a for a in actions if isinstance(a, Pair)))


DEFAULT_TABLE = MappingTable(line=LINE_TO_TEAMS)

_SCALAR_KEYS = (
    "dialing_delay",
    "idle_hold",
    "unknown_grace",
    "dnd",
    "dnd_preferred",
    "dnd_preferred_expiry",
    "away",
    "ringing_personal",
    "agent_wrapup",
)


class MappingResolutionError(ValueError):
    """The merged table is inconsistent (e.g. dnd_preferred without an expiry)."""


def resolve_table(
    global_cfg: MappingConfig | None,
    adapter_name: str | None,
    person_cfg: MappingOverrides | None,
) -> MappingTable:
    """Merge person over adapter over global over defaults. Pure; cache the result per key.

    Raises MappingResolutionError when dnd_preferred ends up true without an expiry.
    """
    layers: list[MappingOverrides] = []
    if global_cfg is not None:
        layers.append(global_cfg)
        if adapter_name is not None and adapter_name in global_cfg.adapters:
            layers.append(global_cfg.adapters[adapter_name])
    if person_cfg is not None:
        layers.append(person_cfg)

    line = dict(LINE_TO_TEAMS)
    values: dict[str, Any] = {}
    for layer in layers:
        if layer.line is not None:
            for state in LineState:
                action = getattr(layer.line, state.value)
                if action is not None:
                    line[state] = action
        for key in _SCALAR_KEYS:
            value = getattr(layer, key)
            if value is not None:
                values[key] = value
    table = MappingTable(line=MappingProxyType(line), **values)
    if table.dnd_preferred and table.dnd_preferred_expiry is None:
        raise MappingResolutionError("dnd_preferred needs dnd_preferred_expiry (at most PT12H)")
    return table


class TableCache:
    """Resolved tables per (adapter, person overrides), so the hot path never resolves twice."""

    def __init__(self, global_cfg: MappingConfig | None) -> None:
        self._global = global_cfg
        self._tables: dict[tuple[str | None, MappingOverrides | None], MappingTable] = {}

    def get(self, adapter_name: str | None, person_cfg: MappingOverrides | None = None) -> MappingTable:
        key = (adapter_name, person_cfg)
        table = self._tables.get(key)
        if table is None:
            table = resolve_table(self._global, adapter_name, person_cfg)
            self._tables[key] = table
        return table
