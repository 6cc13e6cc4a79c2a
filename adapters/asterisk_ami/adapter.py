"""The Asterisk / FreePBX adapter: thin I/O around the pure framer, tracker and write-back.

One AMI session (``run_session``, on :class:`~adapters.sdk.ConnectionAdapter`; reference
asterisk-ami.md traps 1-8, 27), all on the injected clock:

* connect -> Login (plain or MD5 challenge, ``Events:`` limited to the classes we use) -> full
  resync (DeviceStateList, ExtensionStateList, PresenceStateList, AstDB ``DEVICE``/``DND``,
  QueueStatus) emitted as one ``Snapshot`` -> the ``manager.conf`` check (``login_check.py``,
  ``permissions.py``) -> CONNECTED, or DEGRADED naming a missing class (no read=call: BAD_CREDENTIALS)
  -> live events. Live events that arrive during the resync are applied after it, in order.
* a write-back the PBX refuses is counted apart; a streak of them is DEGRADED with an alarm
  (``condition.py``); with ``queue_pause_write`` the routable state also pauses queue agents
  (``queue_pause.py``); the AstDB poll follows ``DND/<ext>`` set or deleted without a device state.
* a Ping watchdog: no Pong within ``ping_timeout`` aborts the transport (half-open TCP, NAT);
* when a session ends, every line, DND and away we reported becomes unknown (``went_blind``).

The SDK base owns the rest: reconnect with capped, jittered backoff (``backoff_initial``,
``backoff_max``), a wrong password as BAD_CREDENTIALS with ``auth_failure_backoff`` and one ERROR
line, health, the event stream, and ``stop()`` (nothing reconnects after it).

panoramisk is not used at run time: see ``protocol.py`` for why its broken parts were replaced.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import ClassVar

from pydantic import BaseModel

from adapters.asterisk_ami import ownership
from adapters.asterisk_ami.condition import Condition
from adapters.asterisk_ami.config import AmiConfig
from adapters.asterisk_ami.episodes import Episodes
from adapters.asterisk_ami.frames import AmiMessage
from adapters.asterisk_ami.login_check import LoginCheck
from adapters.asterisk_ami.parse import AgentCallEnded, AstDbFact, Fact, Shutdown, Unrecognised, parse_message
from adapters.asterisk_ami.permissions import READ_SYSTEM_KEY, Severity, summary
from adapters.asterisk_ami.protocol import AmiClosed, AmiReply, AmiSession, AmiTimeout
from adapters.asterisk_ami.queue_pause import interfaces_to_change, pause_for
from adapters.asterisk_ami.tracker import AmiTracker, ampuser_extensions
from adapters.asterisk_ami.writeback import (
    TEAMS_PAUSE_PREFIX,
    AmiAction,
    DndLedger,
    dnd_actions,
    queue_pause_actions,
    routable_actions,
    sanitize,
)
from adapters.base import (
    Adapter,
    AdapterDeps,
    AdapterEvent,
    Health,
    KnownExtensions,
    OwnedWrite,
    WriteBack,
)
from adapters.sdk import ConnectionAdapter, Session
from bridge.errors import AdapterAuthError, AdapterError
from bridge.kit.backoff import Backoff
from bridge.model import Snapshot, StateChange, Toggle

log = logging.getLogger(__name__)

ASTDB_FAMILIES = ("DEVICE", "DND")
_LIST_ACTIONS = ("DeviceStateList", "ExtensionStateList", "PresenceStateList")
# Errors that only mean "nothing to list" (reference 3, 4.2).
EMPTY_LIST_MESSAGES = frozenset({"Database entry not found", "No dialplan hints are available"})
# What a session's parser and router count, folded into the adapter's counters when it ends.
_SESSION_COUNTERS = (
    "rejected_frames",
    "oversized_frames",
    "late_responses",
    "foreign_responses",
    "handler_errors",
)


class AmiAdapter(ConnectionAdapter):
    """One AMI connection, supervised by the SDK. Implements ``adapters.base.Adapter``."""

    kind = "ami"
    counter_names: ClassVar[tuple[str, ...]] = (
        *_SESSION_COUNTERS,
        "unrecognised_events",
        "connects",
        "auth_failures",
        "disconnects",
        "watchdog_timeouts",
        "write_backs",
        "write_back_failures",
        "dnd_releases",
    )

    def __init__(self, name: str, config: AmiConfig, deps: AdapterDeps) -> None:
        super().__init__(name, deps, label=f"AMI {name} ({config.host}:{config.port})")
        self._config = config
        self._tracker = AmiTracker(name, config)
        self._ledger = DndLedger(config.dnd_max_hold)
        self._session: AmiSession | None = None
        self._resyncing = False
        self._held: list[AmiMessage] = []
        self._wrapup_timers: set[asyncio.Task[None]] = set()
        self._refusals = Episodes()
        self._check = LoginCheck(name, config, deps.clock)
        self._condition = Condition(config.write_failure_alarm)

    # --- what the SDK asks of a connection adapter -----------------------------------

    @property
    def supports_write_back(self) -> bool:
        return self._config.write_back

    def extra_counters(self) -> Mapping[str, int]:
        counts = dict(self._tracker.counters)
        session = self._session
        if session is not None:
            counts.update(zip(_SESSION_COUNTERS, _session_counts(session), strict=True))
        counts["pbx_dnd_owned"] = len(self._ledger)
        return counts

    def backoff(self) -> Backoff:
        return Backoff(self._config.backoff_initial, self._config.backoff_max, rng=self.deps.rng)

    def auth_pause(self) -> float:
        return self._config.auth_failure_backoff

    def went_blind(self) -> Iterable[AdapterEvent]:
        return self._tracker.disconnected()

    @property
    def alarms(self) -> frozenset[str]:
        """Alarms raised now (``condition.py``): a missing ``manager.conf`` class, write-back failing."""
        return self._condition.alarms

    async def run_session(self, session: Session) -> None:
        cfg = self._config
        reader, writer = await session.connect(cfg.host, cfg.port, within_s=cfg.connect_timeout)
        ami = AmiSession(reader, writer, self.clock, self._on_event, action_timeout=cfg.action_timeout)
        self._session = ami
        self._resyncing, self._held = True, []
        self._check.begin()
        reader_task = asyncio.create_task(ami.run(), name=f"ami-read:{self.name}")
        helpers: list[asyncio.Task[None]] = []
        try:
            await self._login(ami)
            await self._resync(ami)
            await self._check_permissions(ami, session)
            helpers = [
                asyncio.create_task(self._watchdog(ami), name=f"ami-ping:{self.name}"),
                asyncio.create_task(self._housekeeping(ami), name=f"ami-poll:{self.name}"),
            ]
            done, _ = await asyncio.wait([reader_task, *helpers], return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()  # raises why the session ended
        finally:
            timers, self._wrapup_timers = list(self._wrapup_timers), set()  # a resync rebuilds agents
            for task in (reader_task, *helpers, *timers):
                task.cancel()
            await asyncio.gather(reader_task, *helpers, *timers, return_exceptions=True)
            await ami.close()
            for counter, value in zip(_SESSION_COUNTERS, _session_counts(ami), strict=True):
                self.count(counter, value)
            self._session = None

    # --- the session -----------------------------------------------------------------

    async def _login(self, session: AmiSession) -> None:
        cfg = self._config
        headers = [("Username", cfg.username)]
        if cfg.auth == "md5":
            challenge = await session.send("Challenge", [("AuthType", "MD5")])
            if not challenge.ok or not challenge.response.get("Challenge"):
                raise AdapterError(f"MD5 challenge refused: {challenge.message}")
            digest = hashlib.md5(
                (challenge.response.text("Challenge") + cfg.secret.get_secret_value()).encode()
            ).hexdigest()
            headers += [("AuthType", "MD5"), ("Key", digest)]
        else:
            headers.append(("Secret", cfg.secret.get_secret_value()))
        headers.append(("Events", cfg.events))
        reply = await session.send("Login", headers)
        if reply.ok:
            return
        if "authentication failed" in reply.message.lower():
            raise AdapterAuthError(
                f"AMI login refused for user {cfg.username!r}: check secret, permit/deny in manager.conf"
            )
        raise AdapterError(f"AMI login failed: {reply.message}")

    async def _check_permissions(self, ami: AmiSession, session: Session) -> None:
        """The login check (``permissions.py``): FAILED ends the session as BAD_CREDENTIALS (retried
        after ``auth_failure_backoff``), DEGRADED findings connect with health DEGRADED."""
        findings = await self._check.run(ami)
        failed = [f for f in findings if f.severity is Severity.FAILED]
        if failed:
            raise AdapterAuthError(summary(failed))
        self._condition.permissions(findings)
        self._check.watching = any(f.key == READ_SYSTEM_KEY for f in findings)  # a late FullyBooted
        session.reached_connected = True
        self._show_condition(f"logged in as {self._config.username}")

    def _show_condition(self, ok_detail: str) -> None:
        """Health from ``Condition`` once logged in: CONNECTED, or DEGRADED saying what is wrong."""
        if self._session is None or not self._check.done:
            return
        health = self._condition.health
        self.set_health(health, ok_detail if health is Health.CONNECTED else self._condition.detail)

    async def _list(
        self, session: AmiSession, action: str, headers: list[tuple[str, str]]
    ) -> list[Fact] | None:
        """A list action's items; [] when the PBX has none; None when it refused (logged once per
        episode: again after it answered in between)."""
        reply = await session.send(action, headers)
        key = " ".join([action, *(value for _, value in headers)])
        if reply.ok or reply.message in EMPTY_LIST_MESSAGES:
            if self._refusals.succeeded(key):
                log.info("AMI %s: %s answers again", self.name, key)
            return [parse_message(item) for item in reply.items] if reply.ok else []
        if self._refusals.failed(key):
            log.warning("AMI %s: %s answered %r; going on without it", self.name, key, reply.message)
        else:
            log.debug("AMI %s: %s still answers %r", self.name, key, reply.message)
        return None

    async def _resync(self, session: AmiSession) -> None:
        facts: list[Fact] = []
        for action in _LIST_ACTIONS:
            facts += await self._list(session, action, []) or []
        if self._config.freepbx:
            for family in ASTDB_FAMILIES:
                facts += await self._list(session, "DBGetTree", [("Family", family)]) or []
        facts += await self._list(session, "QueueStatus", []) or []
        self._tracker.begin_resync()
        self._tracker.learn(facts)
        self.emit(self._owned_marked(self._tracker.snapshot()))
        self._resyncing = False
        held, self._held = self._held, []
        for message in held:
            self._on_event(message)

    async def _watchdog(self, session: AmiSession) -> None:
        while True:
            await self.clock.sleep(self._config.ping_interval)
            try:
                await session.send("Ping", deadline=self._config.ping_timeout)
            except AmiTimeout:
                self.count("watchdog_timeouts")
                session.abort()
                raise AmiClosed(
                    f"no Pong within {self._config.ping_timeout:g} s: connection dropped"
                ) from None

    async def _housekeeping(self, session: AmiSession) -> None:
        """AstDB re-read (AstDB writes raise no event: hot-desking, DND) and the PBX DND cap."""
        cfg = self._config
        next_poll = self.clock.monotonic() + cfg.astdb_poll_interval
        while True:
            await self.clock.sleep(min(cfg.astdb_poll_interval, cfg.dnd_max_hold, 60.0))
            now = self.clock.monotonic()
            if cfg.freepbx and now >= next_poll:
                next_poll = now + cfg.astdb_poll_interval
                for family in ASTDB_FAMILIES:
                    facts = await self._list(session, "DBGetTree", [("Family", family)])
                    if facts is not None:  # a refused read must not look like "all keys deleted"
                        entries = [f for f in facts if isinstance(f, AstDbFact)]
                        self._publish(self._tracker.replace_astdb(entries, (family,)))
            for extension in self._ledger.expired(now):
                log.info("AMI %s: releasing PBX DND we set on %s (held the maximum)", self.name, extension)
                self.count("dnd_releases")
                self._ledger.released(extension)
                self._tracker.expect_dnd(extension, Toggle.OFF)
                devices = self._tracker.freepbx_device_ids(extension)
                await self._run(session, dnd_actions(extension, False, devices))

    # --- events ----------------------------------------------------------------------

    def _on_event(self, message: AmiMessage) -> None:
        if self._check.watching:
            self._watch(message)
        if self._resyncing:
            self._held.append(message)
            return
        fact = parse_message(message)
        if isinstance(fact, Unrecognised):
            self.count("unrecognised_events")
            log.debug("AMI %s: unrecognised %s", self.name, fact.reason)
            return
        if isinstance(fact, Shutdown):
            log.info("AMI %s: PBX is shutting down (restart=%s)", self.name, fact.restart)
            self._blind()
            return
        if isinstance(fact, AgentCallEnded):
            changes, until = self._tracker.start_wrapup(fact, self.clock.monotonic())
            self._publish(changes)
            if until is not None:
                timer = asyncio.create_task(self._end_wrapup(until), name=f"ami-wrapup:{self.name}")
                self._wrapup_timers.add(timer)
                timer.add_done_callback(self._wrapup_timers.discard)
            return
        self._publish(self._tracker.apply(fact))

    def _watch(self, message: AmiMessage) -> None:
        """While the login check listens: every event's classes; after it, only a late FullyBooted
        (Asterisk finished booting after our login), which clears a read=system finding."""
        if not self._check.done:
            self._check.heard(message)
        elif message.event == "FullyBooted" and self._condition.resolved(READ_SYSTEM_KEY):
            self._check.watching = False
            self._show_condition(f"logged in as {self._config.username}")

    async def _end_wrapup(self, until: float) -> None:
        """One wrap-up timer on the injected clock; owned by the session (cancelled when it ends)."""
        await self.clock.sleep(until - self.clock.monotonic())
        self._publish(self._tracker.end_wrapups(self.clock.monotonic()))

    def _publish(self, changes: list[StateChange]) -> None:
        for change in changes:
            if change.dnd is not None and not change.echo and self._ledger.owned(change.endpoint.extension):
                self._ledger.released(change.endpoint.extension)  # the person acted: theirs now
            self.emit(change)

    # --- ownership across restarts (adapters.base.OwnsWrites) ---------------------------

    def restore_owned(self, owned: Sequence[OwnedWrite]) -> None:
        """Before ``start()``: the PBX DND of ours a previous run left on, so the first resync
        reports it as our echo (never the person's own) and a later "off" is ours to send."""
        now = self.clock.monotonic()
        for item in owned:
            if item.command.pbx_dnd:
                self._ledger.took(item.command.extension, now, held_for=item.held_for)

    def _owned_marked(self, snapshot: Snapshot) -> Snapshot:
        marked, found_off = ownership.mark_owned_dnd(snapshot, self._ledger.owned)
        for extension in found_off:  # switched off by someone while we were away: not ours now
            log.info("AMI %s: PBX DND we set on %s was switched off meanwhile", self.name, extension)
            self._ledger.released(extension)
        return marked

    async def read_back(self, owned: Sequence[OwnedWrite]) -> list[str]:
        """Which of ``owned`` the PBX still holds, one line each (``release`` verifies with it)."""
        session = self._connected_session()
        remains: list[str] = []
        for item in owned:
            ext = item.command.extension
            devices = self._tracker.freepbx_device_ids(ext) if item.command.pbx_dnd else ()
            for probe in ownership.read_back_probes(item.command, self._config.teams_family, devices):
                reply = await session.send(probe.action.name, probe.action.headers)
                value = ownership.probe_value(probe, reply)
                if value is None:
                    remains.append(f"{probe.what}: cannot be read back")
                elif ownership.still_set(probe, value):
                    remains.append(f"{probe.what}={value}")
            if item.command.queue_pause:
                facts = await self._list(session, "QueueStatus", [])
                if facts is None:
                    remains.append(f"queue pauses of {ext}: cannot be read back")
                    continue
                interfaces = [i for i, _ in self._tracker.member_interfaces(ext)]
                remains += ownership.paused_by_us(facts, interfaces)
        return remains

    # --- which extensions exist (adapters.base.KnowsExtensions, ``mapping report``) -------

    async def known_extensions(self) -> KnownExtensions | None:
        """The extensions this PBX defines: what the resync learnt (hints, bound phone devices)
        and, with ``freepbx``, the FreePBX users in AstDB ``AMPUSER`` (read now: the resync does
        not read that family, it is large and only this question needs it). None when not
        connected."""
        if self._session is None or self.health not in (Health.CONNECTED, Health.DEGRADED):
            return None
        known = self._tracker.pbx_extensions()
        sources = ["hints", "devices"]
        if self._config.freepbx:
            users = await self._list(self._connected_session(), "DBGetTree", [("Family", "AMPUSER")])
            if users is not None:
                known |= ampuser_extensions(users)
                sources.append("AstDB AMPUSER")
        return KnownExtensions(frozenset(known), complete=True, source=", ".join(sources))

    def _connected_session(self) -> AmiSession:
        session = self._session
        if session is None or self.health not in (Health.CONNECTED, Health.DEGRADED):
            raise AdapterError(f"AMI {self.name} is not connected ({self.health})")
        return session

    # --- write-back ------------------------------------------------------------------

    async def write_back(self, command: WriteBack) -> None:
        cfg = self._config
        if not cfg.write_back:
            raise AdapterError(f"write-back is disabled for adapter {self.name}")
        session = self._session
        if session is None or self.health not in (Health.CONNECTED, Health.DEGRADED):
            raise AdapterError(f"AMI {self.name} is not connected ({self.health})")
        ext = command.extension
        actions: list[AmiAction] = []
        if command.routable is not None:
            actions += routable_actions(ext, command.routable, cfg.teams_family)
        if command.pbx_dnd is not None:
            actions += self._dnd_write(ext, command.pbx_dnd)
        pause = command.queue_pause
        if pause is None and command.routable is not None and cfg.queue_pause_write:
            pause = pause_for(command.routable)
        paused: list[str] = []
        if pause is not None:
            paused = self._pause_targets(ext, pause)
            actions += queue_pause_actions(paused, pause or None)
        try:
            await self._run(session, actions)
        except AdapterError as exc:
            self._write_back_done(str(exc))
            raise
        self._write_back_done(None)
        if paused:
            reason = TEAMS_PAUSE_PREFIX + sanitize(pause) if pause else None
            self._publish(self._tracker.our_queue_pause(paused, reason))

    def _dnd_write(self, ext: str, on: bool) -> list[AmiAction]:
        if not self._config.freepbx_dnd_write:
            raise AdapterError(f"PBX DND write-back is off for adapter {self.name} (freepbx_dnd_write)")
        if not on and not self._ledger.owned(ext):
            return []  # never switch off a DND the person set themselves
        if on:
            self._ledger.took(ext, self.clock.monotonic())
        else:
            self._ledger.released(ext)
        self._tracker.expect_dnd(ext, Toggle.ON if on else Toggle.OFF)
        return dnd_actions(ext, on, self._tracker.freepbx_device_ids(ext))

    def _write_back_done(self, failure: str | None) -> None:
        """Count a command that reached the PBX as done or failed; a streak of failures degrades."""
        if failure is None:
            self.count("write_backs")
            self._condition.write_succeeded()
        else:
            self.count("write_back_failures")
            self._condition.write_failed(failure)
        self._show_condition(f"logged in as {self._config.username}")

    def _pause_targets(self, ext: str, pause: str) -> list[str]:
        """The member interfaces a queue pause ("" = unpause ours) touches (``queue_pause.py``)."""
        if not self._config.queue_pause_write:
            raise AdapterError(f"queue pause write-back is off for adapter {self.name} (queue_pause_write)")
        return interfaces_to_change(self._tracker.member_interfaces(ext), pause)

    async def _run(self, session: AmiSession, actions: list[AmiAction]) -> None:
        for action in actions:
            reply: AmiReply = await session.send(action.name, action.headers)
            if not reply.ok and reply.message not in action.tolerated:
                raise AdapterError(f"AMI {action.name} refused: {reply.message}")


class AmiFactory:
    kind = "asterisk_ami"
    config_model: type[BaseModel] = AmiConfig

    def create(self, name: str, config: BaseModel, deps: AdapterDeps) -> Adapter:
        if not isinstance(config, AmiConfig):
            config = AmiConfig.model_validate(config.model_dump())
        return AmiAdapter(name, config, deps)


FACTORY = AmiFactory()


def _session_counts(session: AmiSession) -> tuple[int, int, int, int, int]:
    """A session's own counts, in ``_SESSION_COUNTERS`` order."""
    parser = session.parser
    return (
        parser.rejected_frames,
        parser.oversized_frames,
        session.late_responses,
        session.foreign_responses,
        session.handler_errors,
    )
