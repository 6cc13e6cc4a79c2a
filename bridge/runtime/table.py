"""The per-person table (demo, dry run, ``presence-bridge status``) as plain text."""

from __future__ import annotations

from collections.abc import Sequence

HEADINGS = {
    "person": "person",
    "pbx": "PBX",
    "desired": "we ask Teams for",
    "sent": "sent (our session)",
    "teams": "Teams shows",
    "why": "why",
    "state": "state",
}
DEMO_COLUMNS = ("person", "pbx", "desired", "teams", "why")
STATUS_COLUMNS = ("person", "pbx", "desired", "sent", "teams", "why", "state")


def render(rows: Sequence[dict[str, str]], title: str, columns: Sequence[str] = DEMO_COLUMNS) -> str:
    widths = {c: max(len(HEADINGS[c]), *(len(r.get(c, "")) for r in rows)) for c in columns}
    lines = [title, ""]
    lines.append("  ".join(HEADINGS[c].ljust(widths[c]) for c in columns).rstrip())
    lines.append("  ".join("-" * widths[c] for c in columns))
    lines += ["  ".join(r.get(c, "").ljust(widths[c]) for c in columns).rstrip() for r in rows]
    return "\n".join(lines)
