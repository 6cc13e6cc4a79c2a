"""``presence-bridge mapping report``: every person, resolved through Graph and checked on the PBX.

The problems it names, each counted (README, command table; the exit code is 1 when any is found):

- ``FAILING``: the person's UPN does not resolve in Graph (Graph's reason given);
- ``DUPLICATE``: another person resolves to the same Entra user;
- ``UNMAPPED``: no personal endpoint, so their presence is never published;
- ``UNKNOWN_ON_PBX``: an adapter that can list its PBX's extensions (``adapters.base.KnowsExtensions``
  with a complete answer; AMI: hints, devices, AstDB ``AMPUSER``) does not list this one: a typo or a
  deleted extension, whose person would never leave Available;
- ``UNREACHABLE`` (one per adapter): it did not connect within the bound, so its extensions are not
  checked. A report that could not look is not a clean report.

The ``PBX`` column says per endpoint what its adapter answered: ``exists``, ``unknown``, ``seen`` or
``not seen yet`` (a push-only adapter, the generic CTI, knows only the extensions it received events
about since the report started it: absent is no problem), ``not checked`` (unreachable, or an
adapter that cannot tell). Endpoints with role ``ignore`` are not asked about.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TextIO

from adapters.base import Adapter, AdapterDeps, Health, KnownExtensions, KnowsExtensions
from bridge.config import BridgeConfig, PersonConfig
from bridge.errors import BridgeError, GraphError
from bridge.kit.clock import Clock, Expired, SystemClock, within
from bridge.model import EndpointRole
from bridge.runtime.pbx_side import build_adapters, first_settled
from bridge.runtime.store import StateStore
from bridge.runtime.tenant import build_tenant

CONNECT_SECONDS = 10.0  # per adapter (all asked at once): connect, log in, resync; then the question
_ASKABLE = frozenset({Health.CONNECTED, Health.DEGRADED})


class OnPbx(StrEnum):
    """What an endpoint's adapter said about its extension."""

    EXISTS = "exists"  # in the PBX's own list
    UNKNOWN = "unknown"  # absent from the PBX's own list: UNKNOWN_ON_PBX
    SEEN = "seen"  # a push-only adapter received an event about it
    NOT_SEEN_YET = "not seen yet"  # ... and about this one not yet (no problem)
    NOT_CHECKED = "not checked"  # unreachable, or the adapter cannot tell


@dataclass(frozen=True, slots=True)
class AdapterAnswer:
    """One adapter's answer: ``known`` None when it could not be asked; ``unreachable`` says why
    (empty: reachable, but it cannot tell)."""

    name: str
    known: KnownExtensions | None = None
    unreachable: str = ""


def on_pbx(answer: AdapterAnswer | None, extension: str) -> OnPbx:
    known = answer.known if answer is not None else None
    if known is None:
        return OnPbx.NOT_CHECKED
    if extension in known.extensions:
        return OnPbx.EXISTS if known.complete else OnPbx.SEEN
    return OnPbx.UNKNOWN if known.complete else OnPbx.NOT_SEEN_YET


def mapped_extensions(config: BridgeConfig) -> dict[str, set[str]]:
    """Adapter -> the extensions people map to it (``ignore`` endpoints left out)."""
    mapped: dict[str, set[str]] = {name: set() for name in config.adapters}
    for person in config.people:
        for endpoint in person.endpoints:
            if endpoint.role is not EndpointRole.IGNORE:
                mapped.setdefault(endpoint.adapter, set()).add(endpoint.extension)
    return mapped


def adapter_line(answer: AdapterAnswer, mapped: set[str]) -> tuple[str, bool]:
    """The adapter's line of the report and whether it is a problem (``UNREACHABLE``)."""
    name, known, count = answer.name, answer.known, len(mapped)
    if answer.unreachable:
        return (
            f"  FAIL adapter {name}: UNREACHABLE: {answer.unreachable}; "
            f"its {count} mapped extension(s) are not checked",
            True,
        )
    if known is None:
        return f"  info adapter {name}: cannot tell which extensions exist ({count} not checked)", False
    found = len(mapped & known.extensions)
    if known.complete:
        return f"  ok   adapter {name}: {found} of {count} mapped extension(s) exist ({known.source})", False
    return (
        f"  info adapter {name}: heard of {found} of {count} mapped extension(s) while this report "
        f"listened ({known.source}); this PBX cannot be asked which exist, so 'not seen yet' is no problem",
        False,
    )


def person_pbx(person: PersonConfig, answers: Mapping[str, AdapterAnswer]) -> tuple[str, str]:
    """The person's ``PBX`` cell and their ``UNKNOWN_ON_PBX`` problem ("" when none)."""
    endpoints = [e for e in person.endpoints if e.role is not EndpointRole.IGNORE]
    verdicts = [(e, on_pbx(answers.get(e.adapter), e.extension)) for e in endpoints]
    if len(verdicts) == 1:
        cell = verdicts[0][1].value
    else:
        cell = ", ".join(f"{e.extension} {v.value}" for e, v in verdicts) or "-"
    unknown: dict[str, list[str]] = {}
    for endpoint, verdict in verdicts:
        if verdict is OnPbx.UNKNOWN:
            unknown.setdefault(endpoint.adapter, []).append(endpoint.extension)
    problem = "; ".join(
        f"UNKNOWN_ON_PBX: {', '.join(extensions)} not on {adapter} "
        f"(looked in {_source(answers[adapter])}; a typo or a deleted extension?)"
        for adapter, extensions in unknown.items()
    )
    return cell, problem


