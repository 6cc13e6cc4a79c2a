"""The engine's fast policy (``bridge.policy_fast``) agrees with the reference (``bridge.policy``).

A user would notice a disagreement as a wrong Teams state that no table test catches: the table
tests pin the reference, and this file pins the fast path to the reference on random event
sequences (several endpoints per person in every role, every line state, dnd, away, agent wrap-up,
call kinds, stale and echoed events, restored states, time passing and timers firing, Presenting
refused, and tables built from random global, per-adapter and per-person overrides).
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bridge.config_mapping import MappingConfig, MappingOverrides, TableCache
from bridge.mapping import LINE_TO_TEAMS, MappingTable
from bridge.model import (
    AgentState,
    CallKind,
    EndpointKey,
    EndpointRole,
    EndpointState,
    LineState,
    StateChange,
    Toggle,
)
from bridge.policy import decide, merge
from bridge.policy_fast import Cell, fast_decide, fast_merge
from bridge.presence import IN_A_CALL, Pair, TeamsIntent

T0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
KEYS = (
    EndpointKey("pbx", "1001"),
    EndpointKey("pbx", "1001", device="soft"),
    EndpointKey("dect", "1001"),
    EndpointKey("pbx", "1002", context="sales"),
)

# --- tables from random overrides ---------------------------------------------------------

SESSION = st.sampled_from(["Busy/InACall", "Busy/InAConferenceCall", "Available/Available", "Away/Away"])
LINE_ROW = st.one_of(SESSION, st.sampled_from(["none", "clear"]))
OPTIONAL_SESSION = st.one_of(SESSION, st.just("none"))
SECONDS = st.sampled_from([0.0, 1.0, 2.0, 3.0, 10.0, 120.0])


def _line_rows(draw: st.DrawFn) -> dict[str, str]:
    rows = draw(
        st.dictionaries(st.sampled_from([s.value for s in LineState if s is not LineState.RINGING]), LINE_ROW)
    )
    if draw(st.booleans()):
        rows["ringing"] = draw(st.sampled_from(["none", "clear"]))
    return rows


@st.composite
def overrides(draw: st.DrawFn) -> dict[str, Any]:
    """One ``mapping:`` layer: a random subset of keys (dnd_preferred and away_preferred always
    come with their expiry)."""
    layer: dict[str, Any] = {}
    for key, values in (
        ("dialing_delay", SECONDS),
        ("idle_hold", SECONDS),
        ("unknown_grace", SECONDS),
        ("dnd", st.one_of(st.just("DoNotDisturb/Presenting"), OPTIONAL_SESSION)),
        ("away", OPTIONAL_SESSION),
        ("ringing_personal", OPTIONAL_SESSION),
        ("agent_wrapup", OPTIONAL_SESSION),
    ):
        if draw(st.booleans()):
            layer[key] = draw(values)
    if draw(st.booleans()):
        layer["dnd_preferred"] = draw(st.booleans())
        layer["dnd_preferred_expiry"] = timedelta(hours=1)
    if draw(st.booleans()):
        layer["away_preferred"] = draw(st.booleans())
        layer["away_preferred_expiry"] = draw(st.sampled_from([timedelta(hours=2), timedelta(hours=12)]))
    if draw(st.booleans()):
        layer["line"] = _line_rows(draw)
    return layer


@st.composite
def table_sets(draw: st.DrawFn) -> Any:
    """``table_for`` of one person: global, per-adapter and per-person layers over the defaults."""
    doc = draw(overrides())
    doc["adapters"] = {name: draw(overrides()) for name in draw(st.sets(st.sampled_from(["pbx", "dect"])))}
    person = draw(overrides())
    if any(layer.get("dnd_preferred") for layer in (doc, person, *doc["adapters"].values())):
        doc["dnd_preferred_expiry"] = timedelta(hours=1)  # every resolution then has an expiry
    if any(layer.get("away_preferred") for layer in (doc, person, *doc["adapters"].values())):
        doc.setdefault("away_preferred_expiry", timedelta(hours=2))
    cache = TableCache(MappingConfig.model_validate(doc))
    overrides_of_person = MappingOverrides.model_validate(person) if person else None

    def table_for(adapter: str) -> MappingTable:
        return cache.get(adapter, overrides_of_person)

    return table_for


# --- random event sequences -----------------------------------------------------------------

# Weighted towards the common case (a line change alone), so sequences reach calls, conferences and
# hang-ups often; every other field still turns up in most examples.
OPTIONAL_TOGGLE = st.sampled_from([None, None, None, Toggle.ON, *Toggle])
OPTIONAL_LINE = st.sampled_from([None, None, *LineState, LineState.IN_CALL, LineState.IDLE, LineState.IDLE])
AGENTS = st.one_of(
    st.none(),
    st.none(),
    st.none(),
    st.builds(AgentState, logged_in=st.booleans(), paused=st.booleans(), wrapup=st.booleans()),
)


@st.composite
def changes(draw: st.DrawFn) -> tuple[str, int, StateChange]:
    slot = draw(st.integers(0, len(KEYS) - 1))
    at_minutes = draw(st.one_of(st.none(), st.integers(0, 6)))  # small range: repeats and stale ones
    change = StateChange(
        KEYS[slot],
        line=draw(OPTIONAL_LINE),
        dnd=draw(OPTIONAL_TOGGLE),
        away=draw(OPTIONAL_TOGGLE),
        agent=draw(AGENTS),
        call_kind=draw(st.sampled_from([None, None, *CallKind])),
        at=None if at_minutes is None else T0 + timedelta(minutes=at_minutes),
        echo=draw(st.sampled_from([False, False, False, True])),
    )
    return ("event", slot, change)


STEP = st.one_of(
    changes(),
    changes(),
    changes(),
    st.tuples(st.just("tick"), st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0, 5.0, 130.0])),
    st.tuples(st.just("timer")),  # time jumps to the pending recheck, as the engine's timer fires
    st.tuples(st.just("restore"), st.integers(0, len(KEYS) - 1)),  # as Engine.restore marks a state
    st.tuples(st.just("presenting"), st.booleans()),  # the tenant refuses (or accepts) Presenting
    st.tuples(st.just("restart")),  # no previous intent, as after a restart
)
ROLE = st.sampled_from([EndpointRole.PERSONAL, EndpointRole.PERSONAL, EndpointRole.PERSONAL, *EndpointRole])


@dataclass
class World:
    """One implementation's view of one person: states in first-event order, and its last intent."""

    states: dict[EndpointKey, EndpointState] = field(default_factory=dict)
    previous: TeamsIntent | None = None


