"""The publish planner: what Teams should hold per person, and which Graph call is due next (pure).

h11's split: this module never touches Graph, the store, the budget or a clock. Time comes in as
arguments (``now``: monotonic seconds; ``wall``: an aware datetime); the workers in
``bridge.teams.publisher`` take a budget slot, run the :class:`~bridge.teams.plan_types.Call`
the planner names and hand the :class:`~bridge.teams.plan_types.Outcome` back. Rules, each in one
place:

- **Latest wins** (``desire``): one desired ``TeamsIntent`` per person, queued FIFO; nothing dropped.
- **Diff** (``next_call``): only the difference from what Graph confirmed, in this order: a preferred
  presence we own and no longer want (read first, clear only if Teams still shows it, else forget
  it: the user changed it; a reading of Offline/Offline means the user has no session at all, so no
  preferred presence can show and ours may still stand underneath: it is cleared); our session
  (``setPresence`` with ``session_expiry``, or ``clearPresence``, where "no session" counts as
  done); the preferred presence the intent asks for (``setUserPreferredPresence``, default expiry
  ``DEFAULT_PREFERRED_EXPIRY``), remembered as ours.
- **Flap coalescing** (``next_write``): at most two writes for one person in any ``flap_window``
  seconds. A change goes at once unless the person's last two writes both fall inside the window; it
  then waits until the older leaves it, and only the latest desired state is sent. One pass over a
  person costs one place in the window, however many calls it takes. Refreshes neither wait nor count.
- **Refresh, earliest deadline first** (``next_refresh``): a live session we want is re-set
  ``refresh_interval`` after it was sent, from the budget's refresh reserve.
- **Restore after a restart** (``restore``): a stored session still unexpired is ours again; a
  confirmed one the intent still wants is refreshed no sooner than ``RESTORE_GRACE`` (the adapters'
  resync may clear it) unless it expires first (then ``RESTORE_MARGIN`` before); one nobody wants is
  cleared; an unconfirmed one is sent again at once (see write-ahead).
- **Write-ahead** (``begin``): before every write (not a refresh) the value it is about to set or
  clear is persisted as *unconfirmed*, and becomes confirmed only with Graph's answer. A bridge
  stopped mid-request therefore knows it may own something whose content Graph never confirmed:
  after the restart such a session or preferred presence is re-sent at once if still wanted (every
  write is idempotent) or cleared blindly if not (our own session always may be), never trusted
  until its next refresh. A write that failed stays unconfirmed the same way.
- **Outcomes** (``outcome``): ok -> CONNECTED; a 429 (after the client's retries, each waiting
  Graph's Retry-After) -> the person is retried first, paced by the budget (cut by the 429s), and no
  tenant pause: none can outlast a Retry-After; a 5xx or a dropped connection ->
  TRANSIENT_DISCONNECT and *that person* backs off (jittered exponential, ceilings 2, 4 ... 60 s,
  reset by their next success) while everyone else goes on; auth -> BAD_CREDENTIALS with the
  ``bad_credentials`` alarm and a growing tenant pause (``AUTH_BACKOFF``: the first retry within a
  minute, then doubling to 15 minutes), cut short by ``retry_now`` (the credential file changed,
  SIGHUP); any other 4xx -> the person is failed and not retried until an intent that differs, and
  after ``quarantine_after`` failures quarantined for ``quarantine_backoff`` seconds (then retried).
- **DND capability**: the first DoNotDisturb/Presenting write answered 400 (while support is not
  confirmed) switches the tenant to Busy/InACall, raises ``dnd_presenting_unsupported`` and is
  remembered; the first one accepted confirms support.
- **Release** (``releasing``): every session and preferred presence we own is cleared (preferred
  only while still shown); failures are logged and the next person goes on.
"""

from __future__ import annotations

import logging
import random
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum
from typing import Final

from bridge.kit.backoff import Backoff
from bridge.kit.health import Health
from bridge.presence import IN_A_CALL, OFFLINE, PRESENTING, Pair, TeamsIntent
from bridge.teams.ownership import PublishedRecord
from bridge.teams.plan_types import Call, Effects, Kind, Note, Op, Outcome, PublishView, Result, Start
from bridge.teams.refresh import DeadlineQueue

