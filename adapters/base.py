"""The adapter interface every PBX adapter implements, its health vocabulary and the registry.

An adapter speaks one PBX protocol and emits canonical events (``bridge.model``) about
endpoints; it never sees Teams vocabulary. It may accept write-back commands (Teams -> PBX).

Writing a third-party adapter: provide an ``AdapterFactory`` (a ``kind`` name, a pydantic
``config_model`` with ``extra="forbid"``, and ``create()``), and register it under the
entry-point group ``presence_bridge.adapters``::

    [project.entry-points."presence_bridge.adapters"]
    mypbx = "mypbx_adapter:FACTORY"

then run the contract suite in ``tests/contract/`` against it.

Frozen interface.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from importlib.metadata import entry_points
from typing import Protocol, runtime_checkable

from pydantic import BaseModel

from bridge.model import Snapshot, StateChange
from bridge.runtime.clock import Clock

ENTRY_POINT_GROUP = "presence_bridge.adapters"


class Health(StrEnum):
    """One health vocabulary for every component (adapters, Graph tenants, listeners)."""

    STOPPED = "STOPPED"
    CONNECTING = "CONNECTING"
    CONNECTED = "CONNECTED"
    TRANSIENT_DISCONNECT = "TRANSIENT_DISCONNECT"
    BAD_CREDENTIALS = "BAD_CREDENTIALS"
    UNKNOWN_ERROR = "UNKNOWN_ERROR"


# How /healthz reports each state (DESIGN 13).
HEALTH_READINESS: dict[Health, str] = {
    Health.STOPPED: "failed",
    Health.CONNECTING: "degraded",
    Health.CONNECTED: "ok",
    Health.TRANSIENT_DISCONNECT: "degraded",
    Health.BAD_CREDENTIALS: "failed",
    Health.UNKNOWN_ERROR: "failed",
}


@dataclass(frozen=True, slots=True)
class HealthChange:
    """An adapter's health moved; ``detail`` is one human line (never a secret)."""

    adapter: str
    health: Health
    detail: str = ""


AdapterEvent = StateChange | Snapshot | HealthChange


# --- Write-back vocabulary (Teams -> PBX), DESIGN sections 6 and 13 -----------------


class RoutableState(StrEnum):
    """The Teams state a dialplan can route on; NONE clears what we set."""

    CALL = "call"
    PRESENTING = "presenting"
    DND = "dnd"
    OOF = "oof"
    MEETING = "meeting"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class WriteBack:
    """One command to a PBX about one extension. ``None`` fields mean "leave as is".

    ``pbx_dnd``: switch the PBX's own DND (only for people who opted in).
    ``queue_pause``: a reason string pauses queue membership with ``teams:<reason>``;
    "" unpauses (only while the pause reason is still ours).
    """

    extension: str
    context: str = ""
    routable: RoutableState | None = None
    pbx_dnd: bool | None = None
    queue_pause: str | None = None


# --- The adapter itself --------------------------------------------------------------


@dataclass(frozen=True)
class AdapterDeps:
    """Everything an adapter gets from the runtime (nothing is read from globals)."""

    clock: Clock
    rng: random.Random = field(default_factory=random.Random)


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


class AdapterFactory(Protocol):
    kind: str
    config_model: type[BaseModel]

    def create(self, name: str, config: BaseModel, deps: AdapterDeps) -> Adapter: ...


# --- Registry ------------------------------------------------------------------------


def _builtin() -> dict[str, Callable[[], AdapterFactory]]:
    def cti() -> AdapterFactory:
        from adapters.generic_cti.adapter import FACTORY

        return FACTORY

    def ami() -> AdapterFactory:
        from adapters.asterisk_ami.adapter import FACTORY

        return FACTORY

    return {"generic_cti": cti, "asterisk_ami": ami}


def available_kinds() -> list[str]:
    kinds = set(_builtin())
    kinds.update(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
    return sorted(kinds)


def get_factory(kind: str) -> AdapterFactory:
    """The factory for ``kind``: built-ins first, then the entry-point group.

    Raises KeyError naming the known kinds.
    """
    builtin = _builtin()
    if kind in builtin:
        return builtin[kind]()
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == kind:
            factory: AdapterFactory = ep.load()
            return factory
    raise KeyError(f"unknown adapter kind {kind!r}; known: {', '.join(available_kinds())}")
