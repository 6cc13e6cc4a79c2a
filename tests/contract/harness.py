"""What an adapter's tests provide so the contract suite can drive it (see README.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from adapters.base import Adapter, AdapterEvent
from bridge.kit.clock import FakeClock


@dataclass(frozen=True)
class Fixture:
    """One input the adapter must understand, and the canonical events it must produce, in order.

    ``payload`` is whatever the harness's ``feed`` knows how to deliver (a JSON body, recorded
    AMI frames, a NOTIFY...). ``expected`` lists StateChange/Snapshot values (no HealthChange).
    """

    id: str
    payload: object
    expected: tuple[AdapterEvent, ...]


class AdapterHarness(Protocol):
    """Builds one kind of adapter against fakes at its transport edge, and plays its peer.

    ``credentials`` says how the adapter meets bad credentials:
    - ``"listener"``: a *client* of ours presents a wrong secret; the adapter answers it,
      counts it in ``counters[bad_credentials_counter]`` and its health does not move.
    - ``"client"``: the PBX refuses *our* secret; health becomes BAD_CREDENTIALS and the next
      attempt waits at least ``bad_credentials_backoff`` seconds (on the fake clock).
    """

    clock: FakeClock
    credentials: Literal["listener", "client"]
    garbage_counter: str
    bad_credentials_counter: str | None
    bad_credentials_backoff: float

    def fixtures(self) -> Sequence[Fixture]:
        """Every recorded/documented input with its expected canonical events."""
        ...

    async def build(self, *, bad_credentials: bool = False) -> Adapter:
        """A fresh, unstarted adapter using ``self.clock``; with ``bad_credentials`` (clients only)
        configured with a secret the fake PBX refuses."""
        ...

    async def feed(self, adapter: Adapter, fixture: Fixture) -> None:
        """Deliver ``fixture.payload`` through the real transport of a started adapter."""
        ...

    async def inject_garbage(self, adapter: Adapter) -> None:
        """Deliver input the adapter cannot understand (it must count it, not raise)."""
        ...

    async def offer_bad_credentials(self, adapter: Adapter) -> None:
        """Listeners: connect as a client with a wrong secret. Clients: nothing to do."""
        ...

    def attempts(self) -> int:
        """Clients: how many logins the fake PBX has seen so far. Listeners: 0."""
        ...

    async def break_transport(self, adapter: Adapter) -> None:
        """Clients: the fake PBX drops the connection and refuses new ones.
        Listeners: the listener fails and its address is taken by someone else."""
        ...

    async def restore_transport(self, adapter: Adapter) -> None:
        """Undo ``break_transport``: the adapter can reconnect/rebind on its next try."""
        ...

    async def close(self) -> None:
        """Release whatever the harness holds (fake servers, blockers, clients)."""
        ...
