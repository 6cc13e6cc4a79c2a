"""The YAML vocabulary of the mapping tables and their resolution (config floor: pydantic).

``mapping:`` globally, ``mapping.adapters.<name>:`` per adapter and ``people[].mapping:`` per
person override the defaults of ``bridge.mapping`` key by key; ``resolve_table`` merges person
over adapter over global over defaults into one fully resolved, frozen ``MappingTable``.
Values are validated against the exact session pairs Graph accepts; errors name what is allowed.
"""

from __future__ import annotations

from datetime import timedelta
from types import MappingProxyType
from typing import Annotated, Any

from pydantic import BaseModel, Field, PlainSerializer, PlainValidator, create_model

from bridge.kit.config_types import ConfigModel
from bridge.mapping import (
    LINE_TO_TEAMS,
    PREFERRED_EXPIRY_MAX,
    Action,
    Directive,
    MappingResolutionError,
    MappingTable,
)
from bridge.model import LineState
from bridge.presence import SESSION_PAIRS, Pair

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
PreferredExpiry = Annotated[timedelta, Field(gt=timedelta(0), le=PREFERRED_EXPIRY_MAX)]

# One optional field per LineState, generated from the enum so the two can never disagree.
LineOverrides: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "LineOverrides",
    __base__=ConfigModel,
    **{
        state.value: ((RingingRowAction if state is LineState.RINGING else LineRowAction) | None, None)
        for state in LineState
    },
)


class MappingOverrides(ConfigModel):
    """Per-person ``mapping:`` (and per-adapter entries): every key optional, None = inherit."""

    line: LineOverrides | None = None  # type: ignore[valid-type]
    dialing_delay: Seconds | None = None
    idle_hold: Seconds | None = None
    unknown_grace: Seconds | None = None
    dnd: SessionOrNone | None = None
    dnd_preferred: bool | None = None
    dnd_preferred_expiry: PreferredExpiry | None = None
    away: SessionOrNone | None = None
    away_preferred: bool | None = None
    away_preferred_expiry: PreferredExpiry | None = None
    ringing_personal: SessionOrNone | None = None
    agent_wrapup: SessionOrNone | None = None


class MappingConfig(MappingOverrides):
    """The global ``mapping:`` section: same keys plus ``adapters: {name: overrides}``."""

    adapters: dict[str, MappingOverrides] = Field(default_factory=dict)

    def __hash__(self) -> int:
        return hash((self.model_dump_json(),))


PersonMapping = MappingOverrides


# The opt-in switches that set a user-preferred presence; each needs ``<switch>_expiry``.
PREFERRED_SWITCHES = ("dnd_preferred", "away_preferred")

_SCALAR_KEYS = (
    "dialing_delay",
    "idle_hold",
    "unknown_grace",
    "dnd",
    "dnd_preferred",
    "dnd_preferred_expiry",
    "away",
    "away_preferred",
    "away_preferred_expiry",
    "ringing_personal",
    "agent_wrapup",
)


def resolve_table(
    global_cfg: MappingConfig | None,
    adapter_name: str | None,
    person_cfg: MappingOverrides | None,
) -> MappingTable:
    """Merge person over adapter over global over defaults. Pure; cache the result per key.

    Raises MappingResolutionError when dnd_preferred or away_preferred ends up true without its
    expiry (a preferred presence of ours must lapse by itself: PREFERRED_SWITCHES).
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
    for switch in PREFERRED_SWITCHES:
        if getattr(table, switch) and getattr(table, f"{switch}_expiry") is None:
            raise MappingResolutionError(f"{switch} needs {switch}_expiry (at most PT12H)", switch)
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
