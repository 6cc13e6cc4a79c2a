"""The documented CTI event format (docs/cti.md): one test per vocabulary row, then the errors
a PBX integrator will see."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from adapters.generic_cti.parse import (
    CTI_VOCABULARY,
    EVENT_FIELDS,
    CtiJsonError,
    CtiParseError,
    parse_events,
)
from bridge.model import AgentState, CallKind, EndpointKey, LineState, StateChange, Toggle

ROWS = [(field, wire, value) for field, table in CTI_VOCABULARY.items() for wire, value in table.items()]


def one(event: dict[str, object]) -> StateChange:
    [change] = parse_events(json.dumps(event).encode(), "pbx")
    return change


@pytest.mark.parametrize(("field", "wire", "value"), ROWS, ids=[f"{f}={w!r}" for f, w, _ in ROWS])
def test_vocabulary_row(field: str, wire: object, value: object) -> None:
    change = one({"extension": "1001", field: wire})
    assert getattr(change, field) == value


def test_every_line_state_and_call_kind_is_reachable() -> None:
    assert set(CTI_VOCABULARY["line"].values()) == set(LineState)
    assert set(CTI_VOCABULARY["call_kind"].values()) == set(CallKind)
    assert set(CTI_VOCABULARY["dnd"].values()) == set(Toggle)


def test_vocabulary_strings_are_case_insensitive() -> None:
    assert one({"extension": "1001", "line": "IN_CALL", "dnd": "On"}).line is LineState.IN_CALL


def test_documented_example_decodes_fully() -> None:
    change = one(
        {
            "extension": "1001",
            "context": "from-internal",
            "device": "PJSIP/1001",
            "line": "in_call",
            "dnd": False,
            "away": False,
            "agent": {"logged_in": True, "paused": False, "reason": None, "wrapup": False},
            "call_kind": "personal",
            "at": "2026-11-28T10:00:00Z",
        }
    )
    assert change == StateChange(
        endpoint=EndpointKey("pbx", "1001", "from-internal", "PJSIP/1001"),
        line=LineState.IN_CALL,
        dnd=Toggle.OFF,
        away=Toggle.OFF,
        agent=AgentState(logged_in=True),
        call_kind=CallKind.PERSONAL,
        at=datetime(2026, 11, 28, 10, 0, tzinfo=UTC),
    )


def test_partial_event_leaves_other_fields_unchanged() -> None:
    change = one({"extension": "1001", "dnd": "on"})
    assert change == StateChange(endpoint=EndpointKey("pbx", "1001"), dnd=Toggle.ON)


def test_null_means_unchanged() -> None:
    change = one({"extension": "1001", "line": None, "context": None, "at": None})
    assert change == StateChange(endpoint=EndpointKey("pbx", "1001"))


def test_numeric_extension_is_accepted_as_text() -> None:
    assert one({"extension": 1001}).endpoint.extension == "1001"


def test_time_with_offset_is_normalised_to_utc() -> None:
    assert one({"extension": "1", "at": "2026-11-28T11:30:00+01:00"}).at == datetime(
        2026, 11, 28, 10, 30, tzinfo=UTC
    )


def test_array_yields_events_in_order() -> None:
    body = json.dumps([{"extension": "1001", "line": "ringing"}, {"extension": "1002", "line": "idle"}])
    changes = parse_events(body.encode(), "pbx")
    assert [(c.endpoint.extension, c.line) for c in changes] == [
        ("1001", LineState.RINGING),
        ("1002", LineState.IDLE),
    ]


def test_empty_array_is_nothing() -> None:
    assert parse_events(b"[]", "pbx") == []


def test_agent_partial_object_defaults_the_rest() -> None:
    assert one({"extension": "1", "agent": {"paused": True, "reason": "lunch"}}).agent == AgentState(
        paused=True, reason="lunch"
    )


@pytest.mark.parametrize(
    ("event", "index", "field", "words"),
    [
        ({"line": "idle"}, 0, "extension", "required"),
        ({"extension": ""}, 0, "extension", "empty"),
        ({"extension": ["1001"]}, 0, "extension", "string"),
        ({"extension": "1001", "lien": "idle"}, 0, "lien", "unknown key"),
        ({"extension": "1001", "line": "talking"}, 0, "line", '"in_call"'),
        ({"extension": "1001", "dnd": 1}, 0, "dnd", "unknown value 1"),
        ({"extension": "1001", "away": "yes"}, 0, "away", "unknown value"),
        ({"extension": "1001", "call_kind": "ringgroup"}, 0, "call_kind", "queue"),
        ({"extension": "1001", "at": "2026-11-28T10:00:00"}, 0, "at", "time zone"),
        ({"extension": "1001", "at": "yesterday"}, 0, "at", "ISO-8601"),
        ({"extension": "1001", "at": 1764324000}, 0, "at", "ISO-8601"),
        ({"extension": "1001", "agent": True}, 0, "agent", "object"),
        ({"extension": "1001", "agent": {"on_break": True}}, 0, "agent.on_break", "unknown key"),
        ({"extension": "1001", "agent": {"paused": "yes"}}, 0, "agent.paused", "true or false"),
        ({"extension": "1001", "agent": {"reason": 5}}, 0, "agent.reason", "string"),
        ({"extension": "10\n01"}, 0, "extension", "control"),
        # a reason is shown on the status page and in logs, and may go to the PBX as a pause reason
        ({"extension": "1001", "agent": {"reason": "lunch\n{\"forged\": 1}"}}, 0, "agent.reason", "control"),
        ({"extension": "1001", "agent": {"reason": "\u001b[31mred"}}, 0, "agent.reason", "control"),
        ({"extension": "1001", "agent": {"reason": "a\u0000b"}}, 0, "agent.reason", "control"),
    ],
)
def test_schema_error_names_index_and_field(
    event: dict[str, object], index: int, field: str, words: str
) -> None:
    with pytest.raises(CtiParseError) as info:
        parse_events(json.dumps(event).encode(), "pbx")
    assert (info.value.index, info.value.field) == (index, field)
    assert words in str(info.value)
    assert not isinstance(info.value, CtiJsonError)


def test_one_bad_event_rejects_the_whole_array_naming_its_index() -> None:
    body = json.dumps([{"extension": "1"}, {"extension": "2"}, {"extension": "3", "line": "nope"}])
    with pytest.raises(CtiParseError) as info:
        parse_events(body.encode(), "pbx")
    assert (info.value.index, info.value.field) == (2, "line")
    assert str(info.value).startswith("event 2, field 'line'")


def test_array_of_non_objects_names_the_index() -> None:
    with pytest.raises(CtiParseError) as info:
        parse_events(b'[{"extension": "1"}, "1002"]', "pbx")
    assert (info.value.index, info.value.field) == (1, None)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   ",
        b"{",
        b"not json",
        b"\xff\xfe{}",
        b'{"extension": NaN}',
        b'{"extension":"1","extension":"2"}',
    ],
    ids=["empty", "blank", "truncated", "text", "not-utf8", "nan", "duplicate-key"],
)
def test_bad_json_is_its_own_error(body: bytes) -> None:
    with pytest.raises(CtiJsonError) as info:
        parse_events(body, "pbx")
    assert info.value.index is None


def test_scalar_body_is_rejected() -> None:
    with pytest.raises(CtiParseError, match="object or an array"):
        parse_events(b"42", "pbx")


def test_deep_nesting_is_rejected_not_crashed() -> None:
    with pytest.raises(CtiParseError):
        parse_events(b"[" * 100000 + b"]" * 100000, "pbx")


def test_documented_fields_are_exactly_the_accepted_ones() -> None:
    assert EVENT_FIELDS == {
        "extension", "context", "device", "line", "dnd", "away", "agent", "call_kind", "at"
    }  # fmt: skip