def _rows(
    world: World, roles: tuple[EndpointRole, ...]
) -> list[tuple[EndpointKey, EndpointRole, EndpointState]]:
    return [(key, roles[KEYS.index(key)], state) for key, state in world.states.items()]


def _defaults(_adapter: str) -> MappingTable:
    return TableCache(None).get(None)


PERSONAL_ONLY = (EndpointRole.PERSONAL,) * len(KEYS)
# Rare at random: a line gone unknown (adapter blip) when there is no previous intent to keep.
UNKNOWN_AFTER_RESTART = [
    ("event", 0, StateChange(KEYS[0], line=LineState.IN_CALL)),
    ("event", 0, StateChange(KEYS[0], line=LineState.UNKNOWN)),
    ("restart",),
    ("tick", 130.0),
]
# Rare at random: two endpoints in the same state; the first one (in the person's order) is named.
AWAY_WRAPUP_DND = {"away": "Away/Away", "agent_wrapup": "Busy/InACall"}
TWO_OF_EACH = [
    ("event", slot, StateChange(KEYS[slot], **fields))
    for fields in ({"away": Toggle.ON}, {"agent": AgentState(wrapup=True)}, {"dnd": Toggle.ON})
    for slot in (0, 1)
]


# A call, its idle hold and an unknown grace while away goes on, off and unknown: the two holding
# layers rebuild the preferred Away (the random sequences reach this rarely).
AWAY_PREFERRED = {"away_preferred": True, "away_preferred_expiry": timedelta(hours=2)}
AWAY_THROUGH_HOLDS = [
    ("event", 0, StateChange(KEYS[0], **fields))
    for fields in (
        {"line": LineState.IN_CALL, "away": Toggle.ON, "dnd": Toggle.OFF},
        {"line": LineState.IDLE},
        {"away": Toggle.OFF},
        {"away": Toggle.ON},
        {"line": LineState.IN_CALL},
        {"line": LineState.UNKNOWN},
        {"away": Toggle.OFF},
        {"away": Toggle.ON},
        {"away": Toggle.UNKNOWN},
        {"line": LineState.IDLE, "away": Toggle.OFF},
    )
]


