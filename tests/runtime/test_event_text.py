"""The dry run's header line for each kind of adapter event (``bridge.runtime.table.event_text``).

Expected texts are written out by hand from the header's documented shape: the endpoint as causes
name it (``adapter/extension[@context][#device]``), then only the fields the event carries.
"""

from __future__ import annotations

import pytest

from adapters.base import AdapterEvent, Health, HealthChange
from bridge.model import AgentState, EndpointKey, LineState, Snapshot, StateChange, Toggle
from bridge.runtime.table import event_text

DESK = EndpointKey("pbx", "1001", "ext-local", "PJSIP/1001")
EXT = EndpointKey("pbx", "1002")

ROWS: list[tuple[str, AdapterEvent | None, str]] = [
    ("nothing yet", None, "-"),
    ("a call", StateChange(EXT, line=LineState.IN_CALL), "pbx/1002 line=in_call"),
    (
        "a device with context",
        StateChange(DESK, line=LineState.RINGING),
        "pbx/1001@ext-local#PJSIP/1001 line=ringing",
    ),
    ("dnd and away", StateChange(EXT, dnd=Toggle.ON, away=Toggle.OFF), "pbx/1002 dnd=on away=off"),
    ("our own echo", StateChange(EXT, dnd=Toggle.ON, echo=True), "pbx/1002 dnd=on (our own write)"),
    (
        "an agent paused for lunch",
        StateChange(EXT, agent=AgentState(logged_in=True, paused=True, reason="lunch")),
        "pbx/1002 agent=paused:lunch",
    ),
    ("an agent logged out", StateChange(EXT, agent=AgentState()), "pbx/1002 agent=logged_out"),
    (
        "a snapshot",
        Snapshot("pbx", (StateChange(EXT, line=LineState.IDLE), StateChange(DESK))),
        "snapshot from pbx (2 endpoints)",
    ),
    ("a partial snapshot", Snapshot("pbx", (), partial=True), "partial snapshot from pbx (0 endpoints)"),
    (
        "the PBX went away",
        HealthChange("pbx", Health.TRANSIENT_DISCONNECT, "connection refused"),
        "pbx TRANSIENT_DISCONNECT: connection refused",
    ),
    ("connected, no detail", HealthChange("pbx", Health.CONNECTED), "pbx CONNECTED"),
]


@pytest.mark.parametrize(("event", "text"), [row[1:] for row in ROWS], ids=[row[0] for row in ROWS])
def test_event_text(event: AdapterEvent | None, text: str) -> None:
    assert event_text(event) == text
