"""The Graph publisher: thin async workers around the pure publish planner (``bridge.teams.planner``).

The planner owns every rule (diff, flap coalescing, refresh deadlines, restore grace, quarantine, DND
fallback, preferred ownership, health). Workers here wait until it names a call (or a new intent
arrives), take a budget slot of the call's kind, persist the write-ahead record, run the Graph call,
turn Graph's errors into an ``Outcome`` and apply the ``Effects`` it answers with (persist, the one
health setter, log). The workers run in one TaskGroup under ``run()``.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from datetime import timedelta

from bridge.errors import GraphError, StoreError
from bridge.kit.clock import Clock, sleep_or_wake
from bridge.kit.health import Health, HealthTracker
from bridge.presence import TeamsIntent
from bridge.teams.budget import Budget
from bridge.teams.graph import GraphClient
from bridge.teams.graph_calls import send
from bridge.teams.ownership import PublishedRecord, PublishedStore
from bridge.teams.persist import RecordWriter
from bridge.teams.plan_types import Call, Effects, Op, Outcome, PublishView, Result
from bridge.teams.planner import AUTH_BACKOFF, Planner
from bridge.teams.release import RELEASE_RETRY_FOR, Released, release_rounds

log = logging.getLogger(__name__)

_CLEARS = frozenset({Op.CLEAR_PRESENCE, Op.CLEAR_PREFERRED})


class Publisher:
    def __init__(
        self,
        *,
        tenant: str,
        client_id: str,
        graph: GraphClient,
        budget: Budget,
        store: PublishedStore,
        clock: Clock,
        session_expiry: timedelta = timedelta(minutes=15),
        refresh_interval: float = 240.0,
        presenting_supported: bool | None = None,
        workers: int = 4,
        auth_backoff: tuple[float, float] = AUTH_BACKOFF,
        quarantine_backoff: float = 3600.0,
        quarantine_after: int = 3,
        flap_window: float = 1.0,
        rng: random.Random | None = None,
    ) -> None:
        self.tenant, self._session_id, self._workers = tenant, client_id, max(1, workers)
        self._graph, self._budget, self._store, self._clock = graph, budget, store, clock
        self._flap_window, self._rng = max(0.0, flap_window), rng or random.Random()
        self._plan = Planner(
            tenant=tenant,
            session_expiry=session_expiry,
            refresh_interval=refresh_interval,
            presenting_supported=presenting_supported,
            auth_backoff=auth_backoff,
            quarantine_backoff=quarantine_backoff,
            quarantine_after=quarantine_after,
            flap_window=self._flap_window,
            rng=self._rng,
        )
        self._work, self._refresh_wake = asyncio.Event(), asyncio.Event()  # new writes / new refreshes
        self._reconciled = False
        self.alarms: set[str] = self._plan.alarms
        self.counters: dict[str, int] = self._plan.counters
        self._writer = RecordWriter(tenant, store, clock, self.counters, self._current)
        self.health_listeners: list[Callable[[Health], None]] = []  # called on every transition
        self._health = HealthTracker(
            f"tenant {tenant}: Graph", log, initial=Health.CONNECTING, on_change=self._tell_listeners
        )

    # --- public surface ---------------------------------------------------------------------

    @property
    def health(self) -> Health:
        return self._health.state

    @property
    def presenting_supported(self) -> bool | None:
        """None until the first DoNotDisturb/Presenting write tells (or the config said)."""
        return self._plan.presenting_supported

    def desire(self, person_id: str, intent: TeamsIntent, cause: str) -> None:
        """What Teams should hold for a person; latest wins, never dropped."""
        if self._plan.desire(person_id, intent, cause, self._clock.monotonic()):
            self._work.set()

    def retry_credentials(self) -> bool:
        """A refused credential is tried again now (its file changed, SIGHUP), not after the pause."""
        if retry := self._plan.retry_now(self._clock.monotonic()):
            self._work.set()
            self._refresh_wake.set()
        return retry

    def view(self, person_id: str) -> PublishView:
        return self._plan.view(person_id, self._clock.monotonic())

    def stats(self) -> dict[str, float]:
        graph = {f"graph_{k}": float(v) for k, v in self._graph.counters.items()}
        return {**self._plan.summary(self._clock.monotonic()), **graph, **self._budget.stats()}

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
        for record in self._plan.restore(records.values(), self._clock.monotonic(), self._clock.now()):
            self._writer.save(record)
        self._recount_live(force=True)
        log.info("tenant %s: reconciled %d people from the state store", self.tenant, len(records))
        return len(records)

    async def run(self) -> None:
        """Publish until cancelled (write and refresh workers)."""
        await self.check_credentials()
        self.reconcile()
        async with asyncio.TaskGroup() as group:
            for n in range(self._workers):
                group.create_task(
                    self._worker(self._plan.next_write, self._work), name=f"publisher-{self.tenant}-write-{n}"
                )
                group.create_task(
                    self._worker(self._plan.next_refresh, self._refresh_wake),
                    name=f"publisher-{self.tenant}-refresh-{n}",
                )

    async def release(self, retry_for: float = RELEASE_RETRY_FOR) -> Released:
        """Clear every session and preferred presence we own (per the store), retrying the people
        whose clear failed (Graph 503, a dropped connection...) with backoff for up to
        ``retry_for`` seconds; returns how many clears were sent and what is still set.

        For decommissioning and the panic button: stop ``run()`` first, or it re-publishes.
        """
        self.reconcile()
        records = self._store.load_published(self.tenant).values()
        pending = self._plan.releasing(records, self._clock.monotonic())
        released = await release_rounds(
            self.tenant, pending, self._release_one, self._current, self._clock, self._rng, retry_for
        )
        self._recount_live(force=True)
        return released

    async def _release_one(self, person_id: str) -> int:
        """One release pass over a person; returns the clears Graph confirmed."""
        sent = 0
        self._plan.take_release(person_id)
        try:
            while (call := self._plan.next_call(person_id, self._clock.monotonic())) is not None:
                outcome = await self._attempt(call)
                if outcome.result is Result.AUTH and outcome.error is not None:
                    raise outcome.error
                sent += outcome.result is Result.OK and call.op in _CLEARS
        finally:
            record = self._plan.finish(person_id, self._clock.monotonic(), self._clock.now())
            if record is not None:
                self._writer.save(record)
        return sent

    # --- workers ----------------------------------------------------------------------------------

    async def _worker(self, next_due: Callable[[float], Call | float | None], wake: asyncio.Event) -> None:
        """Run whatever ``next_due`` names; otherwise sleep until it says, or until woken."""
        while True:
            now = self._clock.monotonic()
            due = next_due(now)
            if isinstance(due, Call):
                wake.set()  # idle siblings look again: the planner may have set a timer meanwhile
                await self._turn(due)
                continue
            wake.clear()
            await sleep_or_wake(self._clock, None if due is None else max(0.0, due - now), wake)

    async def _turn(self, first: Call) -> None:
        """One pass over a person: the planner's calls one after another until it says done."""
        person_id = first.person_id
        call: Call | None = first
        try:
            while call is not None:
                await self._attempt(call)
                call = self._plan.next_call(person_id, self._clock.monotonic())
        finally:
            self._plan.finish(person_id, self._clock.monotonic(), self._clock.now())
            self._recount_live()
            if self._plan.queued:
                self._work.set()
            self._refresh_wake.set()

    async def _attempt(self, call: Call) -> Outcome:
        """Take a budget slot, persist the write-ahead record, send, and apply the planner's answer."""
        await self._budget.acquire(call.kind)
        start = self._plan.begin(call, self._clock.monotonic(), self._clock.now())
        if start.save is not None:
            self._writer.save(start.save)
        if not start.send:
            return Outcome()
        try:
            outcome = await send(self._graph, self._session_id, call)
        except GraphError as exc:
            outcome = Outcome.failed(exc)
        self._apply(self._plan.outcome(call, outcome, self._clock.monotonic(), self._clock.now()))
        return outcome

    async def check_credentials(self) -> None:
        """Fetch a token (no presence budget spent): CONNECTED, or BAD_CREDENTIALS with its pause."""
        outcome = Outcome()
        try:
            await self._graph.ensure_token()
        except GraphError as exc:
            outcome = Outcome.failed(exc)  # anything but AUTH is transient to the planner here
        self._apply(self._plan.tenant_outcome(outcome, self._clock.monotonic()))

    def _apply(self, effects: Effects) -> None:
        for note in effects.notes:
            log.log(note.level, note.message, *note.args)
        if effects.save is not None:
            self._writer.save(effects.save)
        if effects.health is not None:
            self._health.set(*effects.health)

    def _tell_listeners(self, health: Health, _detail: str) -> None:
        for listener in self.health_listeners:
            listener(health)

    def _current(self, person_id: str) -> PublishedRecord:
        return self._plan.record(person_id, self._clock.monotonic(), self._clock.now())

    def _recount_live(self, *, force: bool = False) -> None:
        """Feed the budget's refresh reserve and the capacity alarm (at most once a second)."""
        live = self._plan.recount(self._clock.monotonic(), force=force)
        if live is not None:
            self._budget.set_refresh_demand(live)
            self._apply(self._plan.refresh_capacity(live, self._budget.capacity, self._budget.over_capacity))