def _source(answer: AdapterAnswer) -> str:
    return answer.known.source if answer.known is not None else ""


# --- asking the adapters (I/O) -------------------------------------------------------------


async def ask_adapter(name: str, adapter: Adapter, clock: Clock, seconds: float) -> AdapterAnswer:
    """Start one adapter, wait (bounded) until it connects, ask which extensions exist, stop it."""
    try:
        await adapter.start()
        try:
            health, detail = await within(clock, seconds, first_settled(adapter))
        except Expired:
            health, detail = adapter.health, f"no answer within {seconds:g} s"
        if health not in _ASKABLE:
            return AdapterAnswer(name, unreachable=f"{health.value}: {detail or 'failed'}")
        if not isinstance(adapter, KnowsExtensions):
            return AdapterAnswer(name)
        try:
            return AdapterAnswer(name, await within(clock, seconds, adapter.known_extensions()))
        except Expired:
            return AdapterAnswer(name, unreachable=f"no answer which extensions exist within {seconds:g} s")
        except BridgeError as exc:  # the PBX went away meanwhile
            return AdapterAnswer(name, unreachable=str(exc))
    finally:
        await adapter.stop()


async def ask_adapters(
    adapters: Mapping[str, Adapter], clock: Clock, seconds: float
) -> dict[str, AdapterAnswer]:
    """Every adapter at once, so the whole wait stays within about ``2 * seconds``."""
    answers = await asyncio.gather(*(ask_adapter(n, a, clock, seconds) for n, a in adapters.items()))
    return {answer.name: answer for answer in answers}


async def _resolve(config: BridgeConfig) -> tuple[dict[str, str], dict[str, str]]:
    """Person key -> object id for people given by UPN, and person key -> why it failed."""
    resolved: dict[str, str] = {}
    failing: dict[str, str] = {}
    store = StateStore(":memory:").open()
    try:
        for name, cfg in config.tenants.items():
            people = [p for p in config.people if p.tenant == name and p.upn is not None]
            if not people:
                continue
            tenant = build_tenant(name, cfg, clock=SystemClock(), store=store, rng=random.Random())
            try:
                for person in people:
                    try:
                        resolved[person.key] = (await tenant.graph.get_user(person.upn or "")).id
                    except GraphError as exc:
                        failing[person.key] = str(exc)
            finally:
                await tenant.aclose()
    finally:
        store.close()
    return resolved, failing


# --- the report ----------------------------------------------------------------------------


async def mapping_report(
    config: BridgeConfig, out: TextIO, *, clock: Clock | None = None, connect_within: float = CONNECT_SECONDS
) -> int:
    """Print every person, resolved and checked on the PBX; return how many problems were found."""
    clock = clock or SystemClock()
    adapters = build_adapters(config, AdapterDeps(clock, random.Random()))
    (resolved, failing), answers = await asyncio.gather(
        _resolve(config), ask_adapters(adapters, clock, connect_within)
    )
    problems = 0
    mapped = mapped_extensions(config)
    if answers:
        asked = f"asked which mapped extensions exist; {connect_within:g} s to connect"
        print(f"PBX adapters ({asked}):", file=out)
    for name in config.adapters:
        line, problem = adapter_line(answers[name], mapped.get(name, set()))
        problems += problem
        print(line, file=out)
    problems += _people(config, resolved, failing, answers, out)
    print(f"{len(config.people)} people, {problems} problem(s)", file=out)
    return problems


def _people(
    config: BridgeConfig,
    resolved: Mapping[str, str],
    failing: Mapping[str, str],
    answers: Mapping[str, AdapterAnswer],
    out: TextIO,
) -> int:
    """The people table; returns its problem count."""
    ids = Counter(resolved.get(p.key, p.id or "") for p in config.people)
    cells = {p.key: person_pbx(p, answers) for p in config.people}
    width = max([3, *(len(cell) for cell, _ in cells.values())])
    print(f"{'person':32} {'tenant':10} {'object id':38} {'endpoints':10} {'PBX':{width}} status", file=out)
    problems = 0
    for person in config.people:
        oid = person.id or resolved.get(person.key, "")
        personal = [e for e in person.endpoints if e.role is EndpointRole.PERSONAL]
        found: list[str] = []
        if person.key in failing:
            found.append(f"FAILING: {failing[person.key]}")
        elif oid and ids[oid] > 1:
            found.append("DUPLICATE: another person resolves to the same Entra user")
        elif not personal:
            found.append("UNMAPPED: no personal endpoint (presence never published)")
        cell, unknown = cells[person.key]
        if unknown:
            found.append(unknown)
        problems += len(found)
        status = "; ".join(found) or ("ok" if person.publish else "ok (publish off)")
        label = person.name or person.upn or person.key
        eps = ",".join(e.extension for e in person.endpoints)
        row = f"{label[:32]:32} {person.tenant[:10]:10} {oid or '-':38} {eps:10} {cell:{width}} {status}"
        print(row, file=out)
    return problems
