"""The PBX -> Teams tables: defaults exactly per DESIGN section 5, YAML validation, resolution order."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from bridge.config_mapping import MappingConfig, MappingOverrides, TableCache, resolve_table
from bridge.mapping import DEFAULT_TABLE, LINE_TO_TEAMS, Directive, MappingResolutionError
from bridge.model import LineState
from bridge.presence import SESSION_PAIRS, Pair

DESIGN_ROWS = {
    LineState.IN_CALL: "Busy/InACall",
    LineState.ON_HOLD: "Busy/InACall",
    LineState.BUSY: "Busy/InACall",
    LineState.DIALING: "Busy/InACall",
    LineState.IN_CONFERENCE: "Busy/InAConferenceCall",
    LineState.RINGING: "none",
    LineState.IDLE: "clear",
    LineState.UNAVAILABLE: "clear",
    LineState.UNKNOWN: "clear",
}


@pytest.mark.parametrize("state", list(LineState), ids=lambda s: s.value)
def test_default_row_is_the_designed_one(state: LineState) -> None:
    action = LINE_TO_TEAMS[state]
    assert (str(action) if isinstance(action, Pair) else action.value) == DESIGN_ROWS[state]


def test_whole_table_invariants() -> None:
    assert set(LINE_TO_TEAMS) == set(LineState)
    for action in LINE_TO_TEAMS.values():
        assert action in SESSION_PAIRS or isinstance(action, Directive)
    with pytest.raises(TypeError):
        LINE_TO_TEAMS[LineState.IDLE] = Directive.NONE  # type: ignore[index]


def test_default_scalars_are_the_designed_ones() -> None:
    t = DEFAULT_TABLE
    assert (t.dialing_delay, t.idle_hold, t.unknown_grace) == (2.0, 3.0, 120.0)
    assert str(t.dnd) == "DoNotDisturb/Presenting"
    assert not t.dnd_preferred
    assert t.away is Directive.NONE and t.ringing_personal is Directive.NONE
    assert t.agent_wrapup is Directive.NONE
    assert resolve_table(None, None, None) == DEFAULT_TABLE
    assert resolve_table(MappingConfig(), "pbx", MappingOverrides()) == DEFAULT_TABLE


def test_pairs_are_accepted_case_insensitively_and_normalised() -> None:
    cfg = MappingConfig.model_validate({"line": {"on_hold": "away/away"}, "dnd": "busy/InACall"})
    table = resolve_table(cfg, None, None)
    assert table.line[LineState.ON_HOLD] == Pair("Away", "Away")
    assert table.dnd == Pair("Busy", "InACall")


@pytest.mark.parametrize(
    ("doc", "key", "needle"),
    [
        ({"line": {"in_call": "Busy/InAMeeting"}}, ("line", "in_call"), "Busy/InAConferenceCall"),
        ({"line": {"ringing": "Busy/InACall"}}, ("line", "ringing"), "ringing_personal"),
        ({"line": {"in_cal": "clear"}}, ("line", "in_cal"), "Extra"),
        ({"dnd": "clear"}, ("dnd",), "'none'"),
        ({"away": "Away/BeRightBack"}, ("away",), "Away/Away"),
        ({"ringing_personal": "Busy"}, ("ringing_personal",), "DoNotDisturb/Presenting"),
        ({"dnd_preferred_expiry": "PT13H"}, ("dnd_preferred_expiry",), "12 hours"),
        ({"dialing_delay": -1}, ("dialing_delay",), "greater than or equal"),
        (
            {"adapters": {"pbx": {"agent_wrapup": "Busy/Busy"}}},
            ("adapters", "pbx", "agent_wrapup"),
            "InACall",
        ),
        ({"adapters": {"pbx": {"adapters": {}}}}, ("adapters", "pbx", "adapters"), "Extra"),
    ],
    ids=[
        "not-a-session-pair",
        "ringing-row",
        "unknown-line",
        "dnd-clear",
        "away-pair",
        "bad-shape",
        "preferred-expiry-max",
        "negative-delay",
        "adapter-row",
        "nested-adapters",
    ],
)
def test_bad_values_are_refused_naming_key_and_allowed(doc: dict, key: tuple, needle: str) -> None:
    with pytest.raises(ValidationError) as info:
        MappingConfig.model_validate(doc)
    errors = info.value.errors()
    assert any(tuple(e["loc"]) == key and needle in e["msg"] for e in errors), errors


def test_person_beats_adapter_beats_global_beats_default() -> None:
    cfg = MappingConfig.model_validate(
        {
            "idle_hold": 5,
            "dialing_delay": 4,
            "away": "Away/Away",
            "line": {"on_hold": "Away/Away"},
            "adapters": {"pbx": {"idle_hold": 7, "line": {"busy": "clear"}}},
        }
    )
    person = MappingOverrides.model_validate({"idle_hold": 9, "away": "none"})
    assert resolve_table(cfg, None, None).idle_hold == 5
    assert resolve_table(cfg, "other", None).idle_hold == 5
    pbx = resolve_table(cfg, "pbx", None)
    assert (pbx.idle_hold, pbx.dialing_delay, pbx.away) == (7, 4, Pair("Away", "Away"))
    assert pbx.line[LineState.ON_HOLD] == Pair("Away", "Away")
    assert pbx.line[LineState.BUSY] is Directive.CLEAR
    assert pbx.line[LineState.IN_CALL] == Pair("Busy", "InACall")
    mine = resolve_table(cfg, "pbx", person)
    assert (mine.idle_hold, mine.dialing_delay, mine.away) == (9, 4, Directive.NONE)


def test_dnd_preferred_needs_an_expiry_somewhere() -> None:
    with pytest.raises(MappingResolutionError, match="dnd_preferred_expiry"):
        resolve_table(MappingConfig(dnd_preferred=True), None, None)
    cfg = MappingConfig.model_validate({"dnd_preferred_expiry": "PT8H"})
    table = resolve_table(cfg, None, MappingOverrides(dnd_preferred=True))
    assert table.dnd_preferred and table.dnd_preferred_expiry == timedelta(hours=8)


def test_call_pairs_follow_the_table() -> None:
    assert {str(p) for p in DEFAULT_TABLE.call_pairs} == {"Busy/InACall", "Busy/InAConferenceCall"}
    cfg = MappingConfig.model_validate({"line": {"on_hold": "Away/Away"}})
    assert Pair("Away", "Away") in resolve_table(cfg, None, None).call_pairs


def test_cache_resolves_once_per_key_and_configs_are_hashable() -> None:
    cfg = MappingConfig.model_validate({"adapters": {"pbx": {"idle_hold": 1}}})
    cache = TableCache(cfg)
    person = MappingOverrides.model_validate({"line": {"idle": "none"}})
    assert cache.get("pbx") is cache.get("pbx")
    assert cache.get("pbx", person) is cache.get(
        "pbx", MappingOverrides.model_validate({"line": {"idle": "none"}})
    )
    assert cache.get("pbx").idle_hold == 1 and cache.get(None).idle_hold == 3
    assert hash(cfg) == hash(MappingConfig.model_validate({"adapters": {"pbx": {"idle_hold": 1}}}))
