"""One person's status row (bridge/runtime/status.py) against README's legend ("Operating it")."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bridge.model import EndpointState, LineState, Toggle
from bridge.policy import Decision
from bridge.presence import AVAILABLE, IN_A_CALL, Pair, TeamsIntent
from bridge.runtime.status import status_row

DND_PAIR = Pair("DoNotDisturb", "DoNotDisturb")


@dataclass(frozen=True)
class Published:
    desired: TeamsIntent | None = None
    sent_session: Pair | None = None
    sent_preferred: Pair | None = None
    pending: bool = False
    failed: str | None = None


def decided(line: LineState, cause: str, session: Pair | None = None) -> Decision:
    return Decision(TeamsIntent(session=session), None, line, cause)


IDLE = EndpointState(line=LineState.IDLE, dnd=Toggle.OFF)
CALLING = EndpointState(line=LineState.IN_CALL, dnd=Toggle.OFF)
CALLING_DND = EndpointState(line=LineState.IN_CALL, dnd=Toggle.ON)
IN_CALL = decided(LineState.IN_CALL, "in_call on pbx/1001", IN_A_CALL)
NO_EVENT = decided(LineState.UNKNOWN, "unknown")

# (id, row inputs, expected columns: pbx, desired, sent, teams, why, state)
ROWS = [
    (
        "before any PBX event",
        dict(decision=NO_EVENT, states=[], published=Published(TeamsIntent())),
        ("-", "(clear)", "(none)", "-", "no PBX event yet", ""),
    ),
    (
        "in a call, written",
        dict(decision=IN_CALL, states=[CALLING], published=Published(TeamsIntent(IN_A_CALL), IN_A_CALL)),
        ("in_call", "Busy/InACall", "Busy/InACall", "-", "in_call on pbx/1001", ""),
    ),
    (
        "in a call, waiting for its write",
        dict(decision=IN_CALL, states=[CALLING], published=Published(TeamsIntent(IN_A_CALL), pending=True)),
        ("in_call", "Busy/InACall", "(none)", "-", "in_call on pbx/1001", "pending"),
    ),
    (
        "PBX DND on one endpoint",
        dict(decision=IN_CALL, states=[IDLE, CALLING_DND], published=Published(TeamsIntent(IN_A_CALL))),
        ("in_call +dnd", "Busy/InACall", "(none)", "-", "in_call on pbx/1001", ""),
    ),
    (
        "a failed write",
        dict(
            decision=IN_CALL,
            states=[CALLING],
            published=Published(TeamsIntent(IN_A_CALL), failed="403 Forbidden"),
        ),
        ("in_call", "Busy/InACall", "(none)", "-", "in_call on pbx/1001", "403 Forbidden"),
    ),
    (
        "a preferred presence of ours",
        dict(
            decision=IN_CALL,
            states=[CALLING],
            published=Published(TeamsIntent(IN_A_CALL), IN_A_CALL, sent_preferred=DND_PAIR),
        ),
        (
            "in_call",
            "Busy/InACall",
            "Busy/InACall +pref DoNotDisturb/DoNotDisturb",
            "-",
            "in_call on pbx/1001",
            "",
        ),
    ),
    (
        "publish: false",
        dict(decision=IN_CALL, states=[CALLING], publish=False, published=None),
        ("in_call", "(publish off)", "-", "-", "in_call on pbx/1001", ""),
    ),
    (
        "UPN not resolved yet",
        dict(decision=IN_CALL, states=[CALLING], published=None),
        ("in_call", "-", "-", "-", "in_call on pbx/1001", ""),
    ),
    (
        "what Teams shows",
        dict(decision=NO_EVENT, states=[], published=Published(TeamsIntent()), shows=AVAILABLE),
        ("-", "(clear)", "(none)", "Available/Available", "no PBX event yet", ""),
    ),
    (
        "no decision yet",
        dict(decision=None, states=[], published=None),
        ("-", "-", "-", "-", "", ""),
    ),
]
COLUMNS = ("pbx", "desired", "sent", "teams", "why", "state")


@pytest.mark.parametrize(("given", "expected"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_status_row_columns(given: dict[str, object], expected: tuple[str, ...]) -> None:
    args: dict[str, object] = {"label": "Alice", "publish": True, "shows": None, **given}
    row = status_row(**args)  # type: ignore[arg-type]
    assert row["person"] == "Alice"
    assert tuple(row[c] for c in COLUMNS) == expected
