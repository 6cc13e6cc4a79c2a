"""The PBX side, built from the config: one adapter per configured section, through its factory.

Adapters learn which endpoints the configuration routes through ``AdapterDeps.mapped`` (a listener
answers events about other endpoints as ``ignored``) and which extensions people map to them through
``AdapterDeps.watched`` (the SIP watcher subscribes to those); nothing else of the config reaches them.
"""

from __future__ import annotations

import dataclasses

from adapters.base import Adapter, AdapterDeps, Health, HealthChange, get_factory
from bridge.config import BridgeConfig
from bridge.model import EndpointKey, EndpointRole

# Where a starting adapter comes to rest: connected (perhaps degraded) or a failure.
SETTLED = frozenset(
    {
        Health.CONNECTED,
        Health.DEGRADED,
        Health.BAD_CREDENTIALS,
        Health.TRANSIENT_DISCONNECT,
        Health.UNKNOWN_ERROR,
    }
)


async def first_settled(adapter: Adapter) -> tuple[Health, str]:
    """A started adapter's first settled health and its detail (``check``, ``mapping report``);
    the caller bounds the wait."""
    if adapter.health in SETTLED:
        return adapter.health, ""
    async for event in adapter.events():
        if isinstance(event, HealthChange) and event.health in SETTLED:
            return event.health, event.detail
    return adapter.health, "stopped"


def build_adapters(config: BridgeConfig, deps: AdapterDeps) -> dict[str, Adapter]:
    def mapped(key: EndpointKey) -> bool:
        return config.route(key) is not None

    def watched(adapter: str) -> frozenset[str]:
        return frozenset(
            endpoint.extension
            for person in config.people
            for endpoint in person.endpoints
            if endpoint.adapter == adapter and endpoint.role is not EndpointRole.IGNORE
        )

    deps = dataclasses.replace(deps, mapped=mapped, watched=watched)
    return {
        name: get_factory(section.kind).create(name, section.settings, deps)
        for name, section in config.adapters.items()
    }
