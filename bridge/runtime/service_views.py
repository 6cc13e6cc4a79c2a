"""What the running service shows: readiness, alarms, numbers and the per-person table.

Kept apart from the wiring in ``service.py``: these only read the parts the service built
(adapters, tenants, engine, watchers, store); the rules they apply are pure (``rules``, ``status``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from adapters.base import Adapter
from bridge.presence import Pair
from bridge.runtime import rules
from bridge.runtime.engine import Engine, PersonSlot
from bridge.runtime.status import status_row
from bridge.runtime.store import StateStore
from bridge.runtime.tenant import TenantRuntime
from bridge.teams.watcher import Watcher


class ServiceViews:
    """Mixed into ``BridgeService``; needs the attributes below."""

    tenants: dict[str, TenantRuntime]
    adapters: dict[str, Adapter]
    engine: Engine
    watchers: dict[str, Watcher]
    store: StateStore

    def readiness(self) -> dict[str, str]:
        """Component -> Health value (adapters, Graph tenants)."""
        return rules.readiness(
            {n: a.health for n, a in self.adapters.items()},
            {n: t.publisher.health for n, t in self.tenants.items()},
            store=self.store.health,
        )

    def overall(self) -> str:
        return rules.overall(self.readiness().values())

    def alarms(self) -> list[str]:
        """``<tenant>:<alarm>``, ``adapter:<name>:<alarm>`` (an adapter may offer ``alarms``) and
        ``store:<alarm>``."""
        raised: dict[str, Iterable[str]] = {n: t.publisher.alarms for n, t in self.tenants.items()}
        raised.update({f"adapter:{n}": getattr(a, "alarms", ()) for n, a in self.adapters.items()})
        return rules.alarms(raised, store=self.store.alarms)

    def status_rows(self, teams: Mapping[str, Pair] | None = None) -> list[dict[str, str]]:
        """The per-person table: PBX state, desired, sent, what Teams shows, and why."""
        return [self._row(slot, teams or {}) for slot in self.engine.slots()]

    def _row(self, slot: PersonSlot, teams: Mapping[str, Pair]) -> dict[str, str]:
        oid = slot.object_id
        published = None
        if oid is not None and slot.config.publish:
            published = self.tenants[slot.config.tenant].publisher.view(oid)
        shows = teams.get(oid or "")
        watcher = self.watchers.get(slot.config.tenant)
        if shows is None and watcher is not None and oid is not None:
            shows = watcher.shown(oid)  # the watcher's last read
        return status_row(
            label=slot.label,
            decision=slot.decision,
            states=[cell[2] for cell in slot.endpoints.values()],
            publish=slot.config.publish,
            published=published,
            shows=shows,
        )

    def idle(self) -> bool:
        """No Graph work pending anywhere (for the demo and tests)."""
        return all(t.publisher.stats().get("publisher_pending", 0) == 0 for t in self.tenants.values())
