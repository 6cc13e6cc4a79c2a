"""A person's lamp and filter flags on the status page, one case per line state (issue 14).

Expected values come from what a BLF key on a desk phone shows (green idle, red in use, fast
flash ringing, slow flash on hold, dark unregistered) and DESIGN section 5's precedence (DND
over call states), written out here, not read from ``LINE_TO_LAMP``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bridge.model import LineState
from bridge.runtime.page_rows import changed, page_row

STATUS = {"person": "Alice", "pbx": "", "desired": "", "sent": "", "teams": "-", "why": "", "state": ""}

# (line, PBX DND on, lamp, flags)
CASES = [
    (None, False, "off", []),
    (LineState.IDLE, False, "idle", []),
    (LineState.RINGING, False, "ringing", ["call"]),
    (LineState.DIALING, False, "busy", ["call"]),
    (LineState.IN_CALL, False, "busy", ["call"]),
    (LineState.ON_HOLD, False, "hold", ["call"]),
    (LineState.IN_CONFERENCE, False, "busy", ["call"]),
    (LineState.BUSY, False, "busy", ["call"]),
    (LineState.UNAVAILABLE, False, "off", []),
    (LineState.UNKNOWN, False, "unknown", ["problem"]),
    (LineState.IDLE, True, "dnd", ["dnd"]),
    (LineState.IN_CALL, True, "dnd", ["call", "dnd"]),
]


@pytest.mark.parametrize(("line", "dnd", "lamp", "flags"), CASES, ids=[f"{c[0]}-dnd{c[1]}" for c in CASES])
def test_lamp_and_flags(line: LineState | None, dnd: bool, lamp: str, flags: list[str]) -> None:
    row = page_row(STATUS, line=line, dnd=dnd, extensions=["1001"], since=None)
    assert (row["lamp"], row["flags"]) == (lamp, flags)


def test_every_line_state_has_a_case() -> None:
    assert {c[0] for c in CASES} >= set(LineState)


@pytest.mark.parametrize(
    ("teams", "state", "flags"),
    [
        ("DoNotDisturb/Presenting", "", ["dnd"]),  # Teams DND shows under the DND filter too
        ("-", "pending", []),  # waiting for Graph is not a problem
        ("-", "quarantined: 404", ["problem"]),  # a failure is
    ],
)
def test_teams_dnd_and_failures_reach_the_filters(teams: str, state: str, flags: list[str]) -> None:
    row = page_row(
        {**STATUS, "teams": teams, "state": state}, line=LineState.IDLE, dnd=False, extensions=[], since=None
    )
    assert row["flags"] == flags


def test_extensions_and_since_are_shown() -> None:
    at = datetime(2026, 12, 7, 9, 30, 5, tzinfo=UTC)
    row = page_row(STATUS, line=LineState.IDLE, dnd=False, extensions=["1001", "2001"], since=at)
    assert row["ext"] == "1001, 2001"
    assert row["since"] == "2026-12-07T09:30:05+00:00"


def test_changed_names_rows_or_asks_for_the_whole_table() -> None:
    assert changed([1, 2, 3], [1, 5, 3]) == [1]
    assert changed([1, 2], [1, 2]) == []
    assert changed([1, 2], [1, 2, 3]) is None
