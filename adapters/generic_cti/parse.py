"""The generic CTI event format: wire bytes in, canonical ``StateChange`` values out.

Pure: no I/O, no clock, no asyncio. One request (an HTTP body or one TCP line) is a single
event object or an array of them; any error rejects the whole request with the index of the
event and the field at fault, so nothing of a bad request is applied.

An event (docs/cti.md)::

    {"extension": "1001", "context": "", "device": "", "line": "in_call", "dnd": false,
     "away": false, "agent": {"logged_in": true, "paused": false, "reason": null, "wrapup": false},
     "call_kind": "personal", "at": "2026-11-28T10:00:00Z"}

Only ``extension`` is required; an absent (or null) field means "unchanged".

A snapshot (the PBX's full state, asked for after a TCP login and sent by an HTTP PBX when it
starts or lost contact) is an envelope around events::

    {"snapshot": true, "events": [{"extension": "1001", "line": "in_call"}], "at": "..."}

Each listed event is that endpoint's whole state: an absent field is its resting value (idle, DND
and away off, no agent, personal), not "unchanged". Endpoints not listed are at rest too (the core
resets them: ``bridge.model.Snapshot`` with ``partial=False``).

Time from the PBX is bounded: an ``at`` that cannot be represented, or more than ``max_future``
seconds ahead of ``now``, rejects the request (``CtiTimeError``, field ``at``). An accepted ``at``
in the future would make every later event of that endpoint "stale" until the clock catches up,
so the tolerance is also the longest an endpoint can be frozen by a PBX clock running ahead.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bridge.errors import BridgeError
from bridge.model import AgentState, CallKind, EndpointKey, LineState, StateChange, Toggle

MAX_NAME_LENGTH = 128  # extension, context, device
MAX_REASON_LENGTH = 256
DEFAULT_MAX_FUTURE = 5.0  # seconds an ``at`` may be ahead of our clock (docs/cti.md says why)


class CtiParseError(BridgeError):
    """A rejected request. ``index`` is the event's position (0 for a lone object, None when the
    body as a whole is wrong); ``field`` is the dotted key path at fault (None for the body)."""

    def __init__(self, index: int | None, field: str | None, message: str) -> None:
        self.index = index
        self.field = field
        self.message = message
        where = []
        if index is not None:
            where.append(f"event {index}")
        if field is not None:
            where.append(f"field {field!r}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class CtiJsonError(CtiParseError):
    """The body is not JSON (or not UTF-8): nothing could be read from it."""


class CtiTimeError(CtiParseError):
    """An ``at`` outside what we accept: unrepresentable, or too far in the future."""


# --- The one table of string vocabularies ---------------------------------------------
# Each wire field with a closed vocabulary maps its accepted spellings to canonical values.
# Strings are matched case-insensitively; JSON booleans are accepted for the toggles.

_TOGGLE_WORDS: dict[str | bool, Toggle] = {
    True: Toggle.ON,
    False: Toggle.OFF,
    "on": Toggle.ON,
    "off": Toggle.OFF,
    "unknown": Toggle.UNKNOWN,
}

CTI_VOCABULARY: dict[str, dict[str | bool, Any]] = {
    "line": {s.value: s for s in LineState},
    "dnd": _TOGGLE_WORDS,
    "away": _TOGGLE_WORDS,
    "call_kind": {k.value: k for k in CallKind},
}


def _vocabulary(field: str) -> Callable[[int, str, object], object]:
    table = CTI_VOCABULARY[field]
    spellings = ", ".join(json.dumps(k) for k in table)

    def decode(index: int, path: str, value: object) -> object:
        key: object = value.lower() if isinstance(value, str) else value
        # bool is checked by identity so that 1/0 never pass as true/false
        if isinstance(key, bool) or isinstance(key, str):
            if key in table:
                return table[key]
        raise CtiParseError(index, path, f"unknown value {_show(value)}; expected one of {spellings}")

    return decode


# --- Field decoders -------------------------------------------------------------------


def _show(value: object) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _name(index: int, path: str, value: object, *, required: bool = False) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value)  # a PBX script may send 1001 as a number
    if not isinstance(value, str):
        raise CtiParseError(index, path, f"must be a string, got {_show(value)}")
    text = value.strip()
    if required and not text:
        raise CtiParseError(index, path, "must not be empty")
    if len(text) > MAX_NAME_LENGTH:
        raise CtiParseError(index, path, f"longer than {MAX_NAME_LENGTH} characters")
    if not text.isprintable():
        raise CtiParseError(index, path, "contains control characters")
    return text


def _bool(index: int, path: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise CtiParseError(index, path, f"must be true or false, got {_show(value)}")
    return value


def _at(index: int, path: str, value: object) -> datetime:
    if not isinstance(value, str):
        raise CtiParseError(index, path, f"must be an ISO-8601 string, got {_show(value)}")
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        raise CtiParseError(
            index, path, f'not an ISO-8601 time: {_show(value)} (e.g. "2026-11-28T10:00:00Z")'
        ) from None
    if stamp.tzinfo is None or stamp.utcoffset() is None:
        raise CtiParseError(index, path, f"needs a time zone (Z or +hh:mm): {_show(value)}")
    try:
        return stamp.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-01:00 is past datetime.max in UTC
        raise CtiTimeError(index, path, f"outside the representable time range: {_show(value)}") from None


def check_time(index: int | None, path: str, at: datetime, now: datetime, max_future: float) -> None:
    """Raise CtiTimeError when ``at`` is more than ``max_future`` seconds ahead of ``now``."""
    ahead = (at - now).total_seconds()
    if ahead > max_future:
        raise CtiTimeError(
            index,
            path,
            f"{ahead:.0f} s in the future (at most {max_future:g} s accepted; is the PBX clock right?)",
        )


def _agent(index: int, path: str, value: object) -> AgentState:
    if not isinstance(value, dict):
        raise CtiParseError(index, path, f"must be an object, got {_show(value)}")
    _reject_unknown(index, value, AGENT_FIELDS, prefix=f"{path}.")
    reason = value.get("reason")
    if reason is not None:
        if not isinstance(reason, str):
            raise CtiParseError(index, f"{path}.reason", f"must be a string or null, got {_show(reason)}")
        if len(reason) > MAX_REASON_LENGTH:
            raise CtiParseError(index, f"{path}.reason", f"longer than {MAX_REASON_LENGTH} characters")
        if not reason.isprintable():  # rejected, not stripped: the request is all-or-nothing
            raise CtiParseError(index, f"{path}.reason", "contains control characters")
    flags = {
        key: _bool(index, f"{path}.{key}", value[key])
        for key in ("logged_in", "paused", "wrapup")
        if value.get(key) is not None
    }
    return AgentState(reason=reason, **flags)


AGENT_FIELDS = frozenset({"logged_in", "paused", "reason", "wrapup"})

# Wire key -> (StateChange attribute, decoder). Identity keys are handled apart.
STATE_FIELDS: dict[str, Callable[[int, str, object], object]] = {
    "line": _vocabulary("line"),
    "dnd": _vocabulary("dnd"),
    "away": _vocabulary("away"),
    "call_kind": _vocabulary("call_kind"),
    "agent": _agent,
    "at": _at,
}
IDENTITY_FIELDS = ("extension", "context", "device")
EVENT_FIELDS = frozenset(IDENTITY_FIELDS) | frozenset(STATE_FIELDS)
assert set(CTI_VOCABULARY) <= set(STATE_FIELDS), "every vocabulary needs a field"


def _reject_unknown(index: int, obj: dict[str, object], allowed: frozenset[str], prefix: str = "") -> None:
    for key in obj:
        if key not in allowed:
            raise CtiParseError(
                index, f"{prefix}{key}", f"unknown key; allowed: {', '.join(sorted(allowed))}"
            )


# --- Requests -------------------------------------------------------------------------


def parse_event(
    obj: object,
    index: int,
    adapter: str,
    *,
    now: datetime | None = None,
    max_future: float = DEFAULT_MAX_FUTURE,
) -> StateChange:
    """One decoded JSON value -> one partial update (raises CtiParseError).

    With ``now``, an ``at`` more than ``max_future`` seconds ahead of it is refused."""
    if not isinstance(obj, dict):
        raise CtiParseError(index, None, f"an event must be a JSON object, got {_show(obj)}")
    _reject_unknown(index, obj, EVENT_FIELDS)
    if obj.get("extension") is None:
        raise CtiParseError(index, "extension", "required")
    key = EndpointKey(
        adapter=adapter,
        extension=_name(index, "extension", obj["extension"], required=True),
        context=_name(index, "context", obj["context"]) if obj.get("context") is not None else "",
        device=_name(index, "device", obj["device"]) if obj.get("device") is not None else "",
    )
    values = {
        name: decode(index, name, obj[name])
        for name, decode in STATE_FIELDS.items()
        if obj.get(name) is not None
    }
    at = values.get("at")
    if now is not None and isinstance(at, datetime):
        check_time(index, "at", at, now, max_future)
    return StateChange(endpoint=key, **values)  # type: ignore[arg-type]


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """json.loads hook: a key given twice is an error, not a silent last-wins."""
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _no_constants(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def decode_json(body: bytes) -> object:
    """Bytes -> JSON value; raises CtiJsonError with a short reason."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CtiJsonError(None, None, f"not UTF-8 (byte {exc.start})") from None
    if not text.strip():
        raise CtiJsonError(None, None, "empty body: expected a JSON event or an array of events")
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise CtiJsonError(None, None, f"invalid JSON: {exc.msg} at {where}") from None
    except ValueError as exc:
        raise CtiJsonError(None, None, f"invalid JSON: {exc}") from None
    except RecursionError:
        raise CtiJsonError(None, None, "invalid JSON: nested too deeply") from None


