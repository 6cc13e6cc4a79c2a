"""Teams -> PBX watcher (DESIGN 8): polls Graph presence and turns it into PBX write-back commands.

One ``Watcher`` per tenant. Each round reads every watched person through ``getPresencesByUserId``
in shards of 650 ids, each shard taking a ``Kind.READ`` slot from the tenant's budget first, feeds
each person's observation through the pure policy (``bridge.writeback.observe``) and hands the
resulting commands to ``apply(person_key, commands)``; the runtime routes them to the adapters.

Reads never starve our writes: a round's reads may use at most ``READ_SHARE`` of the current
(AIMD-cut) budget limit, so the interval stretches to ``shards x window / (READ_SHARE x limit)``
when that is longer than the configured one; and while the budget window is more than
``BUSY_FRACTION`` used, each round doubles a slow-down factor (up to ``MAX_SLOWDOWN``), halving it
again once the window is quiet. A Graph failure is logged once (recovery once), and the next round
waits ``interval x 2^failures`` (capped at ``MAX_BACKOFF``).

Hold-down: when ``ours(object_id)`` (the session the publisher holds) differs from the last round,
or changed while the read was on its way (sampled before the request and after the answer, so the
first round after a start is covered too), we just wrote: observations until ``HOLD_DOWN`` seconds
later are read-after-write echoes, ignored. ``ours`` answers ``UNSURE`` while Graph may hold either
of two sessions of ours (a write in flight or unconfirmed, a restart not yet reconciled): a reading
then proves nothing about the person and is ignored the same way, so our own session (our PBX DND
one included) is never copied back to the PBX.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Final, Literal, NamedTuple

from bridge.errors import BridgeError, GraphError
from bridge.kit.backoff import Backoff
from bridge.kit.clock import Clock
from bridge.model import WriteBack
from bridge.presence import Pair
from bridge.teams.budget import Budget, Kind
from bridge.teams.graph import PRESENCE_IDS_PER_REQUEST, GraphClient
from bridge.teams.plan_types import PublishView
from bridge.writeback import Observation, PbxIntent, WatchState, observe, pbx_dnd_event, release

log = logging.getLogger(__name__)

READ_SHARE = 0.25  # of the budget limit a round of reads may use per window
BUSY_FRACTION = 0.5  # window use above which the watcher slows down
MAX_SLOWDOWN = 8.0
MAX_BACKOFF = 300.0  # seconds between rounds while Graph keeps failing
HOLD_DOWN = 5.0  # seconds after noticing our own write during which Teams is not believed


class Unsure(Enum):
    """What ``ours`` answers when Graph may hold either of two sessions of ours."""

    UNSURE = "unsure"


UNSURE: Final = Unsure.UNSURE
Ours = Pair | None | Literal[Unsure.UNSURE]


def held_for_us(view: PublishView, reconciled: bool) -> Ours:
    """What of ours a reading of Teams may show now, from the publisher's view of a person
    (``PublishView.ours``: a preferred presence of ours, else our session), or ``UNSURE`` while a
    write is due or in flight (Teams may show the old value or the new one) or before the publisher
    has taken back what a previous run left."""
    if view.pending or not reconciled:
        return UNSURE
    return view.ours


class Endpoint(NamedTuple):
    """Where one person's write-back goes. ``shared`` endpoints get routable state, never PBX DND."""

    adapter: str
    extension: str
    context: str = ""
    shared: bool = False


class AdapterCommand(NamedTuple):
    """A write-back command and the adapter (by name) that should apply it."""

    adapter: str
    command: WriteBack


@dataclass(frozen=True, slots=True)
class WatchedPerson:
    object_id: str
    key: str  # PersonConfig.key
    endpoints: tuple[Endpoint, ...]
    pbx_dnd_opt_in: bool = False


Apply = Callable[[str, list[AdapterCommand]], Awaitable[None]]


@dataclass(slots=True)
class _Person:
    spec: WatchedPerson
    state: WatchState = field(default_factory=WatchState)
    last_ours: Ours = None
    seen_ours: bool = False
    hold_down_until: float = 0.0
    shown: Pair | None = None


