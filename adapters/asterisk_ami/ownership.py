"""PBX values of ours across restarts and ``release`` (issue 10). Pure: reads facts, builds actions.

* ``mark_owned_dnd``: a resync re-reports every FreePBX DND. One we set (the ledger, rebuilt from
  the state store before the first resync) is our echo, never the person's own DND, so it is never
  published to Teams; one we set that is now off was switched off by someone while we were away.
* ``read_back_probes`` / ``still_set``: what ``release`` reads to verify each value is gone. FreePBX
  DND is on while ``DND/<ext>`` holds a non-blank value or a ``Custom:DND``/``DEVDND`` device is
  ``BUSY`` (DESIGN 13, reference 4.1); a Teams state while ``TEAMS/<ext>`` exists or its lamp shows
  anything but ``NOT_INUSE``/``UNKNOWN``; a queue pause while a member is paused with our reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from adapters.asterisk_ami.parse import FREEPBX_DND_ON_VALUE, Fact, QueueMemberFact
from adapters.asterisk_ami.protocol import AmiReply
from adapters.asterisk_ami.writeback import (
    ROUTABLE_TO_DEVICE_STATE,
    TEAMS_PAUSE_PREFIX,
    AmiAction,
    check_extension,
)
from bridge.model import RoutableState, Snapshot, StateChange, Toggle, WriteBack

ABSENT = ""  # what a probe reads when the AstDB key does not exist
_NOT_FOUND = "Database entry not found"
# Lamp states that show nothing of ours: what we write for "none", and an unset custom device.
_LAMP_CLEAR = frozenset({ROUTABLE_TO_DEVICE_STATE[RoutableState.NONE], "UNKNOWN"})
_LAMP_SET = frozenset(ROUTABLE_TO_DEVICE_STATE.values()) - _LAMP_CLEAR
_DND_SET = frozenset({FREEPBX_DND_ON_VALUE})


def mark_owned_dnd(snapshot: Snapshot, owned: Callable[[str], bool]) -> tuple[Snapshot, list[str]]:
    """The snapshot with our own DND marked as echo, and the owned extensions now found off.

    A change that reports our DND beside other fields is split in two, so the line, away and agent
    parts still re-decide the person (the engine does not re-decide on an echo).
    """
    changes: list[StateChange] = []
    found_off: list[str] = []
    for change in snapshot.changes:
        key = change.endpoint
        if change.dnd is None or key.device or not owned(key.extension):
            changes.append(change)
        elif change.dnd is Toggle.ON:
            rest = replace(change, dnd=None)
            if rest.line is not None or rest.away is not None or rest.agent is not None:
                changes.append(rest)
            changes.append(StateChange(key, dnd=Toggle.ON, at=change.at, echo=True))
        else:
            changes.append(change)
            if change.dnd is Toggle.OFF:
                found_off.append(key.extension)
    return replace(snapshot, changes=tuple(changes)), found_off


@dataclass(frozen=True, slots=True)
class Probe:
    """One read that verifies a value is gone: ``what`` names it as an admin would look it up;
    ``set_values`` are the read values that mean "still set" (None: any non-blank value)."""

    what: str
    action: AmiAction
    set_values: frozenset[str] | None = None


def _db_get(family: str, ext: str) -> Probe:
    return Probe(f"{family}/{ext}", AmiAction("DBGet", (("Family", family), ("Key", ext))))


def _devstate(device: str, set_values: frozenset[str]) -> Probe:
    return Probe(device, AmiAction("Getvar", (("Variable", f"DEVICE_STATE({device})"),)), set_values)


def read_back_probes(command: WriteBack, teams_family: str, devices: Iterable[str]) -> list[Probe]:
    """The reads that show whether what ``command`` set is still on the PBX (queue pauses aside)."""
    ext = check_extension(command.extension)
    probes: list[Probe] = []
    if command.routable is not None and command.routable is not RoutableState.NONE:
        probes += [_db_get(teams_family, ext), _devstate(f"Custom:{teams_family}{ext}", _LAMP_SET)]
    if command.pbx_dnd:
        probes += [_db_get("DND", ext), _devstate(f"Custom:DND{ext}", _DND_SET)]
        probes += [_devstate(f"Custom:DEVDND{check_extension(d)}", _DND_SET) for d in devices]
    return probes


def probe_value(probe: Probe, reply: AmiReply) -> str | None:
    """What the probe read (ABSENT for a missing AstDB key); None when the PBX refused the read."""
    if probe.action.name == "DBGet":
        if reply.ok:
            return next((item.text("Val") for item in reply.items), ABSENT)
        return ABSENT if reply.message == _NOT_FOUND else None
    return reply.response.text("Value") if reply.ok else None


def still_set(probe: Probe, value: str) -> bool:
    if probe.set_values is None:
        return bool(value.strip())
    return value.strip().upper() in probe.set_values


def paused_by_us(facts: Iterable[Fact], interfaces: Iterable[str]) -> list[str]:
    """Queue memberships (a QueueStatus read) of ``interfaces`` still paused with our reason."""
    wanted = set(interfaces)
    return sorted(
        f"queue {m.queue} {m.interface} paused {m.reason!r}"
        for m in facts
        if isinstance(m, QueueMemberFact)
        and m.interface in wanted
        and m.paused
        and m.reason.startswith(TEAMS_PAUSE_PREFIX)
    )
