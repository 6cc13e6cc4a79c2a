"""The Asterisk / FreePBX adapter: thin I/O around the pure framer, tracker and write-back.

Supervision (reference asterisk-ami.md traps 1-8, 27), all on the injected clock:

* connect -> Login (plain or MD5 challenge, ``Events:`` limited to the classes we use) -> full
  resync (DeviceStateList, ExtensionStateList, PresenceStateList, AstDB ``DEVICE``/``DND``,
  QueueStatus) emitted as one ``Snapshot`` -> live events. Live events that arrive during the
  resync are applied after it, in order.
* reconnect with capped exponential backoff and jitter; a wrong password is BAD_CREDENTIALS with
  ``auth_failure_backoff`` and one ERROR line (repeats at DEBUG), never a tight loop;
* a Ping watchdog: no Pong within ``ping_timeout`` aborts the transport (half-open TCP, NAT);
* ``stop()`` cancels the supervisor, aborts the socket and ends ``events()``; nothing reconnects.

panoramisk is not used at run time: see ``protocol.py`` for why its broken parts were replaced.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator

from pydantic import BaseModel

from adapters.asterisk_ami.config import AmiConfig
from adapters.asterisk_ami.frames import AmiMessage
from adapters.asterisk_ami.parse import AgentCallEnded, AstDbFact, Fact, Shutdown, Unrecognised, parse_message
from adapters.asterisk_ami.protocol import AmiClosed, AmiReply, AmiSession, AmiTimeout, within
from adapters.asterisk_ami.tracker import AmiTracker
from adapters.asterisk_ami.writeback import (
    TEAMS_PAUSE_PREFIX,
    AmiAction,
    DndLedger,
    dnd_actions,
    queue_pause_actions,
    routable_actions,
)
from adapters.base import Adapter, AdapterDeps, AdapterEvent, Health, HealthChange, WriteBack
from bridge.errors import AdapterAuthError, AdapterError
from bridge.model import StateChange, Toggle

log = logging.getLogger(__name__)

ASTDB_FAMILIES = ("DEVICE", "DND")
_LIST_ACTIONS = ("DeviceStateList", "ExtensionStateList", "PresenceStateList")
# Errors that only mean "nothing to list" (reference 3, 4.2).
EMPTY_LIST_MESSAGES = frozenset({"Database entry not found", "No dialplan hints are available"})


class AmiAdapter:
    """One AMI connection, supervised. Implements ``adapters.base.Adapter``."""

    def __init__(self, name: str, config: AmiConfig, deps: AdapterDeps) -> None:
        self.name = name
        self._config = config
        self._clock = deps.clock
        self._rng = deps.rng
        self._tracker = AmiTracker(name, config)
        self._ledger = DndLedger(config.dnd_max_hold)
        self._queue: asyncio.Queue[AdapterEvent | None] = asyncio.Queue()
        self._health = Health.STOPPED
        self._task: asyncio.Task[None] | None = None
        self._session: AmiSession | None = None
        self._resyncing = False
        self._held: list[AmiMessage] = []
        self._wrapup_timers: set[asyncio.Task[None]] = set()
        self._auth_logged = False
        self._missing_logged: set[str] = set()
        self._closed_stream = False
        self._counts: dict[str, int] = {
            "rejected_frames": 0,
            "oversized_frames": 0,
            "unrecognised_events": 0,
            "handler_errors": 0,
            "late_responses": 0,
            "connects": 0,
            "auth_failures": 0,
            "watchdog_timeouts": 0,
            "write_backs": 0,
            "dnd_releases": 0,
        }

    # --- Adapter protocol ------------------------------------------------------------

    @property
    def health(self) -> Health:
        return self._health

    @property
    def counters(self) -> dict[str, int]:
        counts = dict(self._counts)
        if self._session is not None:
            counts["rejected_frames"] += self._session.parser.rejected_frames
            counts["oversized_frames"] += self._session.parser.oversized_frames
            counts["late_responses"] += self._session.late_responses
            counts["handler_errors"] += self._session.handler_errors
        counts.update(self._tracker.counters)
        counts["pbx_dnd_owned"] = len(self._ledger)
        return counts

    @property
    def supports_write_back(self) -> bool:
        return self._config.write_back

    async def start(self) -> None:
        if self._task is not None:
            return
        self._closed_stream = False
        self._set_health(Health.CONNECTING, "connecting")
        self._task = asyncio.create_task(self._supervise(), name=f"ami:{self.name}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            self._set_health(Health.STOPPED, "stopped")
        if not self._closed_stream:
            self._closed_stream = True
            self._queue.put_nowait(None)

    async def events(self) -> AsyncIterator[AdapterEvent]:
        while True:
            item = await self._queue.get()
            if item is None:
                return
            yield item

    # --- supervision -----------------------------------------------------------------

    def _emit(self, event: AdapterEvent) -> None:
        if not self._closed_stream:
            self._queue.put_nowait(event)

    def _set_health(self, health: Health, detail: str) -> None:
        if health is self._health:
            return
        self._health = health
        level = logging.ERROR if health is Health.BAD_CREDENTIALS else logging.INFO
        log.log(
            level, "AMI %s (%s:%s): %s: %s", self.name, self._config.host, self._config.port, health, detail
        )
        self._emit(HealthChange(self.name, health, detail))

    def _backoff(self, attempt: int) -> float:
        base = min(self._config.backoff_max, self._config.backoff_initial * 2 ** min(attempt, 30))
        return base * (0.5 + 0.5 * self._rng.random())  # equal jitter: never zero, never in step

    async def _supervise(self) -> None:
        attempt = 0
        while True:
            delay: float
            try:
                await self._run_session()
                detail = "connection closed by the PBX"
            except AdapterAuthError as exc:
                self._counts["auth_failures"] += 1
                self._went_blind()
                if not self._auth_logged:
                    self._set_health(Health.BAD_CREDENTIALS, str(exc))
                    self._auth_logged = True
                else:
                    log.debug("AMI %s: login refused again", self.name)
                await self._clock.sleep(self._config.auth_failure_backoff)
                continue
            except (AdapterError, OSError) as exc:
                detail = str(exc) or exc.__class__.__name__
            if self._health is Health.CONNECTED:
                attempt = 0
            self._went_blind()
            self._set_health(Health.TRANSIENT_DISCONNECT, detail)
            delay = self._backoff(attempt)
            attempt += 1
            log.debug("AMI %s: reconnecting in %.1f s", self.name, delay)
            await self._clock.sleep(delay)

    def _went_blind(self) -> None:
        for change in self._tracker.disconnected():
            self._emit(change)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        cfg = self._config
        try:
            return await within(
                self._clock, asyncio.open_connection(cfg.host, cfg.port), cfg.connect_timeout, "connect"
            )
        except OSError as exc:
            raise AmiClosed(f"cannot connect: {exc.__class__.__name__}: {exc.strerror or exc}") from exc

    async def _run_session(self) -> None:
        cfg = self._config
        reader, writer = await self._connect()
        self._counts["connects"] += 1
        session = AmiSession(reader, writer, self._clock, self._on_event, action_timeout=cfg.action_timeout)
        self._session = session
        self._resyncing, self._held = True, []
        reader_task = asyncio.create_task(session.run(), name=f"ami-read:{self.name}")
        helpers: list[asyncio.Task[None]] = []
        try:
            await self._login(session)
            await self._resync(session)
            self._auth_logged = False
            self._set_health(Health.CONNECTED, f"logged in as {cfg.username}")
            helpers = [
                asyncio.create_task(self._watchdog(session), name=f"ami-ping:{self.name}"),
                asyncio.create_task(self._housekeeping(session), name=f"ami-poll:{self.name}"),
            ]
            done, _ = await asyncio.wait([reader_task, *helpers], return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()  # raises why the session ended
        finally:
            timers, self._wrapup_timers = list(self._wrapup_timers), set()  # a resync rebuilds agents
            for task in (reader_task, *helpers, *timers):
                task.cancel()
            await asyncio.gather(reader_task, *helpers, *timers, return_exceptions=True)
            await session.close()
            self._fold_counts(session)
            self._session = None

    def _fold_counts(self, session: AmiSession) -> None:
        self._counts["rejected_frames"] += session.parser.rejected_frames
        self._counts["oversized_frames"] += session.parser.oversized_frames
        self._counts["late_responses"] += session.late_responses
        self._counts["handler_errors"] += session.handler_errors

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

    async def _list(
        self, session: AmiSession, action: str, headers: list[tuple[str, str]]
    ) -> list[Fact] | None:
        """A list action's items; [] when the PBX has none; None when it refused (logged once)."""
        reply = await session.send(action, headers)
        if reply.ok:
            return [parse_message(item) for item in reply.items]
        if reply.message in EMPTY_LIST_MESSAGES:
            return []
        key = f"{action} {headers}"
        if key not in self._missing_logged:
            self._missing_logged.add(key)
            log.warning("AMI %s: %s answered %r; going on without it", self.name, action, reply.message)
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
        self._emit(self._tracker.snapshot())
        self._resyncing = False
        held, self._held = self._held, []
        for message in held:
            self._on_event(message)

    async def _watchdog(self, session: AmiSession) -> None:
        while True:
            await self._clock.sleep(self._config.ping_interval)
            try:
                await session.send("Ping", deadline=self._config.ping_timeout)
            except AmiTimeout:
                self._counts["watchdog_timeouts"] += 1
                session.abort()
                raise AmiClosed(
                    f"no Pong within {self._config.ping_timeout:g} s: connection dropped"
                ) from None

    async def _housekeeping(self, session: AmiSession) -> None:
        """AstDB re-read (AstDB writes raise no event: hot-desking, DND) and the PBX DND cap."""
        cfg = self._config
        next_poll = self._clock.monotonic() + cfg.astdb_poll_interval
        while True:
            await self._clock.sleep(min(cfg.astdb_poll_interval, cfg.dnd_max_hold, 60.0))
            now = self._clock.monotonic()
            if cfg.freepbx and now >= next_poll:
                next_poll = now + cfg.astdb_poll_interval
                for family in ASTDB_FAMILIES:
                    facts = await self._list(session, "DBGetTree", [("Family", family)])
                    if facts is not None:  # a refused read must not look like "all keys deleted"
                        entries = [f for f in facts if isinstance(f, AstDbFact)]
                        self._publish(self._tracker.replace_astdb(entries, (family,)))
            for extension in self._ledger.expired(now):
                log.info("AMI %s: releasing PBX DND we set on %s (held the maximum)", self.name, extension)
                self._counts["dnd_releases"] += 1
                self._ledger.released(extension)
                self._tracker.expect_dnd(extension, Toggle.OFF)
                devices = self._tracker.freepbx_device_ids(extension)
                await self._run(session, dnd_actions(extension, False, devices))

    # --- events ----------------------------------------------------------------------

    def _on_event(self, message: AmiMessage) -> None:
        if self._resyncing:
            self._held.append(message)
            return
        fact = parse_message(message)
        if isinstance(fact, Unrecognised):
            self._counts["unrecognised_events"] += 1
            log.debug("AMI %s: unrecognised %s", self.name, fact.reason)
            return
        if isinstance(fact, Shutdown):
            log.info("AMI %s: PBX is shutting down (restart=%s)", self.name, fact.restart)
            self._went_blind()
            return
        if isinstance(fact, AgentCallEnded):
            changes, until = self._tracker.start_wrapup(fact, self._clock.monotonic())
            self._publish(changes)
            if until is not None:
                timer = asyncio.create_task(self._end_wrapup(until), name=f"ami-wrapup:{self.name}")
                self._wrapup_timers.add(timer)
                timer.add_done_callback(self._wrapup_timers.discard)
            return
        self._publish(self._tracker.apply(fact))

    async def _end_wrapup(self, until: float) -> None:
        """One wrap-up timer on the injected clock; owned by the session (cancelled when it ends)."""
        await self._clock.sleep(until - self._clock.monotonic())
        self._publish(self._tracker.end_wrapups(self._clock.monotonic()))

    def _publish(self, changes: list[StateChange]) -> None:
        for change in changes:
            if change.dnd is not None and not change.echo and self._ledger.owned(change.endpoint.extension):
                self._ledger.released(change.endpoint.extension)  # the person acted: theirs now
            self._emit(change)

    # --- write-back ------------------------------------------------------------------

    async def write_back(self, command: WriteBack) -> None:
        cfg = self._config
        if not cfg.write_back:
            raise AdapterError(f"write-back is disabled for adapter {self.name}")
        session = self._session
        if session is None or self._health is not Health.CONNECTED:
            raise AdapterError(f"AMI {self.name} is not connected ({self._health})")
        ext = command.extension
        actions: list[AmiAction] = []
        if command.routable is not None:
            actions += routable_actions(ext, command.routable, cfg.teams_family)
        if command.pbx_dnd is not None:
            actions += self._dnd_write(ext, command.pbx_dnd)
        if command.queue_pause is not None:
            actions += self._pause_write(ext, command.queue_pause)
        self._counts["write_backs"] += 1
        await self._run(session, actions)

    def _dnd_write(self, ext: str, on: bool) -> list[AmiAction]:
        if not self._config.freepbx_dnd_write:
            raise AdapterError(f"PBX DND write-back is off for adapter {self.name} (freepbx_dnd_write)")
        if not on and not self._ledger.owned(ext):
            return []  # never switch off a DND the person set themselves
        if on:
            self._ledger.took(ext, self._clock.monotonic())
        else:
            self._ledger.released(ext)
        self._tracker.expect_dnd(ext, Toggle.ON if on else Toggle.OFF)
        return dnd_actions(ext, on, self._tracker.freepbx_device_ids(ext))

    def _pause_write(self, ext: str, reason: str) -> list[AmiAction]:
        if not self._config.queue_pause_write:
            raise AdapterError(f"queue pause write-back is off for adapter {self.name} (queue_pause_write)")
        members = self._tracker.member_interfaces(ext)
        if reason:
            interfaces = sorted({i for i, m in members if not m.paused})
            return queue_pause_actions(interfaces, reason)
        ours = sorted({i for i, m in members if m.paused and m.reason.startswith(TEAMS_PAUSE_PREFIX)})
        return queue_pause_actions(ours, None)

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
