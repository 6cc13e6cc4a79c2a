"""Property-based fuzz of the CTI event parser: whatever a PBX (or an attacker) sends, the answer
is a parsed request or a ``CtiParseError`` naming where it went wrong, never a traceback (a 500
and a log line per request in production)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.generic_cti.parse import CtiJsonError, CtiParseError, parse_request

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
FIELDS = ["extension", "context", "device", "line", "dnd", "away", "agent", "call_kind", "at", "x"]
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(FIELDS), inner, max_size=4),
    max_leaves=10,
)
events = st.dictionaries(st.sampled_from(FIELDS), values, max_size=6)
bodies = (
    events.map(lambda e: json.dumps(e).encode())
    | st.lists(events, max_size=4).map(lambda e: json.dumps(e).encode())
    | st.builds(
        lambda e, at: json.dumps({"snapshot": True, "events": e, "at": at}).encode(),
        st.lists(events, max_size=3),
        values,
    )
    | st.binary(max_size=200)
)


def _check(body: bytes) -> None:
    try:
        parse_request(body, "pbx", now=NOW, max_future=5.0)
    except CtiParseError as exc:
        if not isinstance(exc, CtiJsonError):
            assert exc.field is not None or exc.index is None, str(exc)
        assert str(exc), "a rejection says why"


@settings(max_examples=400, deadline=None)
@given(bodies)
def test_no_exception_escapes_and_every_rejection_names_its_field(body: bytes) -> None:
    _check(body)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS), values, min_size=1, max_size=6))
def test_an_event_with_an_extension_is_rejected_only_naming_a_field(event: dict[str, object]) -> None:
    event["extension"] = "1001"
    try:
        parse_request(json.dumps(event).encode(), "pbx", now=NOW, max_future=5.0)
    except CtiParseError as exc:
        assert exc.index == 0 and exc.field, str(exc)
