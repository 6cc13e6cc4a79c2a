"""Who each tenant's watcher reads: configured people -> ``WatchedPerson`` (config meets teams here)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from bridge.config_model import PersonConfig
from bridge.model import EndpointRole
from bridge.teams.watcher import Endpoint, WatchedPerson


def watched_people(
    people: Iterable[PersonConfig], object_id: Callable[[PersonConfig], str | None]
) -> list[WatchedPerson]:
    """Configured people -> who the watcher reads (people without an object id yet are left out).

    ``ignore`` endpoints get nothing; ``shared`` ones get routable state but never PBX DND.
    """
    out: list[WatchedPerson] = []
    for config in people:
        oid = object_id(config)
        if oid is None:
            continue
        endpoints = {
            Endpoint(ep.adapter, ep.extension, ep.context, ep.role is EndpointRole.SHARED): None
            for ep in config.endpoints
            if ep.role is not EndpointRole.IGNORE
        }
        out.append(WatchedPerson(oid, config.key, tuple(endpoints), config.pbx_dnd_from_teams))
    return out


def watched_by_tenant(
    people: Mapping[str, tuple[PersonConfig, str | None]], tenants: Iterable[str]
) -> dict[str, list[WatchedPerson]]:
    """For each watched tenant, whom its watcher reads: its own people (key -> config and object id),
    those with an object id only."""
    return {
        tenant: watched_people(
            (config for config, _ in people.values() if config.tenant == tenant),
            lambda config: people[config.key][1],
        )
        for tenant in tenants
    }
