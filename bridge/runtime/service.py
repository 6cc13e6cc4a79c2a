"""Wires config, adapters, the engine and one publisher per tenant, and supervises their tasks.

::

    adapters --events--> Engine (policy) --desire()--> Publisher per tenant --> Graph
                          ^ timers                       ^ refresh, budget, retries
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from adapters.base import HEALTH_READINESS, Adapter, AdapterDeps, AdapterEvent, Health, get_factory
from bridge.config import BridgeConfig, TenantConfig
from bridge.errors import BridgeError, ConfigError, GraphError
from bridge.kit.clock import Clock, sleep_or_wake
from bridge.model import Snapshot, StateChange, Toggle
from bridge.presence import Pair
from bridge.runtime import pbx_owned
from bridge.runtime.engine import Engine, PersonSlot
from bridge.runtime.store import StateStore
from bridge.runtime.watched import watched_people
from bridge.teams.auth import MsalTokenProvider
from bridge.teams.auth_http import tls_context
from bridge.teams.budget import Budget
from bridge.teams.graph import GraphClient, TokenProvider
from bridge.teams.publisher import Publisher
from bridge.teams.watcher import AdapterCommand, Watcher

log = logging.getLogger(__name__)

RESOLVE_INTERVAL = 86400.0  # UPNs are re-resolved daily
RESOLVE_RETRY = 300.0  # and failures every five minutes
SUPERVISE_BACKOFF_MAX = 60.0
GRAPH_TIMEOUT_SECONDS = 30.0


@dataclass
class TenantRuntime:
    """Everything that talks to one Entra tenant."""

    name: str
    config: TenantConfig
    tokens: TokenProvider
    http: httpx.AsyncClient
    graph: GraphClient
    budget: Budget
    publisher: Publisher

    async def aclose(self) -> None:
        await self.http.aclose()
        close = getattr(self.tokens, "close", None)
        if callable(close):
            close()


def token_provider(cfg: TenantConfig) -> MsalTokenProvider:
    secret = cfg.client_secret.get_secret_value() if cfg.client_secret is not None else None
    pem = None
    if cfg.certificate_file is not None:
        try:
            pem = Path(cfg.certificate_file).read_bytes()
        except OSError as exc:
            raise ConfigError([f"certificate_file {cfg.certificate_file}: {exc.strerror or exc}"]) from exc
    return MsalTokenProvider(
        tenant_id=cfg.tenant_id,
        client_id=cfg.client_id,
        authority_base=cfg.authority,
        secret=secret,
        certificate_pem=pem,
        ca_file=str(cfg.ca_file) if cfg.ca_file else None,
        proxy=cfg.proxy,
    )


def build_tenant(
    name: str,
    cfg: TenantConfig,
    *,
    clock: Clock,
    store: StateStore,
    rng: random.Random,
    tokens: TokenProvider | None = None,
    http: httpx.AsyncClient | None = None,
) -> TenantRuntime:
    tokens = tokens or token_provider(cfg)
    http = http or httpx.AsyncClient(
        verify=tls_context(str(cfg.ca_file) if cfg.ca_file else None),
        trust_env=False,  # environment proxies and CA overrides are not trusted implicitly
        proxy=cfg.proxy,
        timeout=GRAPH_TIMEOUT_SECONDS,
    )
    refresh_interval = float(cfg.refresh_interval)
    budget = Budget(
        clock,
        requests=cfg.budget.requests,
        window_seconds=cfg.budget.window_seconds,
        refresh_share=cfg.budget.refresh_share,
        refresh_interval=refresh_interval,
    )
    graph = GraphClient(
        cfg.graph_url,
        tokens,
        http,
        clock,
        rng,
        on_throttle=budget.throttled,
        before_retry=budget.acquire_retry,
    )
    publisher = Publisher(
        tenant=name,
        client_id=cfg.client_id,
        graph=graph,
        budget=budget,
        store=store,
        clock=clock,
        session_expiry=cfg.session_expiry,
        refresh_interval=refresh_interval,
        flap_window=cfg.flap_window,
    )
    return TenantRuntime(name, cfg, tokens, http, graph, budget, publisher)


def build_adapters(config: BridgeConfig, deps: AdapterDeps) -> dict[str, Adapter]:
    deps = dataclasses.replace(deps, mapped=lambda key: config.route(key) is not None)
    return {
        name: get_factory(section.kind).create(name, section.settings, deps)
        for name, section in config.adapters.items()
    }


class BridgeService:
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
    ) -> None:
        self.config = config
        self.clock = clock
        self.store = store
        self.rng = rng or random.Random()
        self.tenants: dict[str, TenantRuntime] = dict(
            tenants
            if tenants is not None
            else {
                name: build_tenant(name, cfg, clock=clock, store=store, rng=self.rng)
                for name, cfg in config.tenants.items()
            }
        )
        self.adapters: dict[str, Adapter] = dict(
            adapters if adapters is not None else build_adapters(config, AdapterDeps(clock, self.rng))
        )
        self.engine = Engine(
            config,
            publish=self._publish,
            store=store,
            monotonic=clock.monotonic,
            presenting_supported=lambda t: self.tenants[t].publisher.presenting_supported is not False,
        )
        self.watchers: dict[str, Watcher] = {
            name: Watcher(
                tenant=name,
                graph=t.graph,
                budget=t.budget,
                clock=clock,
                people=[],
                ours=lambda oid, pub=t.publisher: pub.view(oid).sent_session,
                apply=self._write_back,
                interval=t.config.watch.interval_seconds,
                meeting=t.config.watch.meeting,
            )
            for name, t in self.tenants.items()
            if t.config.watch.enabled
        }
        self._wake = asyncio.Event()
        self._resolve_now = asyncio.Event()
        self.started = asyncio.Event()
        self.resolve_failures: dict[str, str] = {}
        self.counters: dict[str, int] = {"task_restarts": 0, "resolve_failures": 0}

    # --- wiring ------------------------------------------------------------------------------

    def _publish(self, tenant: str, object_id: str, intent: Any, cause: str) -> None:
        self.tenants[tenant].publisher.desire(object_id, intent, cause)

    async def resolve_people(self) -> int:
        """Resolve UPNs to object ids through ``GET /users/{upn}``; returns how many failed."""
        failed = 0
        for slot in self.engine.slots():
            upn = slot.config.upn
            if upn is None:
                continue
            try:
                user = await self.tenants[slot.config.tenant].graph.get_user(upn)
            except GraphError as exc:
                failed += 1
                self.counters["resolve_failures"] += 1
                if self.resolve_failures.get(slot.config.key) != str(exc):
                    log.warning("cannot resolve %s: %s", upn, exc, extra={"person": upn})
                self.resolve_failures[slot.config.key] = str(exc)
                continue
            self.resolve_failures.pop(slot.config.key, None)
            if slot.object_id != user.id:
                self.engine.set_object_id(slot.config.key, user.id)
                self.engine.handle_resolved(slot.config.key)
        self._refresh_watched()
        return failed

    def _refresh_watched(self) -> None:
        """Tell each tenant's watcher whom to watch (people with a known object id)."""
        for name, watcher in self.watchers.items():
            slots = [s for s in self.engine.slots() if s.config.tenant == name]
            ids = {s.config.key: s.object_id for s in slots}
            watcher.set_people(watched_people([s.config for s in slots], lambda p, ids=ids: ids[p.key]))

    async def _write_back(self, person_key: str, commands: list[AdapterCommand]) -> None:
        """Teams -> PBX: hand each command to its adapter (a failure is retried at the next poll)."""
        for adapter_name, command in commands:
            adapter = self.adapters.get(adapter_name)
            if adapter is None or not adapter.supports_write_back:
                continue
            pbx_owned.record(self.store, adapter_name, command, self.clock.now(), done=False)
            await adapter.write_back(command)  # AdapterError: the watcher logs it and retries next round
            pbx_owned.record(self.store, adapter_name, command, self.clock.now(), done=True)

    def _note_dnd(self, event: AdapterEvent) -> None:
        """Tell the watcher about PBX DND changes (a person's own *79 wins over Teams)."""
        if not self.watchers:
            return
        changes = (
            event.changes
            if isinstance(event, Snapshot)
            else (event,)
            if isinstance(event, StateChange)
            else ()
        )
        for change in changes:
            if change.dnd is None or change.dnd is Toggle.UNKNOWN:
                continue
            routed = self.config.route(change.endpoint)
            watcher = self.watchers.get(routed[0].tenant) if routed else None
            if routed is not None and watcher is not None:
                watcher.pbx_dnd_changed(routed[0].key, change.dnd is Toggle.ON, by_us=change.echo)

    # --- running -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until cancelled. Stops adapters on the way out; never clears Teams (SIGTERM rule)."""
        try:
            self.engine.restore(self.store.load_endpoints())
        except BridgeError as exc:
            log.warning("could not restore endpoint states: %s", exc)
        if any(p.upn for p in self.config.people):
            await self.resolve_people()
        self.engine.decide_all()
        self._refresh_watched()
        if self.watchers:
            restored = pbx_owned.restored_states(
                self.store, self.config.route, self.clock.monotonic(), self.clock.now()
            )
            for key, state in restored.items():
                for watcher in self.watchers.values():
                    watcher.restore(key, state)
        try:
            async with asyncio.TaskGroup() as group:
                for name, tenant in self.tenants.items():
                    group.create_task(self._supervise(f"publisher:{name}", tenant.publisher.run))
                for name, adapter in self.adapters.items():
                    group.create_task(self._supervise(f"adapter:{name}", lambda a=adapter: self._pump(a)))
                group.create_task(self._supervise("timers", self._timers))
                for name, watcher in self.watchers.items():
                    group.create_task(self._supervise(f"watcher:{name}", watcher.run))
                if any(p.upn for p in self.config.people):
                    group.create_task(self._supervise("resolver", self._resolver))
                self.started.set()
        finally:
            for adapter in self.adapters.values():
                with contextlib.suppress(Exception):
                    await adapter.stop()
            for tenant in self.tenants.values():
                await tenant.aclose()

    async def _supervise(self, name: str, body: Callable[[], Awaitable[None]]) -> None:
        """Run ``body`` forever: a failure is logged once and retried with capped backoff."""
        attempt = 0
        while True:
            try:
                await body()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                attempt += 1
                self.counters["task_restarts"] += 1
                delay = min(SUPERVISE_BACKOFF_MAX, 0.5 * 2**attempt) * (0.5 + self.rng.random() / 2)
                log.exception("task %s failed; restarting in %.1f s", name, delay)
                await self.clock.sleep(delay)

    async def _pump(self, adapter: Adapter) -> None:
        await adapter.start()
        async for event in adapter.events():
            self.engine.handle(event)
            self._note_dnd(event)
            self._wake.set()

    async def _timers(self) -> None:
        while True:
            nxt = self.engine.next_timer()
            now = self.clock.monotonic()
            if nxt is not None and nxt <= now:
                self.engine.due()
                continue
            self._wake.clear()
            await sleep_or_wake(self.clock, nxt - now if nxt is not None else 3600.0, self._wake)

    def request_resolve(self) -> None:
        """Re-resolve UPNs now (the CLI calls this on SIGHUP)."""
        self._resolve_now.set()

    async def _resolver(self) -> None:
        while True:
            self._resolve_now.clear()
            await sleep_or_wake(
                self.clock, RESOLVE_RETRY if self.resolve_failures else RESOLVE_INTERVAL, self._resolve_now
            )
            await self.resolve_people()

    # --- views -------------------------------------------------------------------------------

    def readiness(self) -> dict[str, str]:
        """Component -> Health value (adapters, Graph tenants)."""
        ready = {f"adapter:{n}": a.health.value for n, a in self.adapters.items()}
        ready.update({f"graph:{n}": t.publisher.health.value for n, t in self.tenants.items()})
        return ready

    def overall(self) -> str:
        worst = "ok"
        for value in self.readiness().values():
            level = HEALTH_READINESS.get(Health(value), "failed")
            if level == "failed":
                return "failed"
            if level == "degraded":
                worst = "degraded"
        return worst

    def alarms(self) -> list[str]:
        return sorted(f"{n}:{a}" for n, t in self.tenants.items() for a in t.publisher.alarms)

    def stats(self) -> dict[str, float]:
        out: dict[str, float] = {f"engine_{k}": float(v) for k, v in self.engine.counters.items()}
        out.update({f"service_{k}": float(v) for k, v in self.counters.items()})
        for name, adapter in self.adapters.items():
            for key, value in adapter.counters.items():
                out[f"adapter_{key}|adapter={name}"] = float(value)
        for name, tenant in self.tenants.items():
            for key, value in tenant.publisher.stats().items():
                out[f"{key}|tenant={name}"] = float(value)
        for name, watcher in self.watchers.items():
            for key, value in watcher.stats().items():
                out[f"{key}|tenant={name}"] = float(value)
        return out

    def status_rows(self, teams: Mapping[str, Pair] | None = None) -> list[dict[str, str]]:
        """The per-person table: PBX state, desired, sent, what Teams shows, and why."""
        rows = []
        for slot in self.engine.slots():
            rows.append(self._row(slot, teams or {}))
        return rows

    def _row(self, slot: PersonSlot, teams: Mapping[str, Pair]) -> dict[str, str]:
        decision = slot.decision
        pbx = decision.line.value if decision and slot.endpoints else "-"
        if any(state.dnd.value == "on" for _, _, state in slot.endpoints.values()):
            pbx += " +dnd"
        desired = "-"
        sent = "-"
        pending = ""
        if slot.object_id is not None and slot.config.publish:
            view = self.tenants[slot.config.tenant].publisher.view(slot.object_id)
            if view.desired is not None:
                desired = str(view.desired.session) if view.desired.session else "(clear)"
            sent = str(view.sent_session) if view.sent_session else "(none)"
            if view.sent_preferred:
                sent += f" +pref {view.sent_preferred}"
            pending = "pending" if view.pending else (view.failed or "")
        elif not slot.config.publish:
            desired = "(publish off)"
        shows = teams.get(slot.object_id or "")
        watcher = self.watchers.get(slot.config.tenant)
        if shows is None and watcher is not None and slot.object_id is not None:
            shows = watcher.shown(slot.object_id)  # the watcher's last read
        return {
            "person": slot.label,
            "pbx": pbx,
            "desired": desired,
            "sent": sent,
            "teams": str(shows) if shows else "-",
            "why": (decision.cause if slot.endpoints else "no PBX event yet") if decision else "",
            "state": pending,
        }

    def idle(self) -> bool:
        """No Graph work pending anywhere (for the demo and tests)."""
        return all(t.publisher.stats().get("publisher_pending", 0) == 0 for t in self.tenants.values())
