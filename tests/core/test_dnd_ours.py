"""Who owns a PBX DND (``EndpointState.dnd_ours``) through merges, in the reference and the fast path.

The rule (bridge/policy.py ``merge``, loop rules in README): a DND the bridge set from Teams is never
published back to Teams. The expected owner in each row is what a person would say happened: a
resync that re-reports DND with a new line or timestamp is no one's action, so it changes no owner.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from bridge.model import EndpointKey, EndpointState, LineState, StateChange, Toggle
from bridge.policy import merge
from bridge.policy_fast import fast_merge

DESK = EndpointKey("pbx", "1002")
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
T1 = datetime(2026, 12, 1, 9, 5, tzinfo=UTC)
OURS_ON = EndpointState(line=LineState.IN_CALL, dnd=Toggle.ON, observed_at=T0, line_since=1.0, dnd_ours=True)
THEIRS_ON = OURS_ON._replace(dnd_ours=False)
UNKNOWN = OURS_ON._replace(dnd=Toggle.UNKNOWN, dnd_ours=False)
IDLE_ON = StateChange(DESK, line=LineState.IDLE, dnd=Toggle.ON)  # what a resync says

# (id, state before, change, owner after: True = ours, never shown in Teams)
ROWS = [
    ("resync re-reports our DND with a new line", OURS_ON, IDLE_ON, True),
    ("resync re-reports our DND with a new time", OURS_ON, StateChange(DESK, dnd=Toggle.ON, at=T1), True),
    ("resync re-reports their DND", THEIRS_ON, IDLE_ON, False),
    ("restored ownership makes a re-report ours", THEIRS_ON, replace(IDLE_ON, echo=True), True),
    ("after a blind spell our echo is ours", UNKNOWN, StateChange(DESK, dnd=Toggle.ON, echo=True), True),
    ("after a blind spell a plain DND is theirs", UNKNOWN, StateChange(DESK, dnd=Toggle.ON), False),
    ("a line change alone keeps the owner", OURS_ON, StateChange(DESK, line=LineState.IDLE), True),
    ("they switch it off", OURS_ON, StateChange(DESK, dnd=Toggle.OFF, at=T1), False),
]


@pytest.mark.parametrize(("before", "change", "ours"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_dnd_owner_after_a_merge(before: EndpointState, change: StateChange, ours: bool) -> None:
    reference = merge(before, change, 5.0)
    fast = fast_merge(before, change, 5.0)
    assert reference is not None and reference.dnd_ours is ours
    assert fast == reference
