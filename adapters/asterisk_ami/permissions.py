"""Does the AMI user hold the ``manager.conf`` classes our configuration needs? Pure: tables and rules.

Asterisk never refuses a login for missing classes: a user without ``read = call`` logs in, lists
device states (list items bypass read permissions) and then never hears of a call. So after every
login the adapter checks, and reports what is missing with the class to add (reference
asterisk-ami.md section 6). How each class is detected, read in Asterisk 22's ``main/manager.c``:

* **write classes: exactly**, from ``ListCommands``. ``action_listcommands`` lists only the actions
  the session may run (``writeperm & authority`` or authority 0) as ``<Action>: <synopsis> (Priv:
  <classes>)`` headers. An action we need that is absent is either not allowed (the class is named)
  or its module is not loaded (``res_manager_devicestate``, ``app_queue``): the message says both.
* **read=system: exactly, at login**, from ``FullyBooted``: ``action_login`` appends it right after
  the Login response when the session's event mask (``readperm`` & our ``events:``) holds system and
  Asterisk is fully booted. It arrives before the answer to our next action. A PBX still booting
  sends it later; it then clears the finding.
* **read=call: by a probe.** No action reports a session's read mask (``Events`` answers with the
  mask asked for, not the one granted; ``manager show user`` is CLI and needs write=command). So
  the adapter sets its own custom device ``Custom:<teams_family>-probe`` to ``INUSE`` and back to
  ``NOT_INUSE`` (write=call): Asterisk publishes ``DeviceStateChange`` (class call) for the change,
  and it reaches us only with read=call. Any other call-class event in the window counts too. Without
  write=call the probe cannot run and read=call stays unverified (a warning, not a failure).
  ``read_probe: false`` turns it off.
* **read=agent: not at login.** Queue events only come from a member changing; nothing harmless
  makes one. QueueStatus items bypass read permissions, so they prove nothing. Unverified (docs).

Severity: without read=call calls are invisible, so that is FAILED (``BAD_CREDENTIALS``, retried
after ``auth_failure_backoff``); everything else is DEGRADED: the adapter works, a configured part
does not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from adapters.asterisk_ami.config import AmiConfig
from adapters.asterisk_ami.frames import AmiMessage


class Severity(StrEnum):
    FAILED = "failed"
    DEGRADED = "degraded"


class Feature(StrEnum):
    """The part of the configuration a need comes from."""

    ALWAYS = "always"
    FREEPBX = "freepbx"  # AstDB DEVICE/DND reads
    WRITE_BACK = "write_back"  # TEAMS/<ext>, Custom:TEAMS<ext> (and FreePBX DND if opted in)
    QUEUE_PAUSE = "queue_pause_write"


@dataclass(frozen=True, slots=True)
class WriteNeed:
    """An action we send, the write classes that allow it (any one: Asterisk source), and why."""

    action: str
    classes: tuple[str, ...]
    purpose: str
    feature: Feature


# Authorities as registered in Asterisk 22.10.1 (res_manager_devicestate.c, pbx.c,
# res_manager_presencestate.c, db.c, manager.c, app_queue.c); QueueStatus, Ping and ListCommands
# have authority 0 and are always allowed.
WRITE_NEEDS: Final = (
    WriteNeed("DeviceStateList", ("call", "reporting"), "phone states after each login", Feature.ALWAYS),
    WriteNeed("ExtensionStateList", ("call", "reporting"), "hints after each login", Feature.ALWAYS),
    WriteNeed("PresenceStateList", ("call", "reporting"), "away states after each login", Feature.ALWAYS),
    WriteNeed("DBGetTree", ("system", "reporting"), "FreePBX DND and hot-desks from AstDB", Feature.FREEPBX),
    WriteNeed("DBPut", ("system",), "AstDB TEAMS/<ext> and FreePBX DND write-back", Feature.WRITE_BACK),
    WriteNeed("DBDel", ("system",), "clearing AstDB TEAMS/<ext> and FreePBX DND", Feature.WRITE_BACK),
    WriteNeed("Setvar", ("call",), "Custom:TEAMS<ext> BLF lamps and FreePBX DND lamps", Feature.WRITE_BACK),
    WriteNeed("QueuePause", ("agent",), "pausing queue agents (queue_pause_write)", Feature.QUEUE_PAUSE),
)


@dataclass(frozen=True, slots=True)
class ReadNeed:
    cls: str
    purpose: str
    severity: Severity


READ_CALL: Final = ReadNeed("call", "calls, device states and DND lamps", Severity.FAILED)
READ_SYSTEM: Final = ReadNeed("system", "FullyBooted and Shutdown", Severity.DEGRADED)
READ_SYSTEM_KEY: Final = "read=system"


@dataclass(frozen=True, slots=True)
class Finding:
    """One missing class: what it breaks and how to fix it (one line each, for logs and ``check``)."""

    key: str  # "read=call", "write=system"
    severity: Severity
    detail: str


def enabled(feature: Feature, config: AmiConfig) -> bool:
    return {
        Feature.ALWAYS: True,
        Feature.FREEPBX: config.freepbx,
        Feature.WRITE_BACK: config.write_back,
        Feature.QUEUE_PAUSE: config.write_back and config.queue_pause_write,
    }[feature]


_PRIV = re.compile(r"\(Priv: [^)]*\)\s*$")


def permitted_actions(reply: AmiMessage) -> frozenset[str]:
    """The action names a successful ``ListCommands`` reply lists, lower-cased."""
    return frozenset(name.lower() for name, value in reply.headers if _PRIV.search(value))


def privilege_classes(message: AmiMessage) -> frozenset[str]:
    """The classes in an event's ``Privilege`` header ("call,all" -> {"call"})."""
    value = message.get("Privilege")
    if not value:
        return frozenset()
    return frozenset(c.strip().lower() for c in value.split(",") if c.strip() and c.strip() != "all")


