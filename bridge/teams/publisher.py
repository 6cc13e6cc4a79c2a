"""The Graph publisher: makes Teams hold what the core wants, with as few calls as possible.

``desire()`` records the latest ``TeamsIntent`` per person (latest wins, nothing dropped) and
queues the person FIFO; write workers send only the difference from the last confirmed state:

- preferred presence we own and no longer want: read first, clear only if still shown, else forget;
- our session: ``setPresence`` (expiry ``session_expiry``) or ``clearPresence`` (404 = done);
- preferred presence the intent asks for: ``setUserPreferredPresence``, remembered as ours.

Flap coalescing: at most two writes for one person in any ``flap_window`` seconds. A change goes at
once unless the person's last two writes both fall inside the window (so a quiet person's change,
and a quick on/off, are not delayed); a later change waits until the older of the two leaves the
window, then only the latest desired state is sent (nothing when it is what the last write left).
A phone flapping for a second costs two writes, three when the burst ends on a state it had
already left. Refreshes neither wait nor count.

Live sessions are refreshed every ``refresh_interval`` earliest-deadline-first from the budget's
reserved share. Every confirmed write is persisted in the store, so a restart (``reconcile()``)
refreshes what must stay and clears what no longer should, paced through the budget.

Errors: 401-after-refresh / 403 -> BAD_CREDENTIALS with a long pause; throttling / outage ->
TRANSIENT_DISCONNECT with backoff, the person stays queued; other 4xx -> that person is marked
failed (not retried until a new intent); repeated failures quarantine the person with long backoff.
The first DoNotDisturb/Presenting write that Graph answers 400 switches the tenant to Busy/InACall.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bridge.errors import GraphAuthError, GraphError, GraphThrottled, GraphUnavailable, StoreError
from bridge.kit.clock import Clock, sleep_or_wake
from bridge.kit.health import Health
from bridge.presence import IN_A_CALL, PRESENTING, Pair, TeamsIntent
from bridge.runtime.store import PublishedRecord, StateStore
from bridge.teams.budget import Budget, Kind
from bridge.teams.graph import GraphClient
from bridge.teams.refresh import DeadlineQueue

log = logging.getLogger(__name__)

ALARM_DND_UNSUPPORTED = "dnd_presenting_unsupported"
ALARM_REFRESH_CAPACITY = "refresh_capacity_exceeded"
ALARM_BAD_CREDENTIALS = "bad_credentials"
# A session restored after a restart is not refreshed before the adapters' resync snapshot had a
# chance to say whether it is still wanted (most are cleared or changed by it), unless its expiry
# comes sooner: then it is refreshed this long before it lapses.
RESTORE_GRACE = 60.0  # seconds
RESTORE_MARGIN = 120.0  # seconds before the restored session's expiry


@dataclass(frozen=True, slots=True)
class PublishView:
    """One person as the publisher sees them (for /status and the demo table)."""

    desired: TeamsIntent | None
    cause: str
    sent_session: Pair | None
    sent_preferred: Pair | None
    last_request_id: str | None
    pending: bool
    staleness: float  # seconds the desired state has been waiting (0 when in step)
    failed: str | None
    quarantined: bool


@dataclass(slots=True)
class _Person:
    id: str
    desired: TeamsIntent | None = None
    cause: str = ""
    session: Pair | None = None  # confirmed, as sent (after the DND fallback)
    session_sent_at: float = 0.0  # monotonic
    session_deadline: float = 0.0  # monotonic: when Graph drops it unless refreshed
    preferred: Pair | None = None  # a preferred presence we own
    preferred_expires_at: datetime | None = None
    last_request_id: str | None = None
    dirty_since: float | None = None
    failed: str | None = None
    failed_intent: TeamsIntent | None = None
    failures: int = 0
    quarantined_until: float | None = None
    wrote_at: tuple[float, float] = (float("-inf"), float("-inf"))  # monotonic: the last two writes


class Publisher:
    def __init__(
        self,
        *,
        tenant: str,
        client_id: str,
        graph: GraphClient,
        budget: Budget,
        store: StateStore,
        clock: Clock,
        session_expiry: timedelta = timedelta(minutes=15),
        refresh_interval: float = 240.0,
        presenting_supported: bool | None = None,
        workers: int = 4,
        auth_backoff: float = 900.0,
        quarantine_backoff: float = 3600.0,
        quarantine_after: int = 3,
        flap_window: float = 1.0,
    ) -> None:
        self.tenant = tenant
        self._session_id = client_id
        self._graph = graph
        self._budget = budget
        self._store = store
        self._clock = clock
        self._expiry = session_expiry
        self._interval = refresh_interval
        self._presenting_supported = presenting_supported
        self._workers = max(1, workers)
        self._auth_backoff = auth_backoff
        self._quarantine_backoff = quarantine_backoff
        self._quarantine_after = quarantine_after
        self._flap_window = max(0.0, flap_window)
        self._people: dict[str, _Person] = {}
        self._queue: deque[str] = deque()
        self._queued: set[str] = set()
        self._in_flight: set[str] = set()
        self._work = asyncio.Event()
        self._refreshes = DeadlineQueue()
        self._refresh_wake = asyncio.Event()
        self._timers = DeadlineQueue()
        self._timer_wake = asyncio.Event()
        self._pause_until = 0.0
        self._transient_streak = 0
        self._reconciled = False
        self._live = 0
        self._last_recount = float("-inf")
        self._health = Health.CONNECTING
        self.health_listeners: list[Callable[[Health], None]] = []  # called on every transition
        self.alarms: set[str] = set()
        self.counters: dict[str, int] = {
            "set_presence": 0,
            "clear_presence": 0,
            "clear_presence_absent": 0,
            "refreshes": 0,
            "set_preferred": 0,
            "clear_preferred": 0,
            "preferred_left_to_user": 0,
            "presence_reads": 0,
            "person_failures": 0,
            "quarantines": 0,
            "transient_errors": 0,
            "auth_errors": 0,
            "store_errors": 0,
            "desires": 0,
            "writes_held": 0,
        }

    # --- public surface ---------------------------------------------------------------------

    @property
    def health(self) -> Health:
        return self._health

    @property
    def presenting_supported(self) -> bool | None:
        """None until the first DoNotDisturb/Presenting write tells (or the config said)."""
        return self._presenting_supported

    def desire(self, person_id: str, intent: TeamsIntent, cause: str) -> None:
        """What Teams should hold for a person; latest wins, never dropped."""
        person = self._person(person_id)
        person.desired = intent
        person.cause = cause
        self.counters["desires"] += 1
        if person.failed_intent is not None:
            if intent.same_target(person.failed_intent):
                person.failed_intent = intent  # the same thing that failed: still not retried
            else:
                person.failed_intent = None
                person.failed = None
        if self._needs_work(person):
            if person.dirty_since is None:
                person.dirty_since = self._clock.monotonic()
            self._enqueue(person)
        else:
            person.dirty_since = None

    def view(self, person_id: str) -> PublishView:
        person = self._people.get(person_id) or _Person(person_id)
        pending = self._needs_work(person)
        since = person.dirty_since
        return PublishView(
            desired=person.desired,
            cause=person.cause,
            sent_session=self._live_session(person),
            sent_preferred=person.preferred,
            last_request_id=person.last_request_id,
            pending=pending,
            staleness=(self._clock.monotonic() - since) if pending and since is not None else 0.0,
            failed=person.failed,
            quarantined=self._quarantined(person),
        )

    def stats(self) -> dict[str, float]:
        now = self._clock.monotonic()
        pending = [p for p in self._people.values() if self._needs_work(p)]
        stalest = max((now - p.dirty_since for p in pending if p.dirty_since is not None), default=0.0)
        result: dict[str, float] = {f"publisher_{k}": float(v) for k, v in self.counters.items()}
        result.update(
            {
                "publisher_people": float(len(self._people)),
                "publisher_pending": float(len(pending)),
                "publisher_max_staleness_seconds": stalest,
                "publisher_live_sessions": float(self._live),
                "publisher_quarantined": float(sum(self._quarantined(p) for p in self._people.values())),
                "publisher_alarms": float(len(self.alarms)),
                "publisher_queued": float(len(self._queue)),
                "publisher_in_flight": float(len(self._in_flight)),
            }
        )
        result.update({f"graph_{k}": float(v) for k, v in self._graph.counters.items()})
        result.update(self._budget.stats())
        return result

    def reconcile(self) -> int:
        """Load what we own from the store (once); returns how many people it names.

        Call ``desire()`` for the restored state first where the core has it: a stored session that
        no intent wants is cleared, one that is still wanted is refreshed on its own schedule.
        """
        if self._reconciled:
            return 0
        self._reconciled = True
        try:
            records = self._store.load_published(self.tenant)
        except StoreError as exc:
            log.warning("tenant %s: state store unreadable, starting blind: %s", self.tenant, exc)
            return 0
        now_mono, now_wall = self._clock.monotonic(), self._clock.now()
        for record in records.values():
            person = self._person(record.person_id)
            if record.session is not None and record.session_expires_at is not None:
                left = (record.session_expires_at - now_wall).total_seconds()
                if left > 0:
                    person.session = record.session
                    person.session_deadline = now_mono + left
                    person.session_sent_at = person.session_deadline - self._expiry.total_seconds()
            if record.preferred is not None and (
                record.preferred_expires_at is None or record.preferred_expires_at > now_wall
            ):
                person.preferred = record.preferred
                person.preferred_expires_at = record.preferred_expires_at
            if person.session is None and person.preferred is None:
                self._persist(person)  # all of it expired while we were down
            if person.desired is None:
                person.desired = TeamsIntent(reason="not wanted after restart")
                person.cause = "restart"
            if person.session is not None and self._target(person.desired) == person.session:
                wait = min(now_mono + RESTORE_GRACE, person.session_deadline - RESTORE_MARGIN)
                self._schedule_refresh(person, not_before=wait)
            if self._needs_work(person):
                person.dirty_since = now_mono
                self._enqueue(person)
        self._recount_live(force=True)
        log.info("tenant %s: reconciled %d people from the state store", self.tenant, len(records))
        return len(records)

    async def run(self) -> None:
        """Publish until cancelled (workers, refreshes, timers)."""
        await self._check_credentials()
        self.reconcile()
        async with asyncio.TaskGroup() as group:
            for n in range(self._workers):
                group.create_task(self._write_worker(), name=f"publisher-{self.tenant}-write-{n}")
                group.create_task(self._refresh_worker(), name=f"publisher-{self.tenant}-refresh-{n}")
            group.create_task(self._timer_loop(), name=f"publisher-{self.tenant}-timers")

    async def release(self) -> int:
        """Clear every session and preferred presence we own (per the store); returns clears sent.

        For decommissioning and the panic button: stop ``run()`` first, or it re-publishes.
        """
        self.reconcile()
        for record in self._store.load_published(self.tenant).values():
            person = self._person(record.person_id)
            person.session = person.session or record.session  # blind clears of our own session are safe
            person.session_deadline = max(person.session_deadline, self._clock.monotonic() + 1)
            person.preferred = person.preferred or record.preferred
        sent = 0
        for person in list(self._people.values()):
            if person.session is None and person.preferred is None:
                continue
            try:
                sent += await self._clear_preferred_if_ours(person)
                if person.session is not None:
                    await self._budget.acquire(Kind.WRITE)
                    result = await self._graph.clear_presence(person.id, self._session_id)
                    sent += 1
                    person.last_request_id = result.request_id
                    self._forget_session(person)
                    log.info("release person=%s cleared session request_id=%s", person.id, result.request_id)
            except GraphAuthError:
                raise
            except GraphError as exc:
                log.warning(
                    "release person=%s failed: status=%s code=%s request_id=%s",
                    person.id,
                    exc.status,
                    exc.code,
                    exc.request_id,
                )
            person.desired = None
            self._persist(person)
        self._recount_live(force=True)
        return sent

    # --- decisions (no I/O) -------------------------------------------------------------------

    def _person(self, person_id: str) -> _Person:
        person = self._people.get(person_id)
        if person is None:
            person = self._people[person_id] = _Person(person_id)
        return person

    def _target(self, intent: TeamsIntent | None) -> Pair | None:
        if intent is None or intent.session is None:
            return None
        if intent.session == PRESENTING and self._presenting_supported is False:
            return IN_A_CALL
        return intent.session

    def _live_session(self, person: _Person) -> Pair | None:
        if person.session is not None and self._clock.monotonic() < person.session_deadline:
            return person.session
        return None

    def _needs_work(self, person: _Person) -> bool:
        intent = person.desired
        if intent is None or person.failed_intent is intent:
            return False
        if self._target(intent) != self._live_session(person):
            return True
        return intent.preferred != person.preferred

    def _quarantined(self, person: _Person) -> bool:
        until = person.quarantined_until
        return until is not None and self._clock.monotonic() < until

    def _enqueue(self, person: _Person, *, front: bool = False) -> None:
        if person.id in self._queued or self._quarantined(person):
            return
        self._queued.add(person.id)
        if front:
            self._queue.appendleft(person.id)
        else:
            self._queue.append(person.id)
        self._work.set()

    def _schedule_refresh(self, person: _Person, *, not_before: float = 0.0) -> None:
        due = max(self._clock.monotonic(), person.session_sent_at + self._interval, not_before)
        self._refreshes.schedule(person.id, due)
        self._refresh_wake.set()

    def _recount_live(self, *, force: bool = False) -> None:
        now = self._clock.monotonic()
        if not force and now - self._last_recount < 1.0:
            return  # at most once a second: it walks every person
        self._last_recount = now
        self._live = sum(
            1 for p in self._people.values() if p.session is not None and now < p.session_deadline
        )
        self._budget.set_refresh_demand(self._live)
        if self._budget.over_capacity:
            if ALARM_REFRESH_CAPACITY not in self.alarms:
                self.alarms.add(ALARM_REFRESH_CAPACITY)
                log.warning(
                    "tenant %s: %d live sessions exceed the refresh capacity of %.0f; raise the budget",
                    self.tenant,
                    self._live,
                    self._budget.capacity,
                )
        elif ALARM_REFRESH_CAPACITY in self.alarms:
            self.alarms.discard(ALARM_REFRESH_CAPACITY)
            log.info("tenant %s: live sessions back within refresh capacity", self.tenant)

    # --- health -------------------------------------------------------------------------------

    def _set_health(self, health: Health, detail: str) -> None:
        if health == self._health:
            log.debug("tenant %s: still %s: %s", self.tenant, health, detail)
            return
        level = logging.INFO if health is Health.CONNECTED else logging.WARNING
        if health is Health.BAD_CREDENTIALS:
            level = logging.ERROR
        log.log(level, "tenant %s: Graph %s -> %s: %s", self.tenant, self._health, health, detail)
        self._health = health
        for listener in self.health_listeners:
            listener(health)
        if health is Health.BAD_CREDENTIALS:
            self.alarms.add(ALARM_BAD_CREDENTIALS)
        else:
            self.alarms.discard(ALARM_BAD_CREDENTIALS)

    def _ok(self) -> None:
        self._transient_streak = 0
        if self._health is not Health.CONNECTED:
            self._set_health(Health.CONNECTED, "Graph calls succeed")

    def _on_auth_error(self, exc: GraphAuthError) -> None:
        self.counters["auth_errors"] += 1
        self._pause_until = self._clock.monotonic() + self._auth_backoff
        self._set_health(
            Health.BAD_CREDENTIALS,
            f"{exc}; pausing {self._auth_backoff:.0f} s (check the credential and Presence.ReadWrite.All)",
        )

    def _on_transient(self, exc: GraphError) -> None:
        self.counters["transient_errors"] += 1
        self._transient_streak += 1
        pause = min(60.0, 2.0 ** min(self._transient_streak, 6))
        self._pause_until = max(self._pause_until, self._clock.monotonic() + pause)
        self._set_health(Health.TRANSIENT_DISCONNECT, f"{exc}; retrying in {pause:.0f} s")

    async def _check_credentials(self) -> None:
        try:
            await self._graph.ensure_token()
        except GraphAuthError as exc:
            self._on_auth_error(exc)
        except GraphError as exc:
            self._on_transient(exc)
        else:
            self._ok()

    async def _wait_unpaused(self) -> None:
        while (left := self._pause_until - self._clock.monotonic()) > 0:
            await self._clock.sleep(left)

    # --- write path -----------------------------------------------------------------------------

    async def _write_worker(self) -> None:
        while True:
            while not self._queue:
                self._work.clear()
                await self._work.wait()
            await self._wait_unpaused()
            if not self._queue:
                continue
            person_id = self._queue.popleft()
            self._queued.discard(person_id)
            person = self._people[person_id]
            if person_id in self._in_flight:
                self._timers.schedule(person_id, self._clock.monotonic() + 0.05)
                self._timer_wake.set()
                continue
            if not self._needs_work(person):
                person.dirty_since = None
                continue
            if (held_until := person.wrote_at[0] + self._flap_window) > self._clock.monotonic():
                self.counters["writes_held"] += 1  # flapping: the timer re-checks when a write is allowed
                self._timers.schedule(person_id, held_until)
                self._timer_wake.set()
                continue
            self._in_flight.add(person_id)
            try:
                await self._sync(person)
            except GraphAuthError as exc:
                self._on_auth_error(exc)
                self._enqueue(person, front=True)
            except (GraphThrottled, GraphUnavailable) as exc:
                self._on_transient(exc)
                self._enqueue(person, front=True)
            except GraphError as exc:
                self._on_person_failure(person, exc)
            else:
                self._ok()
            finally:
                self._in_flight.discard(person_id)
                self._recount_live()
            if self._needs_work(person):
                self._enqueue(person)
            elif person.failed_intent is None:
                person.dirty_since = None

    async def _sync(self, person: _Person) -> None:
        """Send the difference between the person's intent and what Graph holds from us."""
        intent = person.desired
        if intent is None:
            return
        noted = False  # one change costs one place in the flap window, however many calls it takes
        if intent.preferred is None and person.preferred is not None:
            noted = await self._clear_preferred_if_ours(person) > 0
            if noted:
                self._note_write(person)
        target = self._target(person.desired)
        if target != self._live_session(person):
            await self._budget.acquire(Kind.WRITE)
            if not noted:
                noted = self._note_write(person)
            if target is None:
                result = await self._graph.clear_presence(person.id, self._session_id)
                self.counters["clear_presence" if result.found else "clear_presence_absent"] += 1
                person.last_request_id = result.request_id
                self._forget_session(person)
                self._decision(person, "clearPresence", result.request_id)
            else:
                await self._set_session(person, target, refresh=False)
            self._persist(person)
        intent = person.desired
        if intent is not None and intent.preferred is not None and intent.preferred != person.preferred:
            expiry = intent.preferred_expiry or timedelta(hours=8)
            await self._budget.acquire(Kind.WRITE)
            if not noted:
                noted = self._note_write(person)
            result = await self._graph.set_preferred(person.id, intent.preferred, expiry)
            self.counters["set_preferred"] += 1
            person.preferred = intent.preferred
            person.preferred_expires_at = self._clock.now() + expiry
            person.last_request_id = result.request_id
            self._decision(person, f"setUserPreferredPresence {intent.preferred}", result.request_id)
            self._persist(person)
        person.failures = 0
        person.failed = None

    async def _set_session(self, person: _Person, target: Pair, *, refresh: bool) -> None:
        if person.session is None:
            self._persist_intent(person, target)
        try:
            result = await self._graph.set_presence(person.id, self._session_id, target, self._expiry)
        except GraphError as exc:
            if not (target == PRESENTING and exc.status == 400 and self._presenting_supported is not True):
                raise
            self._presenting_supported = False
            self.alarms.add(ALARM_DND_UNSUPPORTED)
            log.warning(
                "tenant %s: Graph refused DoNotDisturb/Presenting (code=%s request_id=%s); "
                "DND shows as Busy/InACall from now on",
                self.tenant,
                exc.code,
                exc.request_id,
            )
            target = IN_A_CALL
            await self._budget.acquire(Kind.WRITE)
            result = await self._graph.set_presence(person.id, self._session_id, target, self._expiry)
        else:
            if target == PRESENTING and self._presenting_supported is None:
                self._presenting_supported = True
                log.info("tenant %s: Graph accepts DoNotDisturb/Presenting", self.tenant)
        now = self._clock.monotonic()
        person.session = target
        person.session_sent_at = now
        person.session_deadline = now + self._expiry.total_seconds()
        person.last_request_id = result.request_id
        self.counters["refreshes" if refresh else "set_presence"] += 1
        self._schedule_refresh(person)
        if refresh:
            log.debug("refresh person=%s session=%s request_id=%s", person.id, target, result.request_id)
        else:
            self._decision(person, f"setPresence {target}", result.request_id)

    async def _clear_preferred_if_ours(self, person: _Person) -> int:
        """Clear our preferred presence only while it is still what Teams shows; returns calls sent."""
        ours = person.preferred
        if ours is None:
            return 0
        await self._budget.acquire(Kind.READ)
        shown = (await self._graph.get_presences([person.id])).get(person.id)
        self.counters["presence_reads"] += 1
        if ours.same(shown):
            await self._budget.acquire(Kind.WRITE)
            result = await self._graph.clear_preferred(person.id)
            self.counters["clear_preferred"] += 1
            person.last_request_id = result.request_id
            self._decision(person, "clearUserPreferredPresence", result.request_id)
            sent = 1
        else:
            self.counters["preferred_left_to_user"] += 1
            log.info(
                "person=%s shows %s, not our preferred %s: the user changed it, leaving it",
                person.id,
                shown,
                ours,
            )
            sent = 0
        person.preferred = None
        person.preferred_expires_at = None
        self._persist(person)
        return sent

    def _note_write(self, person: _Person) -> bool:
        person.wrote_at = (person.wrote_at[1], self._clock.monotonic())
        return True

    def _forget_session(self, person: _Person) -> None:
        person.session = None
        person.session_deadline = 0.0
        self._refreshes.cancel(person.id)

    def _on_person_failure(self, person: _Person, exc: GraphError) -> None:
        self.counters["person_failures"] += 1
        person.failures += 1
        person.failed = f"{exc.status} {exc.code or ''}".strip()
        person.failed_intent = person.desired
        log.warning(
            "publish person=%s failed: status=%s code=%s request_id=%s (not retried)",
            person.id,
            exc.status,
            exc.code,
            exc.request_id,
        )
        if person.failures >= self._quarantine_after:
            until = self._clock.monotonic() + self._quarantine_backoff
            person.quarantined_until = until
            person.failed_intent = None  # retried once the quarantine ends
            self.counters["quarantines"] += 1
            self._timers.schedule(person.id, until)
            self._timer_wake.set()
            log.warning(
                "person=%s quarantined for %.0f s after %d failures",
                person.id,
                self._quarantine_backoff,
                person.failures,
            )

    def _decision(self, person: _Person, sent: str, request_id: str | None) -> None:
        intent = person.desired
        desired = "none" if intent is None else f"session={intent.session} preferred={intent.preferred}"
        log.info(
            "publish person=%s cause=%s desired=%s sent=%s request_id=%s",
            person.id,
            person.cause,
            desired,
            sent,
            request_id,
        )

    def _persist_intent(self, person: _Person, target: Pair) -> None:
        """Write-ahead: record a session we are about to create, so a bridge stopped while the
        request is in flight still knows it may own one (a later clear of it is safe: 404 = done)."""
        self._save(person, target, self._clock.now() + self._expiry)

    def _persist(self, person: _Person) -> None:
        expires = None
        if person.session is not None:
            expires = self._clock.now() + timedelta(seconds=person.session_deadline - self._clock.monotonic())
        self._save(person, person.session, expires)

    def _save(self, person: _Person, session: Pair | None, expires: datetime | None) -> None:
        record = PublishedRecord(
            person.id, self.tenant, session, expires, person.preferred, person.preferred_expires_at
        )
        try:
            self._store.save_published(record, self._clock.now())
        except StoreError as exc:
            self.counters["store_errors"] += 1
            log.warning("state store write failed for person=%s: %s", person.id, exc)

    # --- refreshes and timers -------------------------------------------------------------------

    async def _next_due(self, queue: DeadlineQueue, wake: asyncio.Event) -> str:
        """Wait (on the injected clock) until ``queue`` has a person due; pop and return them."""
        while True:
            person_id = queue.pop_due(self._clock.monotonic())
            if person_id is not None:
                return person_id
            due = queue.next_due()
            wake.clear()
            await sleep_or_wake(
                self._clock, None if due is None else max(0.0, due - self._clock.monotonic()), wake
            )

    async def _refresh_worker(self) -> None:
        while True:
            person_id = await self._next_due(self._refreshes, self._refresh_wake)
            await self._wait_unpaused()
            person = self._people[person_id]
            session = self._live_session(person)
            if session is None or self._target(person.desired) != session:
                if self._needs_work(person):
                    self._enqueue(person)  # the write path owns this person now
                continue
            if person_id in self._in_flight:
                self._refreshes.schedule(person_id, self._clock.monotonic() + 0.5)
                continue
            self._in_flight.add(person_id)
            try:
                await self._budget.acquire(Kind.REFRESH)
                if self._live_session(person) == session and self._target(person.desired) == session:
                    await self._set_session(person, session, refresh=True)
                    self._persist(person)
                elif self._needs_work(person):
                    self._enqueue(person)
            except GraphAuthError as exc:
                self._on_auth_error(exc)
                self._refreshes.schedule(person_id, self._clock.monotonic())
            except (GraphThrottled, GraphUnavailable) as exc:
                self._on_transient(exc)
                self._refreshes.schedule(person_id, self._clock.monotonic())
            except GraphError as exc:
                self._on_person_failure(person, exc)
            else:
                self._ok()
            finally:
                self._in_flight.discard(person_id)
                self._recount_live()

    async def _timer_loop(self) -> None:
        while True:
            person_id = await self._next_due(self._timers, self._timer_wake)
            person = self._people[person_id]
            until = person.quarantined_until
            if until is not None and self._clock.monotonic() < until:
                self._timers.schedule(person_id, until)  # keep the quarantine's own retry
            elif self._needs_work(person):
                self._enqueue(person)
