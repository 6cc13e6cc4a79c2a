"""The core loop: adapter events in, per-person decisions out to the publishers.

Synchronous and I/O free apart from the store: ``handle()`` applies one adapter event,
re-decides the people it touches and tells their tenant's publisher; ``due()`` re-decides
people whose timers (dialing delay, idle hold, unknown grace) have run out. The async
driver (``bridge.runtime.service``) owns the tasks and the clock.

The event path is the policy benchmark's (>= 100,000 events/s), so it runs the policy's stateless
fast path (``bridge.policy_fast``: ``fast_merge``, ``fast_decide``) and keeps each endpoint as a
mutable ``Cell`` shared by two indexes: the engine's route cache (endpoint -> person, role, cell;
bounded by ``route_cache_max``, unmapped endpoints included, so one dict lookup routes an event)
and the person's endpoint dict (what ``fast_decide`` walks). Each person's resolved tables are
cached per adapter on their slot (``_Tables``). Both caches belong to the engine instance.
``tests/runtime/test_engine_fast_path.py`` replays random event sequences through an engine and
through the reference policy (``bridge.policy``) folded over plain dicts, and requires the same
decisions for every person at every step.

After a restart (DESIGN 14, "Start-up waits for the PBX"), state restored from the store is a guess:

- **start-up gate** (``decide_all``): a person with a restored endpoint state is not published
  until every such endpoint is confirmed (a fresh event about it, or its adapter's first snapshot)
  or ``state.start_wait_seconds`` passed (then decided from what is known, logged once). Meanwhile
  the publisher is told to keep what it restored (``held``), so a restart writes nothing by itself.
- **bounded trust**: a restored state still unconfirmed ``state.restored_trust_seconds`` after the
  restore becomes unknown (line, dnd, away), so the unknown grace applies and then the ``unknown``
  row: a push-only PBX's hang-up lost while the bridge was down cannot keep anyone Busy for ever.
- a restored ``observed_at`` later than the wall clock at restore is dropped: a PBX time from the
  future must not make every later event of that endpoint "stale" across restarts.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from adapters.base import AdapterEvent, Health, HealthChange
from bridge.config import BridgeConfig, PersonConfig
from bridge.errors import StoreError
from bridge.mapping import MappingTable
from bridge.model import EndpointKey, EndpointRole, EndpointState, LineState, Snapshot, StateChange, Toggle
from bridge.policy import Decision, describe
from bridge.policy_fast import Cell, fast_decide, fast_merge
from bridge.presence import TeamsIntent
from bridge.runtime.store import StateStore
from bridge.teams.ownership import PublishedRecord
from bridge.teams.planner import DEFAULT_PREFERRED_EXPIRY

log = logging.getLogger(__name__)

# Default bound of an engine's route cache: endpoints whose routing is remembered (unmapped ones
# included, so a PBX flooding unknown extensions cannot grow it past this; beyond it, routing is
# computed per event from the configuration, correct but slower).
ROUTE_CACHE_MAX = 200_000
# Fast path (see the module docstring): an enum member and a function bound to module constants,
# one global read instead of an attribute lookup per event.
_IGNORE = EndpointRole.IGNORE
_heappush = heapq.heappush

# Publish callback: (tenant, object id, intent, cause)
Publish = Callable[[str, str, TeamsIntent, str], None]
# endpoint -> (its person, its role, its cell; the cell's state is None until the first event)
Route = tuple["PersonSlot", EndpointRole, Cell]


@dataclass
class PersonSlot:
    """One configured person and everything the core knows about them."""

    config: PersonConfig
    object_id: str | None  # None until the UPN is resolved
    table_for: Callable[[str], MappingTable]
    # endpoint -> [endpoint, role, state] (a Cell) for every endpoint with a known state
    endpoints: dict[EndpointKey, Cell] = field(default_factory=dict)
    previous: TeamsIntent | None = None
    decision: Decision | None = None
    last_event: object = ""  # the StateChange (or reason text) behind the latest decision
    key: str = ""

    def __post_init__(self) -> None:
        self.key = self.config.key

    @property
    def label(self) -> str:
        return self.config.name or self.config.upn or self.config.key


class Engine:
    def __init__(
        self,
        config: BridgeConfig,
        *,
        publish: Publish,
        store: StateStore | None,
        monotonic: Callable[[], float],
        presenting_supported: Callable[[str], bool] = lambda tenant: True,
        route_cache_max: int = ROUTE_CACHE_MAX,
    ) -> None:
        self._config = config
        self._publish = publish
        self._store = store
        self._mono = monotonic
        self._presenting = presenting_supported
        self.people: dict[str, PersonSlot] = {
            p.key: PersonSlot(p, p.id, _Tables(config.table_for(p)).__getitem__) for p in config.people
        }
        self._endpoint_owner: dict[EndpointKey, str] = {}
        self._routes: dict[EndpointKey, Route | None] = {}  # the route cache (see _route)
        self._route_cache_max = route_cache_max
        self._timers: list[tuple[float, int, str]] = []
        self._seq = itertools.count()
        self.adapter_health: dict[str, Health] = {}
        self.counters: dict[str, int] = {
            "events": 0,
            "unmapped": 0,
            "ignored_role": 0,
            "stale": 0,
            "echoes": 0,
            "snapshots": 0,
            "decisions": 0,
            "transitions": 0,
            "store_errors": 0,
        }
        self._store_failing = False
        state = config.state
        self._start_wait = state.start_wait_seconds
        self._trust = state.restored_trust_seconds
        self._gated: set[str] = set()  # people not published until their restored state is confirmed
        self._held: dict[str, TeamsIntent] = {}  # object id -> what the publisher restored (start-up)
        self._synced: set[str] = set()  # adapters that delivered a snapshot since the start
        self._gate_until: float | None = None  # monotonic end of the start-up wait
        self._trust_until: float | None = None  # monotonic end of the restored states' trust

    # --- set-up ----------------------------------------------------------------------------

    def set_object_id(self, person_key: str, object_id: str | None) -> None:
        slot = self.people[person_key]
        slot.object_id = object_id

    def restore(self, endpoints: Mapping[EndpointKey, EndpointState], *, wall: datetime | None = None) -> int:
        """Load endpoint states saved before a restart (marked restored, timers from now).

        With ``wall`` (the clock's time now), a PBX time later than it is dropped (see the module
        docstring). Restored states are trusted for ``state.restored_trust_seconds`` from now."""
        now = self._mono()
        restored = future = 0
        for key, state in endpoints.items():
            routed = self._route(key)
            if routed is None:
                continue
            slot, role, cell = routed
            if role is _IGNORE:
                continue
            observed = state.observed_at
            if wall is not None and observed is not None and observed > wall:
                observed, future = None, future + 1
            cell[2] = state._replace(line_since=now, restored=True, observed_at=observed)
            slot.endpoints[key] = cell
            self._endpoint_owner[key] = slot.key
            restored += 1
        if future:
            log.warning(
                "%d restored endpoint state(s) carried a PBX time in the future; dropped it, so their "
                "next events are not taken for stale",
                future,
            )
        if restored:
            self._trust_until = now + self._trust
        return restored

    def decide_all(self, held: Mapping[str, TeamsIntent] | None = None) -> None:
        """The decisions at start. A person nothing is known about is not published (their first
        event decides); a person with restored state waits behind the start-up gate, and the
        publisher is told to keep ``held[object id]`` (what it restored: ``held_intents``) meanwhile,
        which writes nothing and keeps it from clearing a session the PBX may still want."""
        now = self._mono()
        self._held = dict(held or {})
        waiting: set[str] = set()
        for slot in self.people.values():
            if not slot.endpoints:
                slot.decision = fast_decide((), slot.table_for, None, now)
                slot.previous = slot.decision.intent
                continue
            unconfirmed = self._unconfirmed(slot)
            if self._start_wait > 0 and unconfirmed:
                self._gated.add(slot.key)
                waiting |= unconfirmed
                slot.last_event = "start: waiting for the PBX"
                hold = (held or {}).get(slot.object_id or "")
                slot.previous = hold
                if hold is not None and slot.config.publish and slot.object_id is not None:
                    self._publish(slot.config.tenant, slot.object_id, hold, "waiting for the PBX")
                continue
            self._decide(slot, "start", force=True)
        if self._gated:
            self._gate_until = now + self._start_wait
            log.info(
                "start: %d people with restored state wait up to %g s for the first snapshot of %s",
                len(self._gated),
                self._start_wait,
                ", ".join(sorted(waiting)),
            )

    def _unconfirmed(self, slot: PersonSlot) -> set[str]:
        """Adapters with a restored state of this person that nothing confirmed yet."""
        synced = self._synced
        return {
            cell[0].adapter
            for cell in slot.endpoints.values()
            if cell[2].restored and cell[0].adapter not in synced
        }

    @property
    def waiting(self) -> frozenset[str]:
        """People the start-up gate still holds back (their keys)."""
        return frozenset(self._gated)

    def handle_resolved(self, key: str) -> None:
        """A person's UPN was (re)resolved: publish what the core already wants for them (events
        that came while they were unresolved are in their endpoint states: the latest wins). Behind
        the start-up gate, the publisher keeps what it restored for them meanwhile (``decide_all``)."""
        slot = self.people[key]
        if key in self._gated and self._unconfirmed(slot):
            hold = self._held.get(slot.object_id or "")
            if hold is not None and slot.config.publish and slot.object_id is not None:
                slot.previous = hold
                self._publish(slot.config.tenant, slot.object_id, hold, "waiting for the PBX")
            return
        self._decide(slot, "resolved", force=True)

    # --- events ----------------------------------------------------------------------------

    def handle(self, event: AdapterEvent) -> None:
        self.counters["events"] += 1
        if type(event) is StateChange:  # the hot path: one partial update
            mono = self._mono()
            slot = self._apply(event, mono)
            if slot is not None:
                self._decide(slot, event, mono)
        elif isinstance(event, Snapshot):
            self._snapshot(event)
        elif isinstance(event, HealthChange):
            self._health(event)

    def _route(self, endpoint: EndpointKey) -> Route | None:
        """Who ``endpoint`` belongs to, with its cell (remembered for the next event while the
        route cache has room; routes never change while the engine lives, so it needs no expiry)."""
        try:
            return self._routes[endpoint]
        except KeyError:
            pass
        routed = self._config.route(endpoint)
        hit: Route | None = None
        if routed is not None:
            slot = self.people[routed[0].key]
            cell = slot.endpoints.get(endpoint) or [endpoint, routed[1], None]
            hit = (slot, routed[1], cell)
        if len(self._routes) < self._route_cache_max:
            self._routes[endpoint] = hit
        return hit

    def _apply(self, change: StateChange, mono: float) -> PersonSlot | None:
        """Merge one change into its endpoint; the person to re-decide, or None."""
        endpoint = change.endpoint
        try:
            routed = self._routes[endpoint]
        except KeyError:
            routed = self._route(endpoint)
        if routed is None:
            self.counters["unmapped"] += 1
            log.debug("unmapped endpoint %s", describe(endpoint))
            return None
        slot, role, cell = routed
        if role is _IGNORE:
            self.counters["ignored_role"] += 1
            return None
        prev = cell[2]
        merged = fast_merge(prev, change, mono)
        if merged is None:
            self.counters["stale"] += 1
            log.info("stale event dropped for %s", describe(endpoint), extra={"person": slot.label})
            return None
        if merged is prev:
            return None  # nothing changed: the decision cannot change either (timers handle time)
        cell[2] = merged
        if prev is None:
            slot.endpoints[endpoint] = cell
            self._endpoint_owner[endpoint] = slot.key
        if self._store is not None:
            self._save(endpoint, merged)
        if change.echo:
            self.counters["echoes"] += 1
            return None
        return slot

    def _snapshot(self, snap: Snapshot) -> None:
        """A full (or partial) picture from one adapter; its endpoint saves share one transaction
        (10,000 people: 0.3 s instead of 0.6 s). A store failure costs persistence, never the state."""
        self.counters["snapshots"] += 1
        self._synced.add(snap.adapter)
        if self._store is None:
            self._take_snapshot(snap)
            self._recheck_gate()
            return
        try:
            with contextlib.ExitStack() as stack:
                with contextlib.suppress(StoreError):  # each save then reports its own failure
                    stack.enter_context(self._store.batch())
                self._take_snapshot(snap)
        except StoreError as exc:
            self.counters["store_errors"] += 1
            log.warning("could not commit the snapshot's endpoint states (kept in memory): %s", exc)
        self._recheck_gate()

    def _recheck_gate(self) -> None:
        """Publish the people a snapshot (or a stale part of one) left with nothing unconfirmed;
        forget the trust timer once no restored state is left unconfirmed."""
        if self._trust_until is not None and not any(
            cell[2].restored for slot in self.people.values() for cell in slot.endpoints.values()
        ):
            self._trust_until = None
        for key in list(self._gated):
            slot = self.people[key]
            if not self._unconfirmed(slot):
                self._decide(slot, "first snapshot")

    def _take_snapshot(self, snap: Snapshot) -> None:
        touched: dict[str, PersonSlot] = {}
        seen: set[EndpointKey] = set()
        mono = self._mono()
        for change in snap.changes:
            seen.add(change.endpoint)
            slot = self._apply(change, mono)
            if slot is not None:
                touched[slot.key] = slot
        if not snap.partial:
            for endpoint in list(self._endpoint_owner):
                if endpoint.adapter != snap.adapter or endpoint in seen:
                    continue
                reset = StateChange(
                    endpoint, line=LineState.IDLE, dnd=Toggle.OFF, away=Toggle.OFF, at=snap.at
                )
                slot = self._apply(reset, mono)
                if slot is not None:
                    touched[slot.key] = slot
        for slot in touched.values():
            self._decide(slot, f"snapshot from {snap.adapter}")

    def _health(self, change: HealthChange) -> None:
        """Recorded for /healthz. Line state is not touched here: an adapter that loses its PBX
        reports its endpoints ``unknown`` itself (the core's grace period applies), while a
        push-only listener's hiccup says nothing about the phones (their last state stands)."""
        self.adapter_health[change.adapter] = change.health

    # --- decisions -------------------------------------------------------------------------

    def _decide(
        self, slot: PersonSlot, cause_event: object, mono: float | None = None, *, force: bool = False
    ) -> None:
        """Re-decide one person; publish when the intent changed (or ``force``: start, resolution).

        A person behind the start-up gate is left alone until nothing of theirs is unconfirmed;
        then decided and published (forced: the publisher only held what it restored)."""
        slot.last_event = cause_event
        if self._gated and slot.key in self._gated:
            if self._unconfirmed(slot):
                return
            self._gated.discard(slot.key)
            if not self._gated:
                self._gate_until = None
            force = True
        config = slot.config
        previous = slot.previous
        decision = fast_decide(
            slot.endpoints.values(),
            slot.table_for,
            previous,
            self._mono() if mono is None else mono,
            presenting_supported=self._presenting(config.tenant),
        )
        counters = self.counters
        counters["decisions"] += 1
        slot.decision = decision
        intent = decision.intent
        if decision.recheck_at is not None:
            _heappush(self._timers, (decision.recheck_at, next(self._seq), slot.key))
        slot.previous = intent
        if not (force or not intent.same_target(previous)) or not config.publish or slot.object_id is None:
            return
        counters["transitions"] += 1
        if log.isEnabledFor(logging.INFO):
            if type(cause_event) is StateChange:
                cause_event = _Cause(cause_event)
            desired = _intent_text(intent)
            log.info(
                "decision %s: %s -> %s",
                slot.label,
                cause_event,
                desired,
                extra={
                    "person": slot.key,
                    "event": str(cause_event),
                    "desired": desired,
                    "why": decision.cause,
                },
            )
        self._publish(config.tenant, slot.object_id, intent, decision.cause)

    def next_timer(self) -> float | None:
        moments = [m for m in (self._gate_until, self._trust_until) if m is not None]
        if self._timers:
            moments.append(self._timers[0][0])
        return min(moments, default=None)

    def due(self) -> int:
        """Re-decide every person whose timer has run out; returns how many."""
        now = self._mono()
        if self._gate_until is not None and self._gate_until <= now:
            self._open_gate()
        if self._trust_until is not None and self._trust_until <= now:
            self._distrust_restored(now)
        fired: set[str] = set()
        while self._timers and self._timers[0][0] <= now:
            _, _, key = heapq.heappop(self._timers)
            fired.add(key)
        for key in fired:
            self._decide(self.people[key], "timer")
        return len(fired)

    def _open_gate(self) -> None:
        """The start-up wait is over: decide everyone still waiting from what is known (logged once)."""
        self._gate_until = None
        gated, self._gated = [self.people[key] for key in sorted(self._gated)], set()
        if not gated:
            return
        missing = set().union(*(self._unconfirmed(slot) for slot in gated))
        log.warning(
            "start: no first snapshot from %s within %g s; deciding %d people from what is known "
            "(restored state, trusted for %g s unless confirmed)",
            ", ".join(sorted(missing)),
            self._start_wait,
            len(gated),
            self._trust,
        )
        for slot in gated:
            self._decide(slot, "start-up wait over", force=True)

    def _distrust_restored(self, now: float) -> None:
        """Restored states nothing confirmed within the trust become unknown (the grace applies)."""
        self._trust_until = None
        touched: dict[str, PersonSlot] = {}
        for slot in self.people.values():
            for cell in slot.endpoints.values():
                state = cell[2]
                if not state.restored:
                    continue
                cell[2] = state._replace(
                    line=LineState.UNKNOWN,
                    dnd=Toggle.UNKNOWN,
                    away=Toggle.UNKNOWN,
                    line_since=now,
                    restored=False,
                )
                self._save(cell[0], cell[2])
                touched[slot.key] = slot
        if touched:
            log.warning(
                "%d people's restored state was not confirmed by their PBX within %g s: now unknown",
                len(touched),
                self._trust,
            )
        for slot in touched.values():
            self._decide(slot, "restored state unconfirmed")

    # --- persistence -----------------------------------------------------------------------

    def _save(self, endpoint: EndpointKey, state: EndpointState) -> None:
        if self._store is None:
            return
        try:
            self._store.save_endpoint(endpoint, state)
        except StoreError as exc:
            self.counters["store_errors"] += 1
            level = logging.DEBUG if self._store_failing else logging.WARNING  # once per outage
            log.log(level, "could not save endpoint state (kept in memory): %s", exc)
            self._store_failing = True
            return
        if self._store_failing:
            self._store_failing = False
            log.info("saving endpoint state works again")

    def slots(self) -> Iterable[PersonSlot]:
        return self.people.values()


def held_intents(records: Iterable[PublishedRecord], wall: datetime) -> dict[str, TeamsIntent]:
    """Object id -> the intent that asks a publisher for exactly what it restores from ``records``
    at ``wall`` (the planner's restore rule: an unexpired session, a preferred presence not past its
    expiry), so desiring it writes nothing."""
    held: dict[str, TeamsIntent] = {}
    for record in records:
        session = record.session
        if record.session_expires_at is None or record.session_expires_at <= wall:
            session = None
        preferred, expiry = record.preferred, DEFAULT_PREFERRED_EXPIRY
        if record.preferred_expires_at is not None:
            expiry = record.preferred_expires_at - wall
            preferred = preferred if expiry > timedelta(0) else None
        try:
            intent = TeamsIntent(session, preferred, expiry if preferred else None, "restored")
        except ValueError:
            log.warning("unusable stored presence for %s (not held at start)", record.person_id)
            continue
        held[record.person_id] = intent
    return held


class _Tables(dict[str, MappingTable]):
    """adapter -> this person's resolved table, resolved once (``__getitem__`` is the hot path)."""

    def __init__(self, resolve: Callable[[str], MappingTable]) -> None:
        super().__init__()
        self._resolve = resolve

    def __missing__(self, adapter: str) -> MappingTable:
        table = self[adapter] = self._resolve(adapter)
        return table


class _Cause:
    """The event behind a decision, formatted only when a log line is written."""

    __slots__ = ("change",)

    def __init__(self, change: StateChange) -> None:
        self.change = change

    def __str__(self) -> str:
        return f"{describe(self.change.endpoint)} {_summary(self.change)}"


def _summary(change: StateChange) -> str:
    parts = [
        f"{name}={value.value if hasattr(value, 'value') else value}"
        for name, value in (("line", change.line), ("dnd", change.dnd), ("away", change.away))
        if value is not None
    ]
    if change.agent is not None:
        parts.append("agent")
    return " ".join(parts) or "update"


def _intent_text(intent: TeamsIntent) -> str:
    text = f"session {intent.session}" if intent.session else "no session"
    if intent.preferred:
        text += f" + preferred {intent.preferred}"
    return text
