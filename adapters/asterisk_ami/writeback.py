"""Teams -> PBX write-back as AMI actions (DESIGN section 6). Pure: builds actions, sends nothing.

* Routable state: AstDB ``TEAMS/<ext>`` = the state (``DBPut``; ``DBDel`` for none) for dialplan
  routing, and ``DEVICE_STATE(Custom:TEAMS<ext>)`` for BLF keys in a hint context of its own
  (``freepbx_hints``), so it never feeds back into line state.
* FreePBX DND (opt-in): exactly what FreePBX does itself (reference 4.1): ``DND/<ext>`` = ``YES``
  or deleted, ``Custom:DND<ext>`` and ``Custom:DEVDND<device>`` = ``BUSY`` / ``UNAVAILABLE``.
  ``DndLedger`` remembers what we switched on, caps it (8 h) and forgets it when the person acts;
  it is rebuilt from the state store before the first resync (``ownership.py``).
* Queue pause with reason ``teams:<state>``; unpause only while that reason is still ours.

Values are sanitised: no CR/LF anywhere (header injection, trap 13), no commas where a function
splits on them; extensions must look like extensions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from adapters.asterisk_ami.parse import FREEPBX_DND_OFF_VALUE, FREEPBX_DND_ON_VALUE
from adapters.base import RoutableState
from bridge.errors import AdapterError

TEAMS_PAUSE_PREFIX = "teams:"
MAX_VALUE = 200
_EXTENSION = re.compile(r"[0-9A-Za-z*#+_.-]{1,40}")

# What a Teams BLF lamp shows per routable state (the hint holds only this device).
ROUTABLE_TO_DEVICE_STATE: dict[RoutableState, str] = {
    RoutableState.CALL: "INUSE",
    RoutableState.PRESENTING: "BUSY",
    RoutableState.DND: "BUSY",
    RoutableState.MEETING: "INUSE",
    RoutableState.OOF: "UNAVAILABLE",
    RoutableState.NONE: "NOT_INUSE",
}
assert set(ROUTABLE_TO_DEVICE_STATE) == set(RoutableState), "every routable state needs a lamp state"


@dataclass(frozen=True, slots=True)
class AmiAction:
    """One action to send; ``tolerated`` are error messages that still mean "done"."""

    name: str
    headers: tuple[tuple[str, str], ...]
    tolerated: tuple[str, ...] = ()


def sanitize(value: str, *, commas: bool = False) -> str:
    """One safe header value: line breaks and NULs become spaces; commas dropped if asked."""
    cleaned = re.sub(r"[\r\n\x00]+", " ", value)
    if commas:
        cleaned = cleaned.replace(",", " ")
    return cleaned.strip()[:MAX_VALUE]


def check_extension(extension: str) -> str:
    if not _EXTENSION.fullmatch(extension):
        raise AdapterError(f"refusing to write for extension {extension!r}: not an extension")
    return extension


def routable_actions(extension: str, state: RoutableState, family: str) -> list[AmiAction]:
    ext = check_extension(extension)
    lamp = AmiAction(
        "Setvar",
        (("Variable", f"DEVICE_STATE(Custom:{family}{ext})"), ("Value", ROUTABLE_TO_DEVICE_STATE[state])),
    )
    if state is RoutableState.NONE:
        db = AmiAction(
            "DBDel", (("Family", family), ("Key", ext)), tolerated=("Database entry could not be deleted",)
        )
    else:
        db = AmiAction(
            "DBPut", (("Family", family), ("Key", ext), ("Val", sanitize(state.value, commas=True)))
        )
    return [db, lamp]


def dnd_actions(extension: str, on: bool, device_ids: tuple[str, ...]) -> list[AmiAction]:
    ext = check_extension(extension)
    value = FREEPBX_DND_ON_VALUE if on else FREEPBX_DND_OFF_VALUE
    if on:
        actions = [AmiAction("DBPut", (("Family", "DND"), ("Key", ext), ("Val", "YES")))]
    else:
        actions = [
            AmiAction(
                "DBDel", (("Family", "DND"), ("Key", ext)), tolerated=("Database entry could not be deleted",)
            )
        ]
    actions.append(AmiAction("Setvar", (("Variable", f"DEVICE_STATE(Custom:DND{ext})"), ("Value", value))))
    for device in device_ids:
        dev = check_extension(device)
        actions.append(
            AmiAction("Setvar", (("Variable", f"DEVICE_STATE(Custom:DEVDND{dev})"), ("Value", value)))
        )
    return actions


def queue_pause_actions(interfaces: list[str], reason: str | None) -> list[AmiAction]:
    """Pause (``reason`` given) or unpause (None) each member interface in all its queues."""
    actions = []
    for interface in interfaces:
        headers: tuple[tuple[str, str], ...] = (("Interface", sanitize(interface)),)
        if reason is None:
            headers += (("Paused", "false"),)
        else:
            headers += (("Paused", "true"), ("Reason", TEAMS_PAUSE_PREFIX + sanitize(reason)))
        actions.append(AmiAction("QueuePause", headers))
    return actions


class DndLedger:
    """PBX DND we switched on: who, until when (monotonic seconds). Pure bookkeeping."""

    def __init__(self, max_hold: float) -> None:
        self._max_hold = max_hold
        self._until: dict[str, float] = {}

    def owned(self, extension: str) -> bool:
        return extension in self._until

    def took(self, extension: str, now: float, held_for: float = 0.0) -> None:
        """We switched it on ``held_for`` seconds ago (0: now; more: restored after a restart)."""
        self._until[extension] = now - held_for + self._max_hold

    def released(self, extension: str) -> None:
        self._until.pop(extension, None)

    def expired(self, now: float) -> list[str]:
        return sorted(e for e, until in self._until.items() if until <= now)

    def __len__(self) -> int:
        return len(self._until)


def freepbx_hints(extensions: list[str], context: str = "teams-blf") -> str:
    """The dialplan an admin pastes into extensions_custom.conf for Teams BLF keys.

    FreePBX rewrites its own hints on every Apply Config, so ours live in a context of their own
    (which the adapter also ignores for line state, so they can never loop back).
    """
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,79}", context):
        raise ValueError(f"not a dialplan context name: {context!r}")
    lines = [
        "; presence-bridge: Teams status lamps for BLF keys.",
        "; Paste into /etc/asterisk/extensions_custom.conf, then: asterisk -rx 'dialplan reload'.",
        f"; A BLF key watching <ext>@{context} lights while that person is in a Teams call,",
        "; presenting or in Do not disturb (Custom:TEAMS<ext>, written by presence-bridge).",
        f"; Phones subscribe in their endpoint's subscribe_context: use one that includes [{context}].",
        f"[{context}]",
    ]
    for extension in extensions:
        ext = check_extension(extension)
        lines.append(f"exten => {ext},hint,Custom:TEAMS{ext}")
    return "\n".join(lines) + "\n"
