"""What we wrote to the PBX (Teams -> PBX): one ownership record in the state store, for every use.

* ``record`` persists it write-ahead around each write-back (values set: before; cleared: after).
* ``restore_adapters`` hands each adapter what it owns *before* it starts (``OwnsWrites``), so its
  first resync already tells our own values from the person's: a PBX DND we set is never published
  to Teams, and switching it off later is ours to do; ``restore_watchers`` does the same for the
  Teams -> PBX policy.
* ``forget_taken_over``: a person who switches a DND of ours themselves makes it theirs, in the
  store as in the adapter's ledger, so neither a restart nor ``release`` touches it.
* ``release_all`` connects the adapters that hold values of ours, clears them, reads each back and
  names what is still set (decommissioning, the panic button).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TextIO

from adapters.base import Adapter, Health, HealthChange, OwnedWrite, OwnsWrites, RoutableState, WriteBack
from bridge.config_model import PersonConfig
from bridge.errors import AdapterError, StoreError
from bridge.kit.clock import Clock
from bridge.model import EndpointKey, EndpointRole, Snapshot, StateChange, Toggle
from bridge.runtime.store import OwnedValue, StateStore
from bridge.teams.watcher import Watcher
from bridge.writeback import WatchState

log = logging.getLogger(__name__)

ROUTABLE = "routable"
PBX_DND = "dnd"
QUEUE_PAUSE = "pause"
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
        if command.queue_pause and not done:
            store.save_owned(OwnedValue(adapter, command.extension, QUEUE_PAUSE, command.queue_pause))
        elif command.queue_pause == "" and done:
            store.forget_owned(adapter, command.extension, QUEUE_PAUSE)
    except StoreError as exc:
        log.warning("could not record a PBX write-back for %s/%s: %s", adapter, command.extension, exc)


def not_connected(name: str, adapter: Adapter) -> None:
    """Raise before recording a write-back an adapter cannot send now (AdapterError: the watcher
    retries at its next round). A record written ahead of a write that never left would outlive it
    whenever Teams returns to what the watcher last sent: the store would claim a value of ours
    the PBX never held (chaos seed 67)."""
    if adapter.health not in _USABLE:
        raise AdapterError(f"adapter {name} is not connected ({adapter.health.value})")


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
    return {key: _overridden(state) for key, state in states.items()}


def _overridden(state: WatchState) -> WatchState:
    """A Teams DND recorded (routable ``dnd``) without a PBX DND of ours: the person switched ours
    off (or it was never ours to set: their own, or held for the maximum time), so it stays off
    until Teams leaves DND (README "No loops"), across a restart as without one."""
    if state.teams_dnd and not state.pbx_dnd_ours:
        return replace(state, suppressed=True)
    return state


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


def owned_write(owned: OwnedValue, now: datetime | None) -> OwnedWrite | None:
    """A stored record as the write-back that set it (None: a record this bridge cannot read)."""
    ext = owned.extension
    if owned.what == PBX_DND:
        held = timedelta(0)
        if now is not None and owned.expires_at is not None:
            held = max(PBX_DND_MAX_HOLD - (owned.expires_at - now), timedelta(0))
        return OwnedWrite(WriteBack(ext, pbx_dnd=True), held.total_seconds())
    if owned.what == QUEUE_PAUSE:
        return OwnedWrite(WriteBack(ext, queue_pause=owned.value))
    if owned.what == ROUTABLE:
        try:
            return OwnedWrite(WriteBack(ext, routable=RoutableState(owned.value)))
        except ValueError:
            return None
    return None


def restore_adapters(store: StateStore, adapters: Mapping[str, Adapter], now: datetime) -> None:
    """Before the adapters start: hand each one that remembers its writes what it owns."""
    try:
        owned = store.load_owned()
    except StoreError as exc:
        log.warning("could not read PBX ownership records: %s", exc)
        return
    for name, adapter in adapters.items():
        if isinstance(adapter, OwnsWrites):
            writes = [owned_write(o, now) for o in owned if o.adapter == name]
            adapter.restore_owned([w for w in writes if w is not None])


def forget_taken_over(store: StateStore, event: object) -> None:
    """A PBX DND of ours reported on or off by someone else (not our echo) is theirs now: forget it.

    The adapter's ledger lets go by the same rule; DND reports are rare, so reading the records
    then costs nothing on the hot path.
    """
    if isinstance(event, StateChange):
        changes: tuple[StateChange, ...] = (event,)
    elif isinstance(event, Snapshot):
        changes = event.changes
    else:
        return
    reported = [
        c.endpoint
        for c in changes
        if c.dnd is not None and c.dnd is not Toggle.UNKNOWN and not c.echo and not c.endpoint.device
    ]
    if not reported:
        return
    try:
        owned = {(o.adapter, o.extension) for o in store.load_owned() if o.what == PBX_DND}
        for key in reported:
            if (key.adapter, key.extension) in owned:
                log.info(
                    "PBX DND on %s/%s was switched by the person: theirs now", key.adapter, key.extension
                )
                store.forget_owned(key.adapter, key.extension, PBX_DND)
    except StoreError as exc:
        log.warning("could not update PBX ownership records: %s", exc)


def undo_command(owned: OwnedValue) -> WriteBack:
    if owned.what == PBX_DND:
        return WriteBack(owned.extension, pbx_dnd=False)
    if owned.what == QUEUE_PAUSE:
        return WriteBack(owned.extension, queue_pause="")
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


async def release_all(
    store: StateStore, adapters: Mapping[str, Adapter], out: TextIO, now: datetime | None = None
) -> bool:
    """Clear every PBX value of ours and read each back; True when nothing of ours is left.

    A value is forgotten only once the PBX reads it back clear (or, for an adapter that cannot read
    back, once the adapter accepted the clear: said so as "not verified"); anything still set is
    named and stays recorded, so a second ``release`` or the next run tries again.
    """
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
        if isinstance(adapter, OwnsWrites):
            writes = [owned_write(o, now) for o in mine]
            adapter.restore_owned([w for w in writes if w is not None])
        try:
            health = await _connected(adapter)
            if health not in _USABLE:
                ok = False
                print(f"pbx {name}: cannot connect ({health.value}); {len(mine)} value(s) left", file=out)
                continue
            ok = await _release_adapter(store, name, adapter, mine, out) and ok
        finally:
            await adapter.stop()
    return ok


async def _release_adapter(
    store: StateStore, name: str, adapter: Adapter, mine: list[OwnedValue], out: TextIO
) -> bool:
    cleared = 0
    left: list[str] = []
    for value in mine:
        label = f"{value.extension} {value.what}"
        try:
            await adapter.write_back(undo_command(value))
            remains = await _read_back(adapter, value)
        except AdapterError as exc:
            left.append(f"{label} ({exc})")
            continue
        if remains:
            left.append(f"{label} ({', '.join(remains)})")
            continue
        store.forget_owned(name, value.extension, value.what)
        cleared += 1
    verified = "read back clear" if isinstance(adapter, OwnsWrites) else "not verified: no read-back"
    print(f"pbx {name}: {cleared} value(s) of ours cleared ({verified})", file=out)
    if left:
        print(f"pbx {name}: {len(left)} value(s) still set: {'; '.join(left)}", file=out)
    return not left


async def _read_back(adapter: Adapter, value: OwnedValue) -> list[str]:
    """What of ``value`` the PBX still holds (nothing known for an adapter that cannot read back)."""
    if not isinstance(adapter, OwnsWrites):
        return []
    write = owned_write(value, None)
    if write is None:
        return [f"unreadable record {value.value!r}"]
    return await adapter.read_back([write])
