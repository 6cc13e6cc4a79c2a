"""One person's row on the status page, and what changed between two tables: pure.

The page shows the ``/status`` row (``bridge.runtime.status``) plus the person's extensions, since
when the PBX state holds, a BLF lamp and the filter flags. Lamps follow what a BLF key shows on a
desk phone: green idle, red in use, red flashing while ringing, slow flashing on hold, dark when
unregistered or before any event; DND (amber) wins over the line, as it does in the core's
precedence (DESIGN section 5). Nothing here names a caller: the row is built from states only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from bridge.model import LineState

LINE_TO_LAMP: Mapping[LineState, str] = {
    LineState.IDLE: "idle",
    LineState.RINGING: "ringing",
    LineState.DIALING: "busy",
    LineState.IN_CALL: "busy",
    LineState.ON_HOLD: "hold",
    LineState.IN_CONFERENCE: "busy",
    LineState.BUSY: "busy",
    LineState.UNAVAILABLE: "off",
    LineState.UNKNOWN: "unknown",
}
assert set(LINE_TO_LAMP) == set(LineState), "every line state has a lamp"
NO_EVENT_LAMP = "off"
DND_LAMP = "dnd"
IN_A_CALL = frozenset(
    {
        LineState.RINGING,
        LineState.DIALING,
        LineState.IN_CALL,
        LineState.ON_HOLD,
        LineState.IN_CONFERENCE,
        LineState.BUSY,
    }
)
PROBLEM_FREE_STATES = frozenset({"", "pending"})  # the row's ``state``; anything else is a failure


def page_row(
    row: Mapping[str, str],
    *,
    line: LineState | None,
    dnd: bool,
    extensions: Sequence[str],
    since: datetime | None,
) -> dict[str, object]:
    """``row``: the person's ``/status`` row; ``line`` None before any PBX event."""
    lamp = DND_LAMP if dnd else (NO_EVENT_LAMP if line is None else LINE_TO_LAMP[line])
    flags = []
    if line in IN_A_CALL:
        flags.append("call")
    if dnd or row.get("teams", "").startswith("DoNotDisturb"):
        flags.append("dnd")
    if row.get("state", "") not in PROBLEM_FREE_STATES or line is LineState.UNKNOWN:
        flags.append("problem")
    return {
        **row,
        "ext": ", ".join(extensions),
        "since": since.isoformat(timespec="seconds") if since is not None else "",
        "lamp": lamp,
        "flags": flags,
    }


def changed(before: Sequence[object], after: Sequence[object]) -> list[int] | None:
    """Indexes of rows that differ, or None when the table's shape changed (send it whole)."""
    if len(before) != len(after):
        return None
    return [i for i, (old, new) in enumerate(zip(before, after, strict=True)) if old != new]


def latest(times: Iterable[datetime | None]) -> datetime | None:
    known = [t for t in times if t is not None]
    return max(known) if known else None
