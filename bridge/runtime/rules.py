"""The service's routing and fan-out rules, pure: no asyncio, no I/O, tested against tables.

``BridgeService`` wires and supervises; what it decides lives here, in the shape of
``bridge/writeback.py`` (plain values in, plain values out):

- **PBX DND -> watcher** (``dnd_notes``): a PBX DND report is the person's own PBX DND only on a
  ``personal`` endpoint. ``ignore`` endpoints' events are dropped and ``shared`` ones never carry
  PBX DND (DESIGN 13 roles, docs/teams-to-pbx.md); an unknown state says nothing; only tenants
  whose watcher runs hear it. ``by_us`` is the adapter's echo flag (our own write changes nothing).
- **Teams -> PBX** (``write_back_targets``): a command goes to its adapter only if that adapter is
  configured and accepts write-back (README: write-back is opt-in per adapter).
- **Health** (``readiness``, ``overall``): components named ``adapter:<name>``,
  ``graph:<tenant>`` and ``store`` (the state store: degraded while its writes fail or its file
  is gone); ``/healthz`` reports the worst of them (DESIGN 13 health mapping).
- **Alarms** (``alarms``): ``<tenant>:<alarm>`` and ``store:<alarm>``, sorted.

Imports stay on the core and the kit's health vocabulary (checked by a fresh-interpreter test).
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from bridge.kit.health import HEALTH_READINESS, Health
from bridge.model import EndpointKey, EndpointRole, Snapshot, StateChange, Toggle, WriteBack

_READINESS_ORDER = ("ok", "degraded", "failed")  # worst last


class Owner(Protocol):
    """The person an endpoint routes to (a ``PersonConfig``, as far as these rules need it)."""

    @property
    def key(self) -> str: ...

    @property
    def tenant(self) -> str: ...


Route = Callable[[EndpointKey], "tuple[Owner, EndpointRole] | None"]


@dataclass(frozen=True, slots=True)
class DndNote:
    """Tell ``tenant``'s watcher that the PBX reported ``person_key``'s DND as ``on``."""

    tenant: str
    person_key: str
    on: bool
    by_us: bool


def dnd_notes(event: object, route: Route, watched: Container[str]) -> list[DndNote]:
    """The PBX DND reports in one adapter event, as notes for the tenants' watchers."""
    if isinstance(event, Snapshot):
        changes: Iterable[StateChange] = event.changes
    elif isinstance(event, StateChange):
        changes = (event,)
    else:
        return []
    notes = []
    for change in changes:
        if change.dnd is None or change.dnd is Toggle.UNKNOWN:
            continue
        routed = route(change.endpoint)
        if routed is None or routed[1] is not EndpointRole.PERSONAL:
            continue
        person = routed[0]
        if person.tenant in watched:
            notes.append(DndNote(person.tenant, person.key, change.dnd is Toggle.ON, change.echo))
    return notes


def write_back_targets(
    commands: Iterable[tuple[str, WriteBack]], accepts: Callable[[str], bool]
) -> list[tuple[str, WriteBack]]:
    """The commands to hand over, in order: those whose adapter exists and accepts write-back."""
    return [(adapter, command) for adapter, command in commands if accepts(adapter)]


def readiness(
    adapters: Mapping[str, Health], tenants: Mapping[str, Health], *, store: Health | None = None
) -> dict[str, str]:
    """Component -> health value, as ``/healthz`` lists them."""
    out = {f"adapter:{name}": health.value for name, health in adapters.items()}
    out.update({f"graph:{name}": health.value for name, health in tenants.items()})
    if store is not None:
        out["store"] = store.value
    return out


def overall(components: Iterable[str]) -> str:
    """ok / degraded / failed: the worst component's readiness (a value we do not know is failed)."""
    worst = 0
    for value in components:
        try:
            level = HEALTH_READINESS[Health(value)]
        except ValueError:
            level = "failed"
        worst = max(worst, _READINESS_ORDER.index(level))
    return _READINESS_ORDER[worst]


def alarms(by_tenant: Mapping[str, Iterable[str]], *, store: Iterable[str] = ()) -> list[str]:
    named = [f"{tenant}:{alarm}" for tenant, raised in by_tenant.items() for alarm in raised]
    return sorted(named + [f"store:{alarm}" for alarm in store])
