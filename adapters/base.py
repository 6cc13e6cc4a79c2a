"""The adapter interface every PBX adapter implements, its health vocabulary and the registry.

An adapter speaks one PBX protocol and emits canonical events (``bridge.model``) about
endpoints; it never sees Teams vocabulary. It may accept write-back commands (Teams -> PBX).

Writing a third-party adapter: provide an ``AdapterFactory`` (a ``kind`` name, a pydantic
``config_model`` with ``extra="forbid"``, and ``create()``), and register it under the
entry-point group ``presence_bridge.adapters``::

    [project.entry-points."presence_bridge.adapters"]
    mypbx = "mypbx_adapter:FACTORY"

then run the shipped contract (``adapters.testing``, docs/writing-an-adapter.md) against it.

Frozen interface.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Protocol, runtime_checkable

from pydantic import BaseModel

from bridge.kit.clock import Clock
from bridge.kit.health import HEALTH_READINESS, Health
from bridge.kit.metrics import Metrics
from bridge.model import EndpointKey, RoutableState, Snapshot, StateChange, WriteBack

ENTRY_POINT_GROUP = "presence_bridge.adapters"

__all__ = [
    "ENTRY_POINT_GROUP",
    "HEALTH_READINESS",
    "Adapter",
    "AdapterDeps",
    "AdapterEvent",
    "AdapterFactory",
    "Health",
    "HealthChange",
    "KnownExtensions",
    "KnowsExtensions",
    "OwnedWrite",
    "OwnsWrites",
    "RoutableState",
    "WriteBack",
    "available_kinds",
    "get_factory",
]


@dataclass(frozen=True, slots=True)
class HealthChange:
    """An adapter's health moved; ``detail`` is one human line (never a secret)."""

    adapter: str
    health: Health
    detail: str = ""


AdapterEvent = StateChange | Snapshot | HealthChange


# The write-back vocabulary (Teams -> PBX, DESIGN 6 and 13) is core: ``bridge.model``.


# --- The adapter itself --------------------------------------------------------------


def _everything_mapped(_key: EndpointKey) -> bool:
    return True


def _nothing_watched(_adapter: str) -> frozenset[str]:
    return frozenset()


@dataclass(frozen=True)
class AdapterDeps:
    """Everything an adapter gets from the runtime (nothing is read from globals).

    ``mapped`` says whether the configuration routes an endpoint to anyone (a listener answers
    events about other endpoints as ``ignored``; a connection adapter may skip them);
    ``watched`` names the extensions people's endpoints on the named adapter carry (an adapter that
    must subscribe per extension, such as a SIP watcher, asks it at start); ``metrics`` is the
    service's one registry (``bridge.kit.metrics``).
    """

    clock: Clock
    rng: random.Random = field(default_factory=random.Random)
    mapped: Callable[[EndpointKey], bool] = _everything_mapped
    watched: Callable[[str], frozenset[str]] = _nothing_watched
    metrics: Metrics = field(default_factory=Metrics)


@runtime_checkable
class Adapter(Protocol):
    """One running PBX connection (or listener)."""

    name: str

    @property
    def health(self) -> Health: ...

    @property
    def counters(self) -> dict[str, int]:
        """Counted rejections and events, e.g. ``{"rejected_frames": 2, "bad_token": 1}``."""
        ...

    async def start(self) -> None:
        """Begin connecting/listening; returns promptly. Idempotent."""
        ...

    async def stop(self) -> None:
        """Stop everything and leave no task behind. Idempotent. Ends ``events()``."""
        ...

    def events(self) -> AsyncIterator[AdapterEvent]:
        """The one stream of canonical events and health changes; ends after ``stop()``."""
        ...

    @property
    def supports_write_back(self) -> bool: ...

    async def write_back(self, command: WriteBack) -> None:
        """Apply a Teams -> PBX command; raise AdapterError if it cannot."""
        ...


@dataclass(frozen=True, slots=True)
class OwnedWrite:
    """A value of ours still on the PBX, as the write-back that set it (from the state store).

    ``held_for``: seconds since we set it, so a hold with a maximum keeps counting across restarts.
    """

    command: WriteBack
    held_for: float = 0.0


@runtime_checkable
class OwnsWrites(Protocol):
    """Optional, for an adapter that remembers its own writes (echo recognition, holds, release).

    The runtime calls ``restore_owned`` with what the store says we own *before* ``start()``, so
    the first resync already knows our own values and never reports them as the person's. ``read_back``
    asks the PBX (connected) which of ``owned`` are still set, one human line each ("DND/1002=YES");
    ``release`` uses it to verify. An adapter without this protocol keeps working: its writes are
    still recorded, undone by ``release`` and reported there as not verified.
    """

    def restore_owned(self, owned: Sequence[OwnedWrite]) -> None: ...

    async def read_back(self, owned: Sequence[OwnedWrite]) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class KnownExtensions:
    """Which extensions an adapter knows of, and how much its answer says (``mapping report``).

    ``complete``: the PBX's own list (dialplan hints, devices, user records), so an extension not
    in it does not exist on that PBX. Otherwise only what the adapter has heard of so far (a
    push-only listener knows an extension once the PBX sent an event about it): an absent one is
    "not seen yet", never "unknown". ``source`` says where the answer comes from, for the report
    ("hints, devices, AstDB AMPUSER"; "events received since it started").
    """

    extensions: frozenset[str]
    complete: bool
    source: str


@runtime_checkable
class KnowsExtensions(Protocol):
    """Optional, for an adapter that can tell which extensions its PBX has (``mapping report``).

    Asked once the adapter is CONNECTED (or DEGRADED); it may ask the PBX. None: it cannot tell
    now. An adapter without this protocol keeps working; the report lists its extensions as not
    checked.
    """

    async def known_extensions(self) -> KnownExtensions | None: ...


class AdapterFactory(Protocol):
    kind: str
    config_model: type[BaseModel]

    def create(self, name: str, config: BaseModel, deps: AdapterDeps) -> Adapter: ...


# --- Registry ------------------------------------------------------------------------


def _registered() -> dict[str, EntryPoint]:
    """The entry-point group, built-ins included (they register in our own ``pyproject.toml``).

    When two installed distributions claim one kind, the first found wins, as Python's own
    ``entry_points`` selection does.
    """
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep)
    return found


def available_kinds() -> list[str]:
    """Every adapter kind registered in the ``presence_bridge.adapters`` entry-point group."""
    return sorted(_registered())


def get_factory(kind: str) -> AdapterFactory:
    """The factory registered for ``kind`` in the entry-point group (loaded on first use).

    Raises KeyError naming the known kinds. A package that is registered but broken raises what
    importing it raises (the config loader reports it against the adapter's key).
    """
    registered = _registered()
    if kind not in registered:
        known = ", ".join(sorted(registered)) or "none (is presence-bridge installed? pip install -e .)"
        raise KeyError(f"unknown adapter kind {kind!r}; known: {known}")
    factory: AdapterFactory = registered[kind].load()
    return factory