ALARM_DND_UNSUPPORTED: Final = "dnd_presenting_unsupported"
ALARM_REFRESH_CAPACITY: Final = "refresh_capacity_exceeded"
ALARM_BAD_CREDENTIALS: Final = "bad_credentials"
# A session restored after a restart is not refreshed before the adapters' resync snapshot had a
# chance to say whether it is still wanted (most are cleared or changed by it), unless its expiry
# comes sooner: then it is refreshed this long before it lapses.
RESTORE_GRACE: Final = 60.0  # seconds
RESTORE_MARGIN: Final = 120.0  # seconds before the restored session's expiry
DEFAULT_PREFERRED_EXPIRY: Final = timedelta(hours=8)
TRANSIENT_BACKOFF: Final = (2.0, 60.0)  # seconds: one person's first ceiling, cap
AUTH_BACKOFF: Final = (60.0, 900.0)  # seconds: the tenant's first ceiling (a delay in [30, 60]), cap
IN_FLIGHT_RECHECK: Final = 0.05  # seconds: a person queued while a call of theirs is in flight
REFRESH_IN_FLIGHT_RECHECK: Final = 0.5  # seconds: a refresh due while a write of theirs is in flight
RECOUNT_EVERY: Final = 1.0  # seconds between walks over every person to count live sessions
_NEVER = float("-inf")


class _Mode(IntEnum):
    WRITE = 0
    REFRESH = 1
    RELEASE = 2


class _Stage(IntEnum):
    """One pass over a person, in order; each stage sends at most its own calls."""

    DROP_PREFERRED = 0
    SESSION = 1
    SET_PREFERRED = 2
    DONE = 3


@dataclass(slots=True)
class _Person:
    id: str
    desired: TeamsIntent | None = None
    cause: str = ""
    session: Pair | None = None  # as sent (after the DND fallback); see session_unsure
    session_sent_at: float = 0.0
    session_deadline: float = 0.0  # when Graph drops it unless refreshed
    session_unsure: bool = False  # a write of it was not confirmed: Graph may hold it or not
    preferred: Pair | None = None  # a preferred presence we own
    preferred_expires_at: datetime | None = None
    preferred_unsure: bool = False  # a write of it was not confirmed
    last_request_id: str | None = None
    dirty_since: float | None = None
    failed: str | None = None
    failed_intent: TeamsIntent | None = None
    failures: int = 0
    quarantined_until: float | None = None
    retries: int = 0  # 5xx / dropped connections in a row (their own backoff)
    retry_at: float = _NEVER  # no write for this person before (their backoff)
    wrote_at: tuple[float, float] = (_NEVER, _NEVER)  # the last two writes


@dataclass(slots=True)
class _Turn:
    """A worker's pass over one person (the person is in flight until ``finish``)."""

    mode: _Mode
    stage: _Stage = _Stage.DROP_PREFERRED
    noted: bool = False  # this pass took its place in the flap window
    still_shown: bool = False  # the read said our preferred presence is still what Teams shows
    error: Result | None = None


def _decision(person: _Person, sent: str, request_id: str | None) -> Note:
    intent = person.desired
    desired = "none" if intent is None else f"session={intent.session} preferred={intent.preferred}"
    return Note(
        logging.INFO,
        "publish person=%s cause=%s desired=%s sent=%s request_id=%s",
        (person.id, person.cause, desired, sent, request_id),
    )


