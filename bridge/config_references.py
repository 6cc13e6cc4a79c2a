"""Rules across configuration sections, for ``BridgeConfig``'s model validators.

``check_references`` runs on the raw input, so people and endpoints with other problems are still
checked (every problem is reported at once); the others need validated sections. Each returns
``(location, message)`` problems; ``people.<n>`` in a message is the ``people:`` item the person came
from (``people_at``: one index per person, for people imported from CSV).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from bridge.config_mapping import MappingConfig, TableCache
from bridge.kit.config_types import Problem
from bridge.mapping import MappingResolutionError

IgnoredContexts = Mapping[str, tuple[str, ...]]  # adapter name -> contexts whose events are dropped


class _Endpoint(Protocol):
    @property
    def adapter(self) -> str: ...
    @property
    def context(self) -> str: ...


class _Person(Protocol):
    @property
    def mapping(self) -> Any: ...
    @property
    def endpoints(self) -> Sequence[_Endpoint]: ...


def several_tenants(tenants: Sequence[str]) -> str:
    return f"required when there is not exactly one tenant (tenants: {', '.join(tenants) or 'none'})"


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def check_references(
    data: dict[str, Any], people_at: Sequence[int] | None
) -> tuple[dict[str, Any], list[Problem]]:
    """Tenants and adapters exist, people name them (the only tenant by default), nothing twice."""
    found: list[Problem] = []

    def shown(i: int) -> int:
        return people_at[i] if people_at is not None and i < len(people_at) else i

    tenants = data.get("tenants")
    tenant_names = [str(name) for name in tenants] if isinstance(tenants, dict) else []
    if not tenant_names:
        found.append((("tenants",), "required: at least one tenant (tenant_id, client_id and a credential)"))
    adapters = data.get("adapters", {})
    if not isinstance(adapters, dict):
        found.append((("adapters",), "must map adapter names to their settings"))
        adapters = {}
    configured = ", ".join(map(str, adapters)) or "none"
    people = data.get("people", ())
    people = list(people) if isinstance(people, list | tuple) else people
    known: dict[str, int] = {}
    endpoints: dict[tuple[str, str, str, str], int] = {}
    for i, person in enumerate(people if isinstance(people, list) else ()):
        if not isinstance(person, dict):
            continue
        tenant = person.get("tenant")
        if tenant is None and len(tenant_names) == 1:
            people[i] = person = {**person, "tenant": tenant_names[0]}
        elif tenant is None:
            found.append((("people", i, "tenant"), several_tenants(tenant_names)))
        elif _text(tenant) not in tenant_names:
            found.append(
                (("people", i, "tenant"), f"unknown tenant {tenant!r}; known: {', '.join(tenant_names)}")
            )
        key = _text(person.get("id") or person.get("upn")).lower()
        if key and key in known:
            found.append((("people", i), f"{key} is listed twice (first as people.{shown(known[key])})"))
        elif key:
            known[key] = i
        listed = person.get("endpoints")
        for k, ep in enumerate(listed if isinstance(listed, list | tuple) else ()):
            if not isinstance(ep, dict):
                continue
            where = ("people", i, "endpoints", k)
            adapter = _text(ep.get("adapter"))
            if adapter and adapter not in adapters:
                found.append(((*where, "adapter"), f"unknown adapter {adapter!r}; configured: {configured}"))
            index = (adapter, _text(ep.get("extension")), _text(ep.get("context")), _text(ep.get("device")))
            first = endpoints.get(index)
            if first is None:
                endpoints[index] = i
            else:
                whose = "this person" if first == i else f"people.{shown(first)}"
                found.append((where, f"endpoint {adapter}/{index[1]} is already mapped to {whose}"))
    mapping = data.get("mapping")
    mapped = mapping.get("adapters") if isinstance(mapping, dict) else None
    for name in mapped if isinstance(mapped, dict) else ():
        if name not in adapters:
            found.append((("mapping", "adapters", name), f"unknown adapter; configured: {configured}"))
    return {**data, "people": people} if "people" in data else data, found


def ignored_context_problems(people: Sequence[_Person], ignored: IgnoredContexts) -> list[Problem]:
    """An endpoint in a context its adapter ignores would never be heard."""
    return [
        (
            ("people", i, "endpoints", k, "context"),
            f"{ep.context!r} is in adapters.{ep.adapter}.ignore_contexts: its events are dropped",
        )
        for i, person in enumerate(people)
        for k, ep in enumerate(person.endpoints)
        if ep.context and ep.context in ignored.get(ep.adapter, ())
    ]


def table_problems(
    mapping: MappingConfig, adapters: Sequence[str], people: Sequence[_Person], tables: TableCache
) -> list[Problem]:
    """Every table in use resolves (dnd_preferred, away_preferred have their expiry), reported where
    it is set."""
    found: list[Problem] = []
    for name in (None, *adapters):
        try:
            tables.get(name)
        except MappingResolutionError as exc:
            where: tuple[str, ...] = ("mapping", exc.key)
            if name is not None and name in mapping.adapters and getattr(mapping.adapters[name], exc.key):
                where = ("mapping", "adapters", name, exc.key)
            if all(loc != where for loc, _ in found):
                found.append((where, str(exc)))
    for i, person in enumerate(people):
        for name in sorted({ep.adapter for ep in person.endpoints}) if person.mapping is not None else ():
            try:
                tables.get(name, person.mapping)
            except MappingResolutionError as exc:
                found.append((("people", i, "mapping", exc.key), str(exc)))
                break
    return found
