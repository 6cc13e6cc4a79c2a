"""The pure ownership rules (adapters/asterisk_ami/ownership.py) against DESIGN 13 and reference 4.1.

Expected values come from the documented FreePBX conventions, not from the module's tables:
FreePBX DND is on while ``DND/<ext>`` holds a value or its device is ``BUSY``; ``UNAVAILABLE``,
``NOT_INUSE`` or an unset device (``UNKNOWN``) are off. Our Teams lamp is clear at ``NOT_INUSE``
(what we write for "none") or ``UNKNOWN`` (never set).
"""

from __future__ import annotations

import pytest

from adapters.asterisk_ami.ownership import mark_owned_dnd, read_back_probes, still_set
from bridge.model import EndpointKey, LineState, RoutableState, Snapshot, StateChange, Toggle, WriteBack

DND_WRITE = WriteBack("1002", pbx_dnd=True)
TEAMS_WRITE = WriteBack("1002", routable=RoutableState.CALL)

# (what is read, the value read, still set?)
READS = [
    ("DND/1002", "YES", True),
    ("DND/1002", "", False),  # the key is gone
    ("DND/1002", "  ", False),  # FreePBX treats a blank value as off
    ("Custom:DND1002", "BUSY", True),
    ("Custom:DND1002", "UNAVAILABLE", False),
    ("Custom:DND1002", "NOT_INUSE", False),
    ("Custom:DND1002", "UNKNOWN", False),
    ("Custom:DEVDND1102", "BUSY", True),
    ("Custom:DEVDND1102", "UNAVAILABLE", False),
    ("TEAMS/1002", "call", True),
    ("TEAMS/1002", "", False),
    ("Custom:TEAMS1002", "INUSE", True),
    ("Custom:TEAMS1002", "BUSY", True),
    ("Custom:TEAMS1002", "UNAVAILABLE", True),  # our out-of-office lamp
    ("Custom:TEAMS1002", "NOT_INUSE", False),
    ("Custom:TEAMS1002", "UNKNOWN", False),
]


@pytest.mark.parametrize(("what", "value", "expected"), READS, ids=[f"{w}={v!r}" for w, v, _ in READS])
def test_what_a_read_back_value_means(what: str, value: str, expected: bool) -> None:
    probes = read_back_probes(DND_WRITE, "TEAMS", ["1002", "1102"]) + read_back_probes(
        TEAMS_WRITE, "TEAMS", []
    )
    probe = next(p for p in probes if p.what == what)
    assert still_set(probe, value) is expected


def test_every_value_a_write_sets_is_read_back() -> None:
    assert [p.what for p in read_back_probes(DND_WRITE, "TEAMS", ["1002", "1102"])] == [
        "DND/1002",
        "Custom:DND1002",
        "Custom:DEVDND1002",
        "Custom:DEVDND1102",
    ]
    assert [p.what for p in read_back_probes(TEAMS_WRITE, "TEAMS", [])] == ["TEAMS/1002", "Custom:TEAMS1002"]
    assert read_back_probes(WriteBack("1002", routable=RoutableState.NONE), "TEAMS", []) == []


def test_a_resync_reports_our_dnd_as_echo_and_keeps_the_line_news_apart() -> None:
    bob, alice = EndpointKey("pbx", "1002"), EndpointKey("pbx", "1001")
    snap = Snapshot(
        "pbx",
        (
            StateChange(bob, line=LineState.IDLE, dnd=Toggle.ON),
            StateChange(alice, dnd=Toggle.ON),  # Alice's own
        ),
    )
    marked, found_off = mark_owned_dnd(snap, {"1002"}.__contains__)
    assert marked.changes == (
        StateChange(bob, line=LineState.IDLE),
        StateChange(bob, dnd=Toggle.ON, echo=True),
        StateChange(alice, dnd=Toggle.ON),
    )
    assert found_off == []
    _, found_off = mark_owned_dnd(Snapshot("pbx", (StateChange(bob, dnd=Toggle.OFF),)), {"1002"}.__contains__)
    assert found_off == ["1002"]
