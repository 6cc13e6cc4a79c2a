"""The permission check after every AMI login (the I/O half of ``permissions.py``, which says why).

One ``LoginCheck`` per adapter. For each session: ``begin()``, feed it every event while
``watching`` (``heard``: the classes in their ``Privilege`` headers), then ``await run(session)``
after the resync: ``ListCommands`` for the write classes, ``FullyBooted`` (already heard) for
read=system, and the ``Custom:<teams_family>-probe`` round trip for read=call, bounded by
``read_probe_timeout`` on the injected clock. Asterisk keeps every custom device state in AstDB
``CustomDevstate/<name>`` (reference 4.3), so the probe deletes that key afterwards (write=system):
no login, ``release``'s included, leaves a value of ours on the PBX. It returns the findings; the
adapter turns them into health. A refused ``ListCommands`` (never seen on Asterisk 16-22, where it
needs no class) skips the check with one warning per episode.
"""

from __future__ import annotations

import asyncio
import logging

from adapters.asterisk_ami.config import AmiConfig
from adapters.asterisk_ami.episodes import Episodes
from adapters.asterisk_ami.frames import AmiMessage
from adapters.asterisk_ami.permissions import (
    READ_CALL,
    READ_SYSTEM,
    Finding,
    events_mask_has,
    missing_read,
    missing_writes,
    permitted_actions,
    privilege_classes,
)
from adapters.asterisk_ami.protocol import AmiSession
from bridge.kit.clock import Clock, Expired, within

log = logging.getLogger(__name__)


class LoginCheck:
    """Which ``manager.conf`` classes this AMI user lacks for what is configured."""

    def __init__(self, name: str, config: AmiConfig, clock: Clock) -> None:
        self._name = name
        self._config = config
        self._clock = clock
        self._heard: set[str] = set()
        self._call = asyncio.Event()
        self._episodes = Episodes()
        self.watching = False
        self.done = False  # this session's check has run

    @property
    def probe_device(self) -> str:
        return f"Custom:{self._config.teams_family}-probe"

    def begin(self) -> None:
        """A new session: forget what the last one heard; watch events from its first byte."""
        self._heard = set()
        self._call = asyncio.Event()
        self.watching = True
        self.done = False

    def heard(self, message: AmiMessage) -> frozenset[str]:
        """An event arrived: note its classes (returns them)."""
        classes = privilege_classes(message)
        if classes:
            self._heard |= classes
            if "call" in classes:
                self._call.set()
        return classes

    async def run(self, session: AmiSession) -> list[Finding]:
        try:
            return await self._run(session)
        finally:
            self.done = True

    async def _run(self, session: AmiSession) -> list[Finding]:
        cfg = self._config
        reply = await session.send("ListCommands")
        if not reply.ok:
            if self._episodes.failed("listcommands"):
                log.warning(
                    "AMI %s: ListCommands answered %r: manager.conf classes not checked",
                    self._name,
                    reply.message,
                )
            return []
        self._episodes.succeeded("listcommands")
        permitted = permitted_actions(reply.response)
        findings = missing_writes(cfg, permitted)
        if events_mask_has(cfg.events, "system") and "system" not in self._heard:
            findings.append(missing_read(cfg, READ_SYSTEM))  # FullyBooted came before this reply
        if cfg.read_probe and events_mask_has(cfg.events, "call") is not False:
            heard = await self._probe_call(session, permitted)
            if heard is False:
                findings.append(missing_read(cfg, READ_CALL))
        return findings

    async def _probe_call(self, session: AmiSession, permitted: frozenset[str]) -> bool | None:
        """Whether a call-class event reaches us (None: could not tell)."""
        if self._call.is_set():
            return True
        if "setvar" not in permitted:
            if self._episodes.failed("probe"):
                log.warning("AMI %s: read=call not verified: the probe needs write=call (Setvar)", self._name)
            return None
        try:
            return await self._round_trip(session)
        finally:
            await self._remove_probe(session, permitted)

    async def _round_trip(self, session: AmiSession) -> bool | None:
        variable = f"DEVICE_STATE({self.probe_device})"
        for value in ("INUSE", "NOT_INUSE"):  # one of the two is a change: DeviceStateChange follows
            reply = await session.send("Setvar", [("Variable", variable), ("Value", value)])
            if not reply.ok:
                if self._episodes.failed("probe"):
                    log.warning(
                        "AMI %s: read=call not verified: Setvar answered %r", self._name, reply.message
                    )
                return None
        self._episodes.succeeded("probe")
        try:
            await within(self._clock, self._config.read_probe_timeout, self._call.wait())
        except Expired:
            return False
        return True

    async def _remove_probe(self, session: AmiSession, permitted: frozenset[str]) -> None:
        """Delete the probe device's AstDB record (``CustomDevstate/<name>``); without write=system
        (already a finding) it stays ``NOT_INUSE``, in no hint and ignored for line state."""
        if "dbdel" not in permitted:
            return
        key = self.probe_device.removeprefix("Custom:")
        reply = await session.send("DBDel", [("Family", "CustomDevstate"), ("Key", key)])
        if not reply.ok:
            log.debug("AMI %s: removing the probe device answered %r", self._name, reply.message)
