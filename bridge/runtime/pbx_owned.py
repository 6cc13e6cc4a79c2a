"""What we wrote to the PBX (Teams -> PBX), remembered in the state store so ``release`` can undo it.

``record`` is called after an adapter accepted a write-back; ``release_all`` connects the adapters
that hold values of ours and clears them (decommissioning, the panic button).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TextIO

from adapters.base import Adapter, Health, HealthChange, RoutableState, WriteBack
from bridge.config_model import PersonConfig
from bridge.errors import AdapterError, StoreError
from bridge.kit.clock import Clock
from bridge.model import EndpointKey, EndpointRole
from bridge.runtime.store import OwnedValue, StateStore
from bridge.teams.watcher import Watcher
from bridge.writeback import WatchState

log = logging.getLogger(__name__)

ROUTABLE = "routable"
PBX_DND = "dnd"
PBX_DND_MAX_HOLD = timedelta(hours=8)
CONNECT_SECONDS = 15.0


def record(store: StateStore, adapter: str, command: WriteBack, now: datetime, *, done: bool) -> None:
    """Remember what a write-back leaves on the PBX: values we set are recorded *before* the write
    (``done=False``: a bridge stopped mid-write still knows to undo them; undoing a value that never
    landed is harmless), values we clear are forgotten only after it (``done=True``)."""
    try:
        if command.routable is not None:
            if command.routable is RoutableState.NONE:
                if done:
                    store.forget_owned(adapter, command.extension, ROUTABLE)
            elif not done:
                store.save_owned(OwnedValue(adapter, command.extension, ROUTABLE, command.routable.value))
        if command.pbx_dnd is True and not done:
            store.save_owned(OwnedValue(adapter, command.extension, PBX_DND, "on", now + PBX_DND_MAX_HOLD))
        elif command.pbx_dnd is False and done:
            store.forget_owned(adapter, command.extension, PBX_DND)
    except StoreError as exc:
        log.warning("could not record a PBX write-back for %s/%s: %s", adapter, command.extension, exc)


def restored_states(
    store: StateStore,
    route: Callable[[EndpointKey], tuple[PersonConfig, EndpointRole] | None],
    mono: float,
    now: datetime,
) -> dict[str, WatchState]:
    """Per person key, the Teams -> PBX state a previous run left behind (from ownership records)."""
    states: dict[str, WatchState] = {}
    try:
        owned = store.load_owned()
    except StoreError as exc:
        log.warning("could not read PBX ownership records: %s", exc)
        return states
    for value in owned:
        routed = route(EndpointKey(value.adapter, value.extension))
        if routed is None:
            continue
        key = routed[0].key
        state = states.get(key, WatchState())
        if value.what == ROUTABLE:
            try:
                routable = RoutableState(value.value)
            except ValueError:
                continue
            state = replace(state, sent_routable=routable, teams_dnd=routable is RoutableState.DND)
        elif value.what == PBX_DND:
            held = PBX_DND_MAX_HOLD - (value.expires_at - now) if value.expires_at else timedelta(0)
            state = replace(state, pbx_dnd_ours=True, pbx_dnd_since=mono - held.total_seconds())
        states[key] = state
    return states


def restore_watchers(
    store: StateStore,
    route: Callable[[EndpointKey], tuple[PersonConfig, EndpointRole] | None],
    clock: Clock,
    watchers: Iterable[Watcher],
) -> None:
    """Start each watcher's people from what a previous run left on the PBX."""
    restored = restored_states(store, route, clock.monotonic(), clock.now())
    for watcher in watchers:
        for key, state in restored.items():
            watcher.restore(key, state)


def undo_command(owned: OwnedValue) -> WriteBack:
    if owned.what == PBX_DND:
        return WriteBack(owned.extension, pbx_dnd=False)
    return WriteBack(owned.extension, routable=RoutableState.NONE)


# DEGRADED is connected: a configured part does not work (say read=system), release may still clear.
_USABLE = (Health.CONNECTED, Health.DEGRADED)


async def _connected(adapter: Adapter) -> Health:
    async def settle() -> Health:
        if adapter.health in _USABLE:
            return adapter.health
        async for event in adapter.events():
            if isinstance(event, HealthChange) and event.health is not Health.CONNECTING:
                return event.health
        return adapter.health

    await adapter.start()
    try:
        return await asyncio.wait_for(settle(), CONNECT_SECONDS)
    except TimeoutError:
        return adapter.health


async def release_all(store: StateStore, adapters: Mapping[str, Adapter], out: TextIO) -> bool:
    """Clear every PBX value of ours; True when nothing of ours is left behind."""
    owned = store.load_owned()
    if not owned:
        print("pbx: nothing of ours to release", file=out)
        return True
    ok = True
    for name in sorted({o.adapter for o in owned}):
        mine = [o for o in owned if o.adapter == name]
        adapter = adapters.get(name)
        if adapter is None or not adapter.supports_write_back:
            ok = False
            print(
                f"pbx {name}: {len(mine)} value(s) of ours, but the adapter is gone from the config", file=out
            )
            continue
        try:
            health = await _connected(adapter)
            if health not in _USABLE:
                ok = False
                print(f"pbx {name}: cannot connect ({health.value}); {len(mine)} value(s) left", file=out)
                continue
            cleared = 0
            for value in mine:
                try:
                    await adapter.write_back(undo_command(value))
                except AdapterError as exc:
                    ok = False
                    print(f"pbx {name}: {value.extension} {value.what}: {exc}", file=out)
                    continue
                store.forget_owned(name, value.extension, value.what)
                cleared += 1
            print(f"pbx {name}: {cleared} value(s) of ours cleared", file=out)
        finally:
            await adapter.stop()
    return ok