@dataclass(frozen=True, slots=True)
class CtiRequest:
    """One parsed request: its updates, and whether it is a snapshot (the PBX's full state)."""

    changes: tuple[StateChange, ...]
    snapshot: bool = False
    at: datetime | None = None


SNAPSHOT_FIELDS = frozenset({"snapshot", "events", "at"})


def _at_rest(change: StateChange) -> StateChange:
    """A snapshot's event: every field it leaves out is at rest (the endpoint's whole state)."""
    return StateChange(
        endpoint=change.endpoint,
        line=LineState.IDLE if change.line is None else change.line,
        dnd=Toggle.OFF if change.dnd is None else change.dnd,
        away=Toggle.OFF if change.away is None else change.away,
        agent=AgentState() if change.agent is None else change.agent,
        call_kind=CallKind.PERSONAL if change.call_kind is None else change.call_kind,
        at=change.at,
    )


def _snapshot(value: dict[str, object], adapter: str, now: datetime | None, max_future: float) -> CtiRequest:
    for key in value:
        if key not in SNAPSHOT_FIELDS:
            raise CtiParseError(None, key, f"unknown key; allowed: {', '.join(sorted(SNAPSHOT_FIELDS))}")
    if value["snapshot"] is not True:
        raise CtiParseError(None, "snapshot", f"must be true, got {_show(value['snapshot'])}")
    events = value.get("events", [])
    if not isinstance(events, list):
        raise CtiParseError(None, "events", f"must be an array of events, got {_show(events)}")
    at: datetime | None = None
    if value.get("at") is not None:
        at = _at(None, "at", value["at"])  # type: ignore[arg-type]
        if now is not None:
            check_time(None, "at", at, now, max_future)
    events_of = [
        parse_event(item, i, adapter, now=now, max_future=max_future) for i, item in enumerate(events)
    ]
    return CtiRequest(tuple(_at_rest(change) for change in events_of), snapshot=True, at=at)


def parse_request(
    body: bytes, adapter: str, *, now: datetime | None = None, max_future: float = DEFAULT_MAX_FUTURE
) -> CtiRequest:
    """A request body (one event, an array, or a snapshot envelope) -> its updates, all or nothing."""
    value = decode_json(body)
    if isinstance(value, list):
        return CtiRequest(
            tuple(
                parse_event(item, i, adapter, now=now, max_future=max_future) for i, item in enumerate(value)
            )
        )
    if isinstance(value, dict):
        if "snapshot" in value:
            return _snapshot(value, adapter, now, max_future)
        return CtiRequest((parse_event(value, 0, adapter, now=now, max_future=max_future),))
    raise CtiParseError(None, None, f"expected a JSON object or an array of objects, got {_show(value)}")


def parse_events(body: bytes, adapter: str) -> list[StateChange]:
    """A request body -> its updates, all or nothing (a snapshot's events included)."""
    return list(parse_request(body, adapter).changes)
