"""The per-person table (demo, dry run, ``presence-bridge status``) as plain text, and the one-line
account of an adapter event that the dry run's header shows ("last PBX event: ...")."""

from __future__ import annotations

from collections.abc import Sequence

from adapters.base import AdapterEvent, HealthChange
from bridge.model import AgentState, Snapshot
from bridge.policy import describe

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
NO_EVENT = "-"


def render(rows: Sequence[dict[str, str]], title: str, columns: Sequence[str] = DEMO_COLUMNS) -> str:
    widths = {c: max(len(HEADINGS[c]), *(len(r.get(c, "")) for r in rows)) for c in columns}
    lines = [title, ""]
    lines.append("  ".join(HEADINGS[c].ljust(widths[c]) for c in columns).rstrip())
    lines.append("  ".join("-" * widths[c] for c in columns))
    lines += ["  ".join(r.get(c, "").ljust(widths[c]) for c in columns).rstrip() for r in rows]
    return "\n".join(lines)


def _agent(agent: AgentState) -> str:
    if not agent.logged_in:
        return "logged_out"
    if agent.paused:
        return f"paused:{agent.reason}" if agent.reason else "paused"
    return "wrapup" if agent.wrapup else "available"


def event_text(event: AdapterEvent | None) -> str:
    """``pbx/1001 line=in_call dnd=on``, ``snapshot from pbx (3 endpoints)``, ``pbx CONNECTED:
    logged in``; ``-`` before any event. Only the fields the event carries (the rest are unchanged)."""
    if event is None:
        return NO_EVENT
    if isinstance(event, HealthChange):
        return f"{event.adapter} {event.health.value}" + (f": {event.detail}" if event.detail else "")
    if isinstance(event, Snapshot):
        partial = "partial " if event.partial else ""
        return f"{partial}snapshot from {event.adapter} ({len(event.changes)} endpoints)"
    fields = [
        f"{name}={value}"
        for name, value in (("line", event.line), ("dnd", event.dnd), ("away", event.away))
        if value is not None
    ]
    if event.agent is not None:
        fields.append(f"agent={_agent(event.agent)}")
    text = " ".join([describe(event.endpoint), *fields])
    return text + " (our own write)" if event.echo else text