@settings(max_examples=200, deadline=None)
@example(
    table_for=TableCache(MappingConfig.model_validate(AWAY_PREFERRED)).get,
    roles=PERSONAL_ONLY,
    steps=AWAY_THROUGH_HOLDS,
)
@example(table_for=_defaults, roles=PERSONAL_ONLY, steps=UNKNOWN_AFTER_RESTART)
@example(
    table_for=TableCache(MappingConfig.model_validate(AWAY_WRAPUP_DND)).get,
    roles=PERSONAL_ONLY,
    steps=TWO_OF_EACH,
)
@given(
    table_for=table_sets(),
    roles=st.tuples(*[ROLE for _ in KEYS]),
    steps=st.lists(STEP, min_size=10, max_size=60),
)
def test_fast_path_and_reference_agree_at_every_step(
    table_for: Any, roles: tuple[EndpointRole, ...], steps: list[tuple[Any, ...]]
) -> None:
    reference, fast = World(), World()
    mono = 100.0
    presenting = True
    recheck: float | None = None
    for step in steps:
        if step[0] == "event":
            _, slot, change = step
            key = KEYS[slot]
            prev_ref, prev_fast = reference.states.get(key), fast.states.get(key)
            merged_ref, merged_fast = merge(prev_ref, change, mono), fast_merge(prev_fast, change, mono)
            assert merged_fast == merged_ref, step
            assert (merged_fast is prev_fast) == (merged_ref is prev_ref), "'nothing changed' must agree"
            if merged_ref is not None:
                reference.states[key], fast.states[key] = merged_ref, merged_fast  # type: ignore[assignment]
        elif step[0] == "tick":
            mono += step[1]
        elif step[0] == "timer" and recheck is not None:
            mono = max(mono, recheck)
        elif step[0] == "restore":
            key = KEYS[step[1]]
            for world in (reference, fast):
                if key in world.states:
                    world.states[key] = world.states[key]._replace(line_since=mono, restored=True)
        elif step[0] == "presenting":
            presenting = step[1]
        elif step[0] == "restart":
            reference.previous = fast.previous = None

        cells: list[Cell] = [list(row) for row in _rows(fast, roles)]  # the engine hands over cells
        expected = decide(
            _rows(reference, roles), table_for, reference.previous, mono, presenting_supported=presenting
        )
        got = fast_decide(cells, table_for, fast.previous, mono, presenting_supported=presenting)
        assert got == expected, step
        assert got.intent.same_target(fast.previous) == expected.intent.same_target(reference.previous)
        reference.previous, fast.previous, recheck = expected.intent, got.intent, got.recheck_at


# --- intents the fast path builds itself ---------------------------------------------------------


def _in_call(extension: str) -> list[tuple[EndpointKey, EndpointRole, EndpointState]]:
    state = EndpointState(line=LineState.IN_CALL, line_since=0.0)
    return [(EndpointKey("pbx", extension), EndpointRole.PERSONAL, state)]


def test_an_intent_built_past_the_constructor_is_a_whole_teams_intent() -> None:
    """Equal to, hashed like and as frozen as one built by ``TeamsIntent(...)``: the publisher keys
    and compares them."""
    intent = fast_decide(_in_call("2000"), _defaults, None, 100.0).intent
    built = TeamsIntent(session=IN_A_CALL, reason="in_call on pbx/2000")
    assert intent == built and hash(intent) == hash(built) and intent.same_target(built)
    with pytest.raises(FrozenInstanceError):
        intent.reason = "changed"  # type: ignore[misc]


def test_a_table_row_that_is_no_setpresence_pair_fails_as_the_reference_does() -> None:
    """Tables are validated at load; a row that slipped past must not become a Graph call."""
    table = MappingTable(line={**LINE_TO_TEAMS, LineState.IN_CALL: Pair("Busy", "Busy")})
    with pytest.raises(ValueError, match="is not a setPresence pair") as reference_error:
        decide(_in_call("2000"), lambda _adapter: table, None, 100.0)
    with pytest.raises(ValueError) as fast_error:
        fast_decide(_in_call("2000"), lambda _adapter: table, None, 100.0)
    assert str(fast_error.value) == str(reference_error.value)


def test_the_fast_path_keeps_no_state_between_engines() -> None:
    """Two people deciding the same outcome get equal, separate intents: nothing module-wide is
    filled at run time (caches belong to an engine)."""
    first = fast_decide(_in_call("2000"), _defaults, None, 100.0).intent
    second = fast_decide(_in_call("2000"), _defaults, None, 100.0).intent
    assert first == second and first is not second
