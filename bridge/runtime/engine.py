"""The core loop: adapter events in, per-person decisions out to the publishers.

Synchronous and I/O free apart from the store: ``handle()`` applies one adapter event,
re-decides the people it touches and tells their tenant's publisher; ``due()`` re-decides
people whose timers (dialing delay, idle hold, unknown grace) have run out. The async
driver (``bridge.runtime.service``) owns the tasks and the clock.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from adapters.base import AdapterEvent, Health, HealthChange
from bridge.config import BridgeConfig, PersonConfig
from bridge.errors import StoreError
from bridge.mapping import MappingTable
from bridge.model import EndpointKey, EndpointRole, EndpointState, LineState, Snapshot, StateChange, Toggle
from bridge.policy import Decision, decide, describe, merge
from bridge.presence import TeamsIntent
from bridge.runtime.store import StateStore

log = logging.getLogger(__name__)

# Publish callback: (tenant, object id, intent, cause)
Publish = Callable[[str, str, TeamsIntent, str], None]


@dataclass
class PersonSlot:
    """One configured person and everything the core knows about them."""

    config: PersonConfig
    object_id: str | None  # None until the UPN is resolved
    table_for: Callable[[str], MappingTable]
    endpoints: dict[EndpointKey, tuple[EndpointRole, EndpointState]] = field(default_factory=dict)
    previous: TeamsIntent | None = None
    decision: Decision | None = None
    last_event: str = ""

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
    ) -> None:
        self._config = config
        self._publish = publish
        self._store = store
        self._mono = monotonic
        self._presenting = presenting_supported
        self.people: dict[str, PersonSlot] = {
            p.key: PersonSlot(p, p.id, config.table_for(p)) for p in config.people
        }
        self._endpoint_owner: dict[EndpointKey, str] = {}
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
        }

    # --- set-up ----------------------------------------------------------------------------

    def set_object_id(self, person_key: str, object_id: str | None) -> None:
        slot = self.people[person_key]
        slot.object_id = object_id

    def restore(self, endpoints: Mapping[EndpointKey, EndpointState]) -> int:
        """Load endpoint states saved before a restart (marked restored, timers from now)."""
        now = self._mono()
        restored = 0
        for key, state in endpoints.items():
            routed = self._config.route(key)
            if routed is None:
                continue
            person, role = routed
            if role is EndpointRole.IGNORE:
                continue
            state = dataclasses.replace(state, line_since=now, restored=True)
            self.people[person.key].endpoints[key] = (role, state)
            self._endpoint_owner[key] = person.key
            restored += 1
        return restored

    def decide_all(self) -> None:
        for key in self.people:
            self._decide(key, "start")

    def handle_resolved(self, key: str) -> None:
        """A person's UPN was (re)resolved: publish what the core already wants for them."""
        self._decide(key, "resolved")

    # --- events ----------------------------------------------------------------------------

    def handle(self, event: AdapterEvent) -> None:
        self.counters["events"] += 1
        if isinstance(event, StateChange):
            touched = self._apply(event)
            if touched:
                self._decide(touched, f"{describe(event.endpoint)} {_summary(event)}")
        elif isinstance(event, Snapshot):
            self._snapshot(event)
        elif isinstance(event, HealthChange):
            self._health(event)

    def _apply(self, change: StateChange) -> str | None:
        routed = self._config.route(change.endpoint)
        if routed is None:
            self.counters["unmapped"] += 1
            log.debug("unmapped endpoint %s", describe(change.endpoint))
            return None
        person, role = routed
        if role is EndpointRole.IGNORE:
            self.counters["ignored_role"] += 1
            return None
        slot = self.people[person.key]
        prev = slot.endpoints.get(change.endpoint)
        merged = merge(prev[1] if prev else None, change, self._mono())
        if merged is None:
            self.counters["stale"] += 1
            log.info("stale event dropped for %s", describe(change.endpoint), extra={"person": slot.label})
            return None
        slot.endpoints[change.endpoint] = (role, merged)
        self._endpoint_owner[change.endpoint] = person.key
        self._save(change.endpoint, merged)
        if change.echo:
            self.counters["echoes"] += 1
            return None
        return person.key

    def _snapshot(self, snap: Snapshot) -> None:
        self.counters["snapshots"] += 1
        touched: set[str] = set()
        seen: set[EndpointKey] = set()
        for change in snap.changes:
            seen.add(change.endpoint)
            key = self._apply(change)
            if key:
                touched.add(key)
        if not snap.partial:
            for endpoint, owner in list(self._endpoint_owner.items()):
                if endpoint.adapter != snap.adapter or endpoint in seen:
                    continue
                reset = StateChange(
                    endpoint, line=LineState.IDLE, dnd=Toggle.OFF, away=Toggle.OFF, at=snap.at
                )
                if self._apply(reset):
                    touched.add(owner)
        for key in touched:
            self._decide(key, f"snapshot from {snap.adapter}")

    def _health(self, change: HealthChange) -> None:
        """Recorded for /healthz. Line state is not touched here: an adapter that loses its PBX
        reports its endpoints ``unknown`` itself (the core's grace period applies), while a
        push-only listener's hiccup says nothing about the phones (their last state stands)."""
        self.adapter_health[change.adapter] = change.health

    # --- decisions -------------------------------------------------------------------------

    def _decide(self, key: str, cause_event: str) -> None:
        slot = self.people[key]
        slot.last_event = cause_event
        endpoints = [(ep, role, state) for ep, (role, state) in slot.endpoints.items()]
        tenant = slot.config.tenant
        decision = decide(
            endpoints,
            slot.table_for,
            slot.previous,
            self._mono(),
            presenting_supported=self._presenting(tenant),
        )
        self.counters["decisions"] += 1
        slot.decision = decision
        if decision.recheck_at is not None:
            heapq.heappush(self._timers, (decision.recheck_at, next(self._seq), key))
        changed = not decision.intent.same_target(slot.previous)
        slot.previous = decision.intent
        if not slot.config.publish:
            return
        if slot.object_id is None:
            return
        if changed:
            self.counters["transitions"] += 1
            log.info(
                "decision %s: %s -> %s",
                slot.label,
                cause_event,
                _intent_text(decision.intent),
                extra={
                    "person": slot.config.key,
                    "event": cause_event,
                    "desired": _intent_text(decision.intent),
                    "why": decision.cause,
                },
            )
        self._publish(tenant, slot.object_id, decision.intent, decision.cause)

    def next_timer(self) -> float | None:
        return self._timers[0][0] if self._timers else None

    def due(self) -> int:
        """Re-decide every person whose timer has run out; returns how many."""
        now = self._mono()
        fired: set[str] = set()
        while self._timers and self._timers[0][0] <= now:
            _, _, key = heapq.heappop(self._timers)
            fired.add(key)
        for key in fired:
            self._decide(key, "timer")
        return len(fired)

    # --- persistence -----------------------------------------------------------------------

    def _save(self, endpoint: EndpointKey, state: EndpointState) -> None:
        if self._store is None:
            return
        try:
            self._store.save_endpoint(endpoint, state)
        except StoreError as exc:
            log.warning("could not save endpoint state: %s", exc)

    def slots(self) -> Iterable[PersonSlot]:
        return self.people.values()


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