_ALL_WORDS = frozenset({"on", "yes", "true", "y", "t", "all"})


def events_mask_has(events: str, cls: str) -> bool | None:
    """Whether our Login ``Events:`` value asks for class ``cls`` (None: a numeric mask, unknown)."""
    words = [w.strip().lower() for w in events.split(",") if w.strip()]
    if len(words) == 1 and words[0].isdigit():
        return None
    return cls in words or bool(_ALL_WORDS & set(words))


def _fix(user: str, direction: str, classes: tuple[str, ...]) -> str:
    options = " or ".join(f"{direction}={c}" for c in classes)
    return (
        f"manager.conf user {user!r} lacks {options}: add {classes[0]} to its {direction} = line, "
        "then 'manager reload'"
    )


def missing_writes(config: AmiConfig, permitted: frozenset[str]) -> list[Finding]:
    """The write classes missing for what is configured, one finding per class."""
    by_class: dict[tuple[str, ...], list[WriteNeed]] = {}
    for need in WRITE_NEEDS:
        if enabled(need.feature, config) and need.action.lower() not in permitted:
            by_class.setdefault(need.classes, []).append(need)
    findings = []
    for classes, needs in by_class.items():
        actions = ", ".join(n.action for n in needs)
        purposes = "; ".join(dict.fromkeys(n.purpose for n in needs))
        findings.append(
            Finding(
                f"write={'|'.join(classes)}",
                Severity.DEGRADED,
                f"{_fix(config.username, 'write', classes)} (or the module is not loaded): "
                f"{actions} not allowed, so no {purposes}",
            )
        )
    return findings


def missing_read(config: AmiConfig, need: ReadNeed) -> Finding:
    mask = (
        "" if events_mask_has(config.events, need.cls) else f" (or events: {config.events!r} leaves it out)"
    )
    return Finding(
        f"read={need.cls}",
        need.severity,
        f"{_fix(config.username, 'read', (need.cls,))}{mask}: no {need.purpose} reach the bridge",
    )


def summary(findings: Iterable[Finding]) -> str:
    return "; ".join(f.detail for f in findings)
