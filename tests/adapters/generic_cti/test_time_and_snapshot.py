"""Time from the PBX is bounded, and the PBX can send its full state (docs/cti.md, "Time" and
"Snapshots"): what a PBX integrator sees on the wire, over real loopback HTTP and TCP.

The fake clock starts at 2026-11-28T10:00:00Z (``FakeClock``'s default); the tolerance is the
documented default of 5 s unless a test configures another.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from adapters.generic_cti.parse import CtiTimeError, parse_request
from bridge.model import AgentState, CallKind, LineState, Snapshot, StateChange, Toggle
from tests.adapters.generic_cti.conftest import Running
from tests.adapters.generic_cti.harness import key, post, tcp_login

NOW = "2026-11-28T10:00:00Z"

# (at as sent, accepted?) with the clock at NOW and a 5 s tolerance (the documented default)
TIME_ROWS = [
    ("2026-11-28T10:00:00Z", True),  # now
    ("2026-11-28T10:00:05Z", True),  # exactly the tolerance ahead
    ("2026-11-28T10:00:06Z", False),  # past it
    ("2026-11-28T11:00:00+01:00", True),  # now, in another zone
    ("2099-01-01T00:00:00Z", False),  # the frozen endpoint
    ("9999-12-31T23:59:59-01:00", False),  # past datetime.max once in UTC (was an OverflowError)
    ("0001-01-01T00:00:00+01:00", False),  # before datetime.min in UTC
    ("2020-01-01T00:00:00Z", True),  # the past is the core's business (stale), not refused
]


@pytest.mark.parametrize(("at", "accepted"), TIME_ROWS, ids=[row[0] for row in TIME_ROWS])
async def test_http_at_out_of_bounds_is_400_naming_the_field_and_counted(
    cti: Running, at: str, accepted: bool
) -> None:
    response = await post(cti.adapter, {"extension": "1001", "line": "in_call", "at": at})
    if accepted:
        assert response.status_code == 202
        return
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "at" and body["index"] == 0 and body["kind"] == "time"
    assert cti.adapter.counters["rejected_time"] == 1
    await cti.clock.settle()
    assert cti.events.canonical == []  # never reaches the core, never stored


async def test_tcp_future_and_overflowing_at_are_answered_and_the_connection_survives(cti: Running) -> None:
    client = await tcp_login(cti.adapter)
    for at in ("2099-01-01T00:00:00Z", "9999-12-31T23:59:59-01:00"):
        ack = await client.send(json.dumps({"extension": "1001", "line": "in_call", "at": at}).encode())
        assert ack is not None and ack["ok"] is False and ack["field"] == "at"
    ack = await client.send(b'{"extension": "1001", "line": "in_call"}')
    assert ack == {"ok": True, "accepted": 1, "ignored": []}
    await cti.events.wait(lambda: len(cti.events.canonical) == 1, "the good event")
    assert cti.adapter.counters["rejected_time"] == 2
    await client.close()


async def test_tolerance_is_configurable(start_cti: Callable[..., object]) -> None:
    cti: Running = await start_cti(max_future_seconds=60)  # type: ignore[assignment]
    ok = await post(cti.adapter, {"extension": "1001", "at": "2026-11-28T10:00:59Z"})
    late = await post(cti.adapter, {"extension": "1001", "at": "2026-11-28T10:01:01Z"})
    assert (ok.status_code, late.status_code) == (202, 400)


def test_parse_without_a_clock_still_refuses_the_unrepresentable() -> None:
    with pytest.raises(CtiTimeError):
        parse_request(b'{"extension": "1", "at": "9999-12-31T23:59:59-01:00"}', "pbx")


async def test_tcp_login_asks_for_a_snapshot(cti: Running) -> None:
    client = await tcp_login(cti.adapter)  # asserts the documented ack, request included
    await client.close()


async def test_snapshot_over_tcp_is_one_snapshot_with_every_field_at_rest_unless_given(cti: Running) -> None:
    client = await tcp_login(cti.adapter)
    line = {
        "snapshot": True,
        "at": NOW,
        "events": [{"extension": "1001", "line": "in_call"}, {"extension": "1002", "dnd": True}],
    }
    ack = await client.send(json.dumps(line).encode())
    assert ack == {"ok": True, "accepted": 2, "ignored": []}
    await cti.events.wait(lambda: len(cti.events.canonical) == 1, "the snapshot")
    [snap] = cti.events.canonical
    assert isinstance(snap, Snapshot) and not snap.partial and snap.adapter == cti.adapter.name
    rest = {"agent": AgentState(), "call_kind": CallKind.PERSONAL}
    assert snap.changes == (
        StateChange(key("1001"), line=LineState.IN_CALL, dnd=Toggle.OFF, away=Toggle.OFF, **rest),  # type: ignore[arg-type]
        StateChange(key("1002"), line=LineState.IDLE, dnd=Toggle.ON, away=Toggle.OFF, **rest),  # type: ignore[arg-type]
    )
    assert cti.adapter.counters["snapshots"] == 1
    await client.close()


async def test_empty_snapshot_over_http_is_accepted(cti: Running) -> None:
    response = await post(cti.adapter, {"snapshot": True, "events": []})
    assert response.status_code == 202 and response.json() == {"accepted": 0, "ignored": []}
    await cti.events.wait(lambda: len(cti.events.canonical) == 1, "the snapshot")
    assert cti.events.canonical == [Snapshot(cti.adapter.name, (), partial=False)]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"snapshot": False, "events": []}, "snapshot"),
        ({"snapshot": True, "events": {}}, "events"),
        ({"snapshot": True, "events": [], "extension": "1001"}, "extension"),
        ({"snapshot": True, "events": [], "at": "2099-01-01T00:00:00Z"}, "at"),
    ],
    ids=["snapshot-false", "events-not-array", "event-key-on-envelope", "future-at"],
)
async def test_bad_snapshot_envelope_is_400_naming_the_field(cti: Running, body: object, field: str) -> None:
    response = await post(cti.adapter, body)
    assert response.status_code == 400 and response.json()["field"] == field
    await cti.clock.settle()
    assert cti.events.canonical == []


async def test_bad_event_inside_a_snapshot_rejects_all_of_it(cti: Running) -> None:
    body = {"snapshot": True, "events": [{"extension": "1001"}, {"extension": "1002", "line": "talking"}]}
    response = await post(cti.adapter, body)
    assert response.status_code == 400
    assert (response.json()["index"], response.json()["field"]) == (1, "line")
    await cti.clock.settle()
    assert cti.events.canonical == []