class Planner:
    """Per tenant. Pure: every method takes the time it needs; nothing awaits or does I/O."""

    def __init__(
        self,
        *,
        tenant: str,
        session_expiry: timedelta = timedelta(minutes=15),
        refresh_interval: float = 240.0,
        presenting_supported: bool | None = None,
        auth_backoff: tuple[float, float] = AUTH_BACKOFF,
        quarantine_backoff: float = 3600.0,
        quarantine_after: int = 3,
        flap_window: float = 1.0,
        rng: random.Random | None = None,
    ) -> None:
        self.tenant = tenant
        self.expiry = session_expiry
        self.interval = refresh_interval
        self.presenting_supported = presenting_supported
        self.quarantine_backoff = quarantine_backoff
        self.quarantine_after = quarantine_after
        self.flap_window = max(0.0, flap_window)
        self.health = Health.CONNECTING
        self.pause_until = 0.0
        self.alarms: set[str] = set()
        self.live = 0  # live sessions at the last recount
        self._last_recount = _NEVER
        self._rng = rng or random.Random()
        self._auth_backoff = Backoff(*auth_backoff, rng=self._rng)
        self._people: dict[str, _Person] = {}
        self._queue: deque[str] = deque()
        self._queued: set[str] = set()
        self._turns: dict[str, _Turn] = {}
        self._refreshes = DeadlineQueue()
        self._timers = DeadlineQueue()  # flap holds, quarantine ends, in-flight rechecks
        self.counters: dict[str, int] = dict.fromkeys(
            (
                "set_presence",
                "clear_presence",
                "clear_presence_absent",
                "refreshes",
                "set_preferred",
                "clear_preferred",
                "preferred_left_to_user",
                "presence_reads",
                "person_failures",
                "quarantines",
                "transient_errors",
                "auth_errors",
                "store_errors",
                "desires",
                "writes_held",
            ),
            0,
        )

    # --- what should hold -----------------------------------------------------------------------

    def target(self, intent: TeamsIntent | None) -> Pair | None:
        """The session to hold for an intent, after the tenant's DND fallback."""
        if intent is None or intent.session is None:
            return None
        if intent.session == PRESENTING and self.presenting_supported is False:
            return IN_A_CALL
        return intent.session

    def desire(self, person_id: str, intent: TeamsIntent, cause: str, now: float) -> bool:
        """Record what Teams should hold (latest wins); True when the person was queued for a write."""
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
        if self._needs_work(person, now):
            if person.dirty_since is None:
                person.dirty_since = now
            return self._enqueue(person, now)
        person.dirty_since = None
        return False

    def restore(
        self, records: Iterable[PublishedRecord], now: float, wall: datetime
    ) -> list[PublishedRecord]:
        """Take back what a previous run owned; returns the records to persist (all of it expired)."""
        save: list[PublishedRecord] = []
        for record in records:
            person = self._person(record.person_id)
            if record.session is not None and record.session_expires_at is not None:
                left = (record.session_expires_at - wall).total_seconds()
                if left > 0:
                    person.session = record.session
                    person.session_deadline = now + left
                    person.session_sent_at = person.session_deadline - self.expiry.total_seconds()
                    person.session_unsure = not record.session_confirmed
            if record.preferred is not None and (
                record.preferred_expires_at is None or record.preferred_expires_at > wall
            ):
                person.preferred = record.preferred
                person.preferred_expires_at = record.preferred_expires_at
                person.preferred_unsure = not record.preferred_confirmed
            if person.session is None and person.preferred is None:
                save.append(self._record(person, now, wall))
            if person.desired is None:
                person.desired = TeamsIntent(reason="not wanted after restart")
                person.cause = "restart"
            if self._live_session(person, now) is not None and self.target(person.desired) == person.session:
                grace = min(now + RESTORE_GRACE, person.session_deadline - RESTORE_MARGIN)
                self._schedule_refresh(person, now, not_before=grace)
            if self._needs_work(person, now):
                person.dirty_since = now
                self._enqueue(person, now)
        return save

    # --- which call is due ------------------------------------------------------------------------

    def next_write(self, now: float) -> Call | float | None:
        """The first call of the next person due a write (now in flight), else when to look again
        (None: not before a new intent)."""
        while (due := self._timers.pop_due(now)) is not None:
            person = self._people[due]
            until = person.quarantined_until
            if until is not None and now < until:
                self._timers.schedule(due, until)  # keep the quarantine's own retry
            elif self._needs_work(person, now):
                self._enqueue(person, now)
        if self._queue and now < self.pause_until:
            return self.pause_until
        while self._queue:
            person = self._people[self._queue.popleft()]
            self._queued.discard(person.id)
            if person.id in self._turns:
                self._timers.schedule(person.id, now + IN_FLIGHT_RECHECK)
                continue
            if not self._needs_work(person, now):
                person.dirty_since = None
                continue
            if person.retry_at > now:  # backing off after a 5xx or a drop: their timer looks again
                self._timers.schedule(person.id, person.retry_at)
                continue
            if (held_until := person.wrote_at[0] + self.flap_window) > now:
                self.counters["writes_held"] += 1  # flapping: the timer looks again when allowed
                self._timers.schedule(person.id, held_until)
                continue
            self._turns[person.id] = _Turn(_Mode.WRITE)
            call = self.next_call(person.id, now)
            if call is not None:
                return call
            self._turns.pop(person.id)
        return self._timers.next_due()

    def next_refresh(self, now: float) -> Call | float | None:
        """The refresh whose deadline came first (now in flight), else when to look again."""
        while True:
            if now < self.pause_until:
                return self.pause_until
            person_id = self._refreshes.pop_due(now)
            if person_id is None:
                return self._refreshes.next_due()
            person = self._people[person_id]
            session = self._live_session(person, now)
            if session is None or self.target(person.desired) != session:
                if self._needs_work(person, now):
                    self._enqueue(person, now)  # the write path owns this person now
                continue
            if person_id in self._turns:
                self._refreshes.schedule(person_id, now + REFRESH_IN_FLIGHT_RECHECK)
                continue
            self._turns[person_id] = _Turn(_Mode.REFRESH, stage=_Stage.DONE)
            return Call(person_id, Op.SET_PRESENCE, Kind.REFRESH, session, self.expiry, refresh=True)

    def releasing(self, records: Iterable[PublishedRecord], now: float) -> list[str]:
        """Adopt every stored record (blind clears of our own session are safe); returns the people
        who own something, each to be passed to ``take_release`` in turn."""
        for record in records:
            person = self._person(record.person_id)
            person.session = person.session or record.session
            person.session_deadline = max(person.session_deadline, now + 1)
            if person.preferred is None:
                person.preferred = record.preferred
                person.preferred_expires_at = record.preferred_expires_at
        return [p.id for p in self._people.values() if p.session is not None or p.preferred is not None]

    def take_release(self, person_id: str) -> None:
        self._turns[person_id] = _Turn(_Mode.RELEASE)

    def next_call(self, person_id: str, now: float) -> Call | None:
        """The next call of this person's pass, or None when the pass is over (then ``finish``)."""
        turn, person = self._turns[person_id], self._people[person_id]
        release = turn.mode is _Mode.RELEASE
        intent = person.desired
        while turn.stage is not _Stage.DONE and turn.error is None:
            if turn.stage is _Stage.DROP_PREFERRED:
                if person.preferred is not None and (
                    release or (intent is not None and intent.preferred is None)
                ):
                    if not turn.still_shown:
                        return Call(person_id, Op.READ_PRESENCE, Kind.READ)
                    return Call(person_id, Op.CLEAR_PREFERRED, pair=person.preferred)
            elif turn.stage is _Stage.SESSION:
                if release:
                    if person.session is not None:
                        return Call(person_id, Op.CLEAR_PRESENCE)
                elif self._session_due(person, (target := self.target(person.desired)), now):
                    if target is None:
                        return Call(person_id, Op.CLEAR_PRESENCE)
                    return Call(person_id, Op.SET_PRESENCE, pair=target, expiry=self.expiry)
            elif not release:
                intent = person.desired
                if (
                    intent is not None
                    and intent.preferred is not None
                    and (intent.preferred != person.preferred or person.preferred_unsure)
                ):
                    expiry = intent.preferred_expiry or DEFAULT_PREFERRED_EXPIRY
                    return Call(person_id, Op.SET_PREFERRED, pair=intent.preferred, expiry=expiry)
            turn.stage = _Stage(turn.stage + 1)
        return None

    # --- sending and outcomes ---------------------------------------------------------------------

    def begin(self, call: Call, now: float, wall: datetime) -> Start:
        """The worker holds a budget slot and is about to send ``call``."""
        person, turn = self._people[call.person_id], self._turns[call.person_id]
        if turn.mode is _Mode.REFRESH:
            wanted = self._live_session(person, now) == call.pair == self.target(person.desired)
            return Start(send=wanted)
        if call.kind is Kind.WRITE and turn.mode is _Mode.WRITE and not turn.noted:
            turn.noted = True
            person.wrote_at = (person.wrote_at[1], now)
        return Start(save=self._write_ahead(person, call, now, wall))

    def outcome(self, call: Call, outcome: Outcome, now: float, wall: datetime) -> Effects:
        """How the call ended; returns what to persist, the health change and what to log."""
        person, turn = self._people[call.person_id], self._turns[call.person_id]
        if outcome.result is Result.OK:
            return self._ok(person, turn, call, outcome, now, wall)
        if outcome.result is Result.REFUSED and self._dnd_refused(call, outcome):
            self.presenting_supported = False
            self.alarms.add(ALARM_DND_UNSUPPORTED)
            if turn.mode is _Mode.REFRESH:
                turn.error = outcome.result  # the write path sends the fallback
            note = Note(
                logging.WARNING,
                "tenant %s: Graph refused DoNotDisturb/Presenting (code=%s request_id=%s); "
                "DND shows as Busy/InACall from now on",
                (self.tenant, outcome.code, outcome.request_id),
            )
            return Effects(notes=(note,))
        turn.error = outcome.result
        if turn.mode is not _Mode.RELEASE and self._person_backs_off(outcome):
            person.retries += 1
            backoff = Backoff(*TRANSIENT_BACKOFF, rng=self._rng, attempt=person.retries - 1)
            person.retry_at = now + backoff.next()
        if turn.mode is _Mode.RELEASE:
            if outcome.result is Result.AUTH:
                return self.tenant_outcome(outcome, now)
            note = Note(
                logging.WARNING,
                "release person=%s failed: status=%s code=%s request_id=%s",
                (person.id, outcome.status, outcome.code, outcome.request_id),
            )
            return Effects(notes=(note,))
        if outcome.result is Result.REFUSED:
            return Effects(notes=self._person_failed(person, outcome, now))
        retry_at = max(now, person.retry_at)
        if turn.mode is _Mode.REFRESH:
            self._refreshes.schedule(person.id, retry_at)  # again after their backoff or the pause
        return self.tenant_outcome(outcome, now, retry_in=retry_at - now)

    def tenant_outcome(self, outcome: Outcome, now: float, *, retry_in: float = 0.0) -> Effects:
        """An outcome that speaks for the tenant (also the start-up credential check)."""
        if outcome.result is Result.OK:
            self._auth_backoff.reset()
            return Effects(health=self._health_to(Health.CONNECTED, "Graph calls succeed"))
        if outcome.result is Result.AUTH:
            self.counters["auth_errors"] += 1
            pause = self._auth_backoff.next()
            self.pause_until = now + pause
            detail = (
                f"{outcome.detail}; retrying in {pause:.0f} s, or at once when the credential file"
                " changes or on SIGHUP (check the credential and Presence.ReadWrite.All)"
            )
            return Effects(health=self._health_to(Health.BAD_CREDENTIALS, detail))
        self.counters["transient_errors"] += 1
        detail = f"{outcome.detail}; retrying in {retry_in:.0f} s" if retry_in >= 1 else outcome.detail
        return Effects(health=self._health_to(Health.TRANSIENT_DISCONNECT, detail))

    def retry_now(self, now: float) -> bool:
        """End a BAD_CREDENTIALS pause at once (the credential changed, or SIGHUP); True if one ended."""
        if self.health is not Health.BAD_CREDENTIALS or self.pause_until <= now:
            return False
        self.pause_until = now
        return True

    @staticmethod
    def _person_backs_off(outcome: Outcome) -> bool:
        """A 5xx or a dropped connection is that request's trouble: its person backs off. A 429 was
        already waited out by its request (Retry-After) and cut the budget: the person goes again."""
        if outcome.result is Result.UNAVAILABLE:
            return True
        return outcome.result is Result.THROTTLED and outcome.status != 429

    def finish(self, person_id: str, now: float, wall: datetime) -> PublishedRecord | None:
        """The pass is over (or cancelled); returns a record to persist (release forgets the intent)."""
        turn = self._turns.pop(person_id)
        person = self._people[person_id]
        if turn.mode is _Mode.RELEASE:
            person.desired = None
            return self._record(person, now, wall)
        if turn.mode is _Mode.WRITE and turn.error is None and turn.stage is _Stage.DONE:
            person.failures = 0
            person.failed = None
        if turn.mode is _Mode.WRITE and turn.error in (Result.THROTTLED, Result.UNAVAILABLE, Result.AUTH):
            self._enqueue(person, now, front=True)  # first again (their backoff, if any, still holds)
        if self._needs_work(person, now):
            self._enqueue(person, now)
        elif turn.mode is _Mode.WRITE and person.failed_intent is None:
            person.dirty_since = None
        return None

    # --- reading the plan -------------------------------------------------------------------------

    def record(self, person_id: str, now: float, wall: datetime) -> PublishedRecord:
        """What we own for one person now (persisted again after the store failed to take it)."""
        return self._record(self._person(person_id), now, wall)

    def view(self, person_id: str, now: float) -> PublishView:
        person = self._people.get(person_id) or _Person(person_id)
        pending = self._needs_work(person, now)
        since = person.dirty_since
        return PublishView(
            desired=person.desired,
            cause=person.cause,
            sent_session=self._live_session(person, now),
            sent_preferred=person.preferred,
            last_request_id=person.last_request_id,
            pending=pending,
            staleness=(now - since) if pending and since is not None else 0.0,
            failed=person.failed,
            quarantined=self._quarantined(person, now),
        )

    def summary(self, now: float) -> dict[str, float]:
        """The publisher's statistics: counters, backlog, staleness, live sessions (as last recounted)."""
        pending = [p for p in self._people.values() if self._needs_work(p, now)]
        stalest = max((now - p.dirty_since for p in pending if p.dirty_since is not None), default=0.0)
        return {
            **{f"publisher_{name}": float(count) for name, count in self.counters.items()},
            "publisher_live_sessions": float(self.live),
            "publisher_people": float(len(self._people)),
            "publisher_pending": float(len(pending)),
            "publisher_max_staleness_seconds": stalest,
            "publisher_quarantined": float(sum(self._quarantined(p, now) for p in self._people.values())),
            "publisher_alarms": float(len(self.alarms)),
            "publisher_queued": float(len(self._queue)),
            "publisher_in_flight": float(len(self._turns)),
        }

    @property
    def queued(self) -> int:
        return len(self._queue)

    def recount(self, now: float, *, force: bool = False) -> int | None:
        """Count the sessions of ours Graph still holds, at most once a second (it walks every
        person) unless forced; None when skipped."""
        if not force and now - self._last_recount < RECOUNT_EVERY:
            return None
        self._last_recount = now
        self.live = sum(
            1
            for p in self._people.values()
            if p.session is not None and now < p.session_deadline and not p.session_unsure
        )
        return self.live

    def refresh_capacity(self, live: int, capacity: float, over: bool) -> Effects:
        """Raise or clear the refresh capacity alarm (DESIGN 13); logged on a change only."""
        if over and ALARM_REFRESH_CAPACITY not in self.alarms:
            self.alarms.add(ALARM_REFRESH_CAPACITY)
            message = "tenant %s: %d live sessions exceed the refresh capacity of %.0f; raise the budget"
            return Effects(notes=(Note(logging.WARNING, message, (self.tenant, live, capacity)),))
        if not over and ALARM_REFRESH_CAPACITY in self.alarms:
            self.alarms.discard(ALARM_REFRESH_CAPACITY)
            message = "tenant %s: live sessions back within refresh capacity"
            return Effects(notes=(Note(logging.INFO, message, (self.tenant,)),))
        return Effects()

    # --- rules behind the steps -------------------------------------------------------------------

    def _ok(
        self, person: _Person, turn: _Turn, call: Call, outcome: Outcome, now: float, wall: datetime
    ) -> Effects:
        notes: list[Note] = []
        person.retries, person.retry_at = 0, _NEVER
        if call.op is not Op.READ_PRESENCE:
            person.last_request_id = outcome.request_id
        if call.op is Op.SET_PRESENCE:
            assert call.pair is not None
            if call.pair == PRESENTING and self.presenting_supported is None:
                self.presenting_supported = True
                notes.append(
                    Note(logging.INFO, "tenant %s: Graph accepts DoNotDisturb/Presenting", (self.tenant,))
                )
            person.session = call.pair
            person.session_unsure = False
            person.session_sent_at = now
            person.session_deadline = now + self.expiry.total_seconds()
            self.counters["refreshes" if call.refresh else "set_presence"] += 1
            self._schedule_refresh(person, now)
            if call.refresh:
                notes.append(
                    Note(
                        logging.DEBUG,
                        "refresh person=%s session=%s request_id=%s",
                        (person.id, call.pair, outcome.request_id),
                    )
                )
            else:
                notes.append(_decision(person, f"setPresence {call.pair}", outcome.request_id))
        elif call.op is Op.CLEAR_PRESENCE:
            self.counters["clear_presence" if outcome.found else "clear_presence_absent"] += 1
            person.session = None
            person.session_unsure = False
            person.session_deadline = 0.0
            self._refreshes.cancel(person.id)
            notes.append(_decision(person, "clearPresence", outcome.request_id))
        elif call.op is Op.READ_PRESENCE:
            self.counters["presence_reads"] += 1
            ours = person.preferred
            if ours is not None and (ours.same(outcome.shown) or OFFLINE.same(outcome.shown)):
                turn.still_shown = True
                return Effects(health=self.tenant_outcome(outcome, now).health)
            self.counters["preferred_left_to_user"] += 1
            notes.append(
                Note(
                    logging.INFO,
                    "person=%s shows %s, not our preferred %s: the user changed it, leaving it",
                    (person.id, outcome.shown, ours),
                )
            )
            person.preferred, person.preferred_expires_at, person.preferred_unsure = None, None, False
        elif call.op is Op.CLEAR_PREFERRED:
            self.counters["clear_preferred"] += 1
            person.preferred, person.preferred_expires_at, person.preferred_unsure = None, None, False
            notes.append(_decision(person, "clearUserPreferredPresence", outcome.request_id))
        else:
            assert call.pair is not None and call.expiry is not None
            self.counters["set_preferred"] += 1
            person.preferred, person.preferred_expires_at = call.pair, wall + call.expiry
            person.preferred_unsure = False
            notes.append(_decision(person, f"setUserPreferredPresence {call.pair}", outcome.request_id))
        if turn.stage is not _Stage.DONE:
            turn.stage = _Stage(turn.stage + 1)
        return Effects(
            self._record(person, now, wall), self.tenant_outcome(outcome, now).health, tuple(notes)
        )

    def _dnd_refused(self, call: Call, outcome: Outcome) -> bool:
        """A 400 on DoNotDisturb/Presenting before support was confirmed: older Graph (DESIGN 13)."""
        return (
            call.op is Op.SET_PRESENCE
            and call.pair == PRESENTING
            and outcome.status == 400
            and self.presenting_supported is not True
        )

    def _person_failed(self, person: _Person, outcome: Outcome, now: float) -> tuple[Note, ...]:
        self.counters["person_failures"] += 1
        person.failures += 1
        person.failed = f"{outcome.status} {outcome.code or ''}".strip()
        person.failed_intent = person.desired
        notes = [
            Note(
                logging.WARNING,
                "publish person=%s failed: status=%s code=%s request_id=%s (not retried)",
                (person.id, outcome.status, outcome.code, outcome.request_id),
            )
        ]
        if person.failures >= self.quarantine_after:
            person.quarantined_until = now + self.quarantine_backoff
            person.failed_intent = None  # retried once the quarantine ends
            self.counters["quarantines"] += 1
            self._timers.schedule(person.id, person.quarantined_until)
            notes.append(
                Note(
                    logging.WARNING,
                    "person=%s quarantined for %.0f s after %d failures",
                    (person.id, self.quarantine_backoff, person.failures),
                )
            )
        return tuple(notes)

    def _health_to(self, health: Health, detail: str) -> tuple[Health, str] | None:
        """A health change (None when CONNECTED stays CONNECTED); trouble repeats are passed on."""
        if health is Health.CONNECTED and self.health is Health.CONNECTED:
            return None
        self.health = health
        if health is Health.BAD_CREDENTIALS:
            self.alarms.add(ALARM_BAD_CREDENTIALS)
        else:
            self.alarms.discard(ALARM_BAD_CREDENTIALS)
        return health, detail

    def _person(self, person_id: str) -> _Person:
        person = self._people.get(person_id)
        if person is None:
            person = self._people[person_id] = _Person(person_id)
        return person

    def _live_session(self, person: _Person, now: float) -> Pair | None:
        """The session Graph confirmed holding for us (an unconfirmed one is not counted on)."""
        if person.session is not None and now < person.session_deadline and not person.session_unsure:
            return person.session
        return None

    def _session_due(self, person: _Person, target: Pair | None, now: float) -> bool:
        """A session write is due: the target differs from what Graph confirmed, or nothing is
        wanted while Graph may still hold an unconfirmed session of ours (cleared blindly)."""
        if target != self._live_session(person, now):
            return True
        return target is None and person.session_unsure and now < person.session_deadline

    def _needs_work(self, person: _Person, now: float) -> bool:
        intent = person.desired
        if intent is None or person.failed_intent is intent:
            return False
        if self._session_due(person, self.target(intent), now):
            return True
        if intent.preferred is not None and person.preferred_unsure:
            return True
        return intent.preferred != person.preferred

    def _write_ahead(self, person: _Person, call: Call, now: float, wall: datetime) -> PublishedRecord | None:
        """Before a write: mark what it touches unconfirmed (a set also names the value it may
        leave behind), in memory and in the record to persist; None for reads and refreshes."""
        if call.refresh or call.op is Op.READ_PRESENCE:
            return None
        if call.op is Op.SET_PRESENCE:
            person.session = call.pair
            person.session_deadline = now + self.expiry.total_seconds()
            person.session_unsure = True
        elif call.op is Op.CLEAR_PRESENCE:
            person.session_unsure = True
        elif call.op is Op.SET_PREFERRED:
            assert call.expiry is not None
            person.preferred, person.preferred_expires_at = call.pair, wall + call.expiry
            person.preferred_unsure = True
        else:
            person.preferred_unsure = True
        return self._record(person, now, wall)

    def _quarantined(self, person: _Person, now: float) -> bool:
        until = person.quarantined_until
        return until is not None and now < until

    def _enqueue(self, person: _Person, now: float, *, front: bool = False) -> bool:
        if person.id in self._queued or self._quarantined(person, now):
            return False
        self._queued.add(person.id)
        if front:
            self._queue.appendleft(person.id)
        else:
            self._queue.append(person.id)
        return True

    def _schedule_refresh(self, person: _Person, now: float, *, not_before: float = 0.0) -> None:
        self._refreshes.schedule(person.id, max(now, person.session_sent_at + self.interval, not_before))

    def _record(self, person: _Person, now: float, wall: datetime) -> PublishedRecord:
        expires = None
        if person.session is not None:
            expires = wall + timedelta(seconds=person.session_deadline - now)
        return PublishedRecord(
            person.id,
            self.tenant,
            person.session,
            expires,
            person.preferred,
            person.preferred_expires_at,
            session_confirmed=not person.session_unsure,
            preferred_confirmed=not person.preferred_unsure,
        )
