"""The composition root: builds adapters, the engine, one publisher (and watcher) per tenant, one
metrics registry, wires them together and supervises their tasks.

::

    adapters --events--> Engine (policy) --desire()--> Publisher per tenant --> Graph
                          ^ timers                       ^ refresh, budget, retries

What the wiring decides (whose DND note goes where, which adapter gets a write-back, how health
adds up, what a status row says) is pure and tested on its own: ``rules``, ``status``,
``watched``; which numbers ``/metrics`` exports is ``metric_table``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Mapping

from adapters.base import Adapter, AdapterDeps, AdapterEvent
from bridge.config import BridgeConfig
from bridge.errors import BridgeError
from bridge.kit.clock import Clock, sleep_or_wake
from bridge.kit.metrics import Metrics
from bridge.kit.supervisor import Body, Supervisor
from bridge.presence import TeamsIntent
from bridge.runtime import pbx_owned, rules
from bridge.runtime.engine import Engine
from bridge.runtime.metrics_export import ServiceMetrics, flat, service_readings
from bridge.runtime.pbx_side import build_adapters
from bridge.runtime.resolver import Resolver
from bridge.runtime.service_views import ServiceViews
from bridge.runtime.store import StateStore
from bridge.runtime.tenant import (
    TenantRuntime,
    build_tenant,
    build_tenants,
    build_watcher,
    held_by_tenant,
    token_provider,
)
from bridge.runtime.unresolved import UnresolvedHolds
from bridge.runtime.watched import watched_by_tenant
from bridge.teams.credentials import CredentialWatch
from bridge.teams.watcher import AdapterCommand, Watcher

__all__ = ["BridgeService", "TenantRuntime", "build_adapters", "build_tenant", "token_provider"]

log = logging.getLogger(__name__)

IDLE_TIMER_SECONDS = 3600.0  # the timer task's longest sleep when nothing is due


class BridgeService(ServiceViews):
    """The running bridge. ``run()`` until cancelled; SIGTERM handling belongs to the CLI."""

    def __init__(
        self,
        config: BridgeConfig,
        *,
        clock: Clock,
        store: StateStore,
        tenants: Mapping[str, TenantRuntime] | None = None,
        adapters: Mapping[str, Adapter] | None = None,
        rng: random.Random | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.store = store
        self.rng = rng or random.Random()
        self.metrics = metrics or Metrics()
        if tenants is None:
            tenants = build_tenants(config, clock=clock, store=store, rng=self.rng)
        self.tenants: dict[str, TenantRuntime] = dict(tenants)
        if adapters is None:
            adapters = build_adapters(config, AdapterDeps(clock, self.rng, metrics=self.metrics))
        self.adapters: dict[str, Adapter] = dict(adapters)
        self.engine = Engine(
            config,
            publish=self._publish,
            store=store,
            monotonic=clock.monotonic,
            presenting_supported=self._presenting_supported,
        )
        self.watchers: dict[str, Watcher] = {
            name: build_watcher(t, clock, self._write_back)
            for name, t in self.tenants.items()
            if t.config.watch.enabled
        }
        graphs = {name: t.graph for name, t in self.tenants.items()}
        self.resolver = Resolver(self.engine, graphs, clock, on_resolved=self._resolved, rng=self.rng)
        self._holds = UnresolvedHolds({}, self._publish)
        self.supervisor = Supervisor(clock, log, rng=self.rng)
        self.exported = ServiceMetrics(self.metrics, lambda: service_readings(self))
        self._wake = asyncio.Event()
        self.started = asyncio.Event()
        self.last_event: AdapterEvent | None = None  # the latest from any adapter (dry run's header)

    @property
    def counters(self) -> dict[str, int]:
        """The service's own counts (supervised restarts, failed UPN look-ups)."""
        restarts = sum(self.supervisor.restarts.values())
        return {"task_restarts": restarts, "resolve_failures": self.resolver.failed_total}

    # --- wiring ------------------------------------------------------------------------------

    def _publish(self, tenant: str, object_id: str, intent: TeamsIntent, cause: str) -> None:
        self.tenants[tenant].publisher.desire(object_id, intent, cause)

    def _presenting_supported(self, tenant: str) -> bool:
        return self.tenants[tenant].publisher.presenting_supported is not False

    def _resolved(self) -> None:
        """After each resolution round: watch whom we know, hold or release the unclaimed."""
        self._refresh_watched()
        claimed = {s.object_id for s in self.engine.slots() if s.object_id is not None}
        self._holds.update(claimed, complete=not self.resolver.unresolved)

    def _refresh_watched(self) -> None:
        """Tell each tenant's watcher whom to watch (its people with a known object id)."""
        people = {s.key: (s.config, s.object_id) for s in self.engine.slots()}
        for name, watched in watched_by_tenant(people, self.watchers).items():
            self.watchers[name].set_people(watched)

    def _accepts_write_back(self, adapter: str) -> bool:
        found = self.adapters.get(adapter)
        return found is not None and found.supports_write_back

    async def _write_back(self, person_key: str, commands: list[AdapterCommand]) -> None:
        """Teams -> PBX: hand each command to its adapter (a failure is retried at the next poll)."""
        for adapter_name, command in rules.write_back_targets(commands, self._accepts_write_back):
            pbx_owned.not_connected(adapter_name, self.adapters[adapter_name])  # then nothing can land
            pbx_owned.record(self.store, adapter_name, command, self.clock.now(), done=False)
            await self.adapters[adapter_name].write_back(command)  # AdapterError: the watcher retries
            pbx_owned.record(self.store, adapter_name, command, self.clock.now(), done=True)

    def _note_dnd(self, event: AdapterEvent) -> None:
        """Tell the watchers about PBX DND changes (a person's own *79 wins over Teams)."""
        for note in rules.dnd_notes(event, self.config.route, self.watchers):
            self.watchers[note.tenant].pbx_dnd_changed(note.person_key, note.on, by_us=note.by_us)
        pbx_owned.forget_taken_over(self.store, event)

    # --- running -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until cancelled. Stops adapters on the way out; never clears Teams (SIGTERM rule)."""
        try:
            self.engine.restore(self.store.load_endpoints(), wall=self.clock.now())
        except BridgeError as exc:
            log.warning("could not restore endpoint states: %s", exc)
        pbx_owned.restore_adapters(self.store, self.adapters, self.clock.now())  # before they start
        held = held_by_tenant(self.tenants, self.store, self.clock.now())
        self.engine.decide_all({oid: intent for ids in held.values() for oid, intent in ids.items()})
        self._holds = UnresolvedHolds(held, self._publish)
        self._refresh_watched()
        if self.watchers:
            pbx_owned.restore_watchers(self.store, self.config.route, self.clock, self.watchers.values())
        spawn, graph_side = self.supervisor.spawn, self._graph_side
        try:  # listeners and adapters at once; Graph's side after the first resolution round
            tasks = [spawn(f"adapter:{n}", self._pumper(a)) for n, a in self.adapters.items()]
            tasks.append(spawn("timers", self._timers))
            tasks.append(spawn("store", lambda: self.store.watch(self.clock)))
            tasks.append(spawn("resolver", self.resolver.run))
            tasks += [spawn(f"publisher:{n}", graph_side(t.publisher.run)) for n, t in self.tenants.items()]
            tasks += [spawn(f"watcher:{n}", graph_side(w.run)) for n, w in self.watchers.items()]
            tasks += [spawn(f"credentials:{n}", watch.run) for n, watch in self._credential_watches()]
            self.started.set()
            await asyncio.gather(*tasks)
        finally:
            await self.supervisor.stop()
            for adapter in self.adapters.values():
                with contextlib.suppress(Exception):
                    await adapter.stop()
            for tenant in self.tenants.values():
                await tenant.aclose()

    def _graph_side(self, body: Body) -> Body:
        """``body`` once the first resolution round is over (it stops early while Graph is in
        trouble), so a publisher restores what it owned knowing whose it is (``UnresolvedHolds``)."""

        async def after_first_round() -> None:
            await self.resolver.first_round.wait()
            await body()

        return after_first_round

    def _pumper(self, adapter: Adapter) -> Body:
        async def pump() -> None:
            await adapter.start()
            async for event in adapter.events():
                self.last_event = event
                self.engine.handle(event)
                if self.watchers:
                    self._note_dnd(event)
                self._wake.set()

        return pump

    async def _timers(self) -> None:
        while True:
            nxt = self.engine.next_timer()
            now = self.clock.monotonic()
            if nxt is not None and nxt <= now:
                self.engine.due()
                continue
            self._wake.clear()
            await sleep_or_wake(self.clock, nxt - now if nxt is not None else IDLE_TIMER_SECONDS, self._wake)

    def hangup(self) -> None:
        """SIGHUP: re-read the credential files, retry a refused credential now, re-resolve UPNs."""
        for _, watch in self._credential_watches():
            watch.request()
        for tenant in self.tenants.values():
            tenant.publisher.retry_credentials()
        self.resolver.request()

    def _credential_watches(self) -> list[tuple[str, CredentialWatch]]:
        return [(n, t.credentials) for n, t in self.tenants.items() if t.credentials is not None]

    # --- views (the rest: ServiceViews) ---------------------------------------------------------

    def stats(self) -> dict[str, float]:
        """Every exported number as ``name|label=value`` -> value (``/metrics`` has the same)."""
        return flat(service_readings(self))