class Watcher:
    def __init__(
        self,
        *,
        tenant: str,
        graph: GraphClient,
        budget: Budget,
        clock: Clock,
        people: Sequence[WatchedPerson],
        ours: Callable[[str], Ours],
        apply: Apply,
        interval: float = 10.0,
        meeting: bool = False,
    ) -> None:
        self.tenant = tenant
        self._graph = graph
        self._budget = budget
        self._clock = clock
        self._ours = ours
        self._apply = apply
        self.interval = interval
        self.meeting = meeting
        self._people: dict[str, _Person] = {}
        self._by_key: dict[str, _Person] = {}
        self.set_people(people)
        self._slowdown = 1.0
        self._failures = 0
        self._apply_failing = False
        self.counters: dict[str, int] = {
            "rounds": 0,
            "reads": 0,
            "read_errors": 0,
            "observations": 0,
            "missing": 0,
            "commands": 0,
            "apply_failures": 0,
            "pbx_dnd_reports": 0,
        }

    # --- public ---------------------------------------------------------------------------

    @property
    def shards(self) -> int:
        return math.ceil(len(self._people) / PRESENCE_IDS_PER_REQUEST)

    def next_interval(self) -> float:
        """Seconds until the next round: configured, stretched for the budget, backed off on failure."""
        floor = self.shards * self._budget.window / (READ_SHARE * self._budget.limit)
        base = max(self.interval, floor) * self._slowdown
        if self._failures:
            # the kit's backoff ceiling, not jittered: one reader per tenant, and tests pin the value
            backoff = Backoff(min(self.interval, MAX_BACKOFF), MAX_BACKOFF)
            return min(MAX_BACKOFF, max(base, backoff.ceiling(self._failures)))
        return base

    async def run(self) -> None:
        """Poll until cancelled (nothing is left running: every await is inline)."""
        while True:
            await self.poll()
            await self._clock.sleep(self.next_interval())

    async def poll(self) -> None:
        """One round over every watched person."""
        self.counters["rounds"] += 1
        self._adapt()
        ids = list(self._people)
        for start in range(0, len(ids), PRESENCE_IDS_PER_REQUEST):
            shard = ids[start : start + PRESENCE_IDS_PER_REQUEST]
            await self._budget.acquire(Kind.READ)
            before = {object_id: self._ours(object_id) for object_id in shard}
            self.counters["reads"] += 1
            try:
                shown = await self._graph.read_presences(shard)
            except GraphError as exc:
                self._failed(exc)
                return
            self._recovered()
            for object_id in shard:
                read = shown.get(object_id)
                person = self._people.get(object_id)  # set_people may run while we await
                if read is None or person is None:
                    self.counters["missing"] += read is None
                    continue
                await self._observe(person, Observation(read.pair, read.out_of_office), before[object_id])

    def set_people(self, people: Sequence[WatchedPerson]) -> None:
        """Replace who is watched (after UPN resolution or a reload); known people keep their state."""
        old = self._by_key
        self._people, self._by_key = {}, {}
        for spec in people:
            person = old.get(spec.key)
            if person is None or person.spec.object_id != spec.object_id:
                person = _Person(spec)
            else:
                person.spec = spec
            self._people.setdefault(spec.object_id, person)
            self._by_key.setdefault(spec.key, person)

    def restore(self, person_key: str, state: WatchState) -> bool:
        """Start a person from what a previous run left on the PBX (the store's ownership records),
        so the first reading clears what no longer holds. False if the person is not watched."""
        person = self._by_key.get(person_key)
        if person is None:
            return False
        person.state = state
        return True

    def pbx_dnd_changed(self, person_key: str, on: bool, by_us: bool) -> None:
        """The PBX reported this person's DND (``by_us``: the echo of our own write)."""
        person = self._by_key.get(person_key)
        if person is None:
            return
        self.counters["pbx_dnd_reports"] += 1
        person.state = pbx_dnd_event(person.state, on, by_us)

    async def release(self) -> int:
        """Clear every routable state and PBX DND we set; returns how many people had something."""
        released = 0
        for person in self._people.values():
            new, intents = release(person.state)
            if intents and await self._send(person, intents):
                released += 1
                person.state = new
        return released

    def shown(self, object_id: str) -> Pair | None:
        """What Teams showed for this person at the last successful read (for /status)."""
        person = self._people.get(object_id)
        return person.shown if person is not None else None

    def stats(self) -> dict[str, float]:
        out = {f"watcher_{k}": float(v) for k, v in self.counters.items()}
        out["watcher_people"] = float(len(self._people))
        out["watcher_shards"] = float(self.shards)
        out["watcher_interval_seconds"] = self.next_interval()
        out["watcher_failing"] = 1.0 if self._failures else 0.0
        return out

    # --- internals --------------------------------------------------------------------------

    def _adapt(self) -> None:
        busy = self._budget.in_window() > BUSY_FRACTION * self._budget.limit
        previous = self._slowdown
        self._slowdown = min(MAX_SLOWDOWN, previous * 2) if busy else max(1.0, previous / 2)
        if self._slowdown != previous:
            log.debug("watcher %s: budget %s, polling slow-down x%g", self.tenant, busy, self._slowdown)

    async def _observe(self, person: _Person, observation: Observation, before: Ours) -> None:
        """``before``: what ``ours`` said when the read was sent."""
        self.counters["observations"] += 1
        person.shown = observation.pair
        now = self._clock.monotonic()
        ours = self._ours(person.spec.object_id)
        if ours is UNSURE or ours != before or (person.seen_ours and ours != person.last_ours):
            person.hold_down_until = max(person.hold_down_until, now + HOLD_DOWN)
        person.last_ours, person.seen_ours = ours, True
        new, intents = observe(
            person.state,
            observation,
            None if ours is UNSURE else ours,
            person.spec.pbx_dnd_opt_in,
            now,
            person.hold_down_until,
            meeting=self.meeting,
        )
        if not intents or await self._send(person, intents):
            person.state = new  # on failure the old state stands, so the next round sends again

    async def _send(self, person: _Person, intents: list[PbxIntent]) -> bool:
        commands = [cmd for intent in intents for cmd in _commands(person.spec, intent)]
        if not commands:
            return True
        try:
            await self._apply(person.spec.key, commands)
        except BridgeError as exc:
            self.counters["apply_failures"] += 1
            # once per outage (a PBX that is down fails every person on every round), then DEBUG
            level = logging.DEBUG if self._apply_failing else logging.WARNING
            log.log(
                level,
                "watcher %s: write-back for %s failed (retried next round): %s",
                self.tenant,
                person.spec.key,
                exc,
            )
            self._apply_failing = True
            return False
        if self._apply_failing:
            self._apply_failing = False
            log.info("watcher %s: write-back works again", self.tenant)
        self.counters["commands"] += len(commands)
        log.info(
            "teams->pbx %s: %s",
            person.spec.key,
            "; ".join(f"{i.reason}: routable={i.routable} pbx_dnd={i.pbx_dnd}" for i in intents),
            extra={"person": person.spec.key},
        )
        return True

    def _failed(self, exc: GraphError) -> None:
        self.counters["read_errors"] += 1
        if self._failures == 0:
            log.warning("watcher %s: reading presence failed, backing off: %s", self.tenant, exc)
        else:
            log.debug("watcher %s: reading presence failed again: %s", self.tenant, exc)
        self._failures += 1

    def _recovered(self) -> None:
        if self._failures:
            log.info("watcher %s: reading presence works again", self.tenant)
            self._failures = 0


def _commands(spec: WatchedPerson, intent: PbxIntent) -> list[AdapterCommand]:
    """One person-level intent -> one command per endpoint (no PBX DND on shared endpoints)."""
    out: list[AdapterCommand] = []
    for endpoint in dict.fromkeys(spec.endpoints):
        pbx_dnd = None if endpoint.shared else intent.pbx_dnd
        if intent.routable is None and pbx_dnd is None:
            continue
        out.append(
            AdapterCommand(
                endpoint.adapter,
                WriteBack(endpoint.extension, endpoint.context, routable=intent.routable, pbx_dnd=pbx_dnd),
            )
        )
    return out
