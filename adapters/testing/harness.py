"""What an adapter's tests provide so the contract suite can drive it.

``AdapterHarness`` is required; ``SilentPeer`` is optional, for connection (client) adapters
whose fake PBX can stop talking. The suite skips its silent-peer cases for a harness without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

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


@runtime_checkable
class SilentPeer(Protocol):
    """Optional hooks for a connection adapter's harness: the fake PBX goes quiet.

    A PBX that accepts the TCP connection and never answers (a hung process, a firewall that
    swallows packets) and a half-open connection (the PBX rebooted, a NAT forgot us) both look
    like "connected" to the socket. Without timeouts the adapter shows CONNECTING or CONNECTED
    forever while nobody's presence moves.
    """

    login_timeout: float
    """Simulated seconds from the start of a connection attempt within which the adapter must give
    up on a peer that accepted and answers nothing (its connect plus login timeouts)."""

    silence_timeout: float
    """Simulated seconds within which a logged-in adapter must notice that its peer went silent
    (its idle timeout, or its keep-alive interval plus the keep-alive's timeout)."""

    async def go_silent(self, adapter: Adapter) -> None:
        """From now on the fake PBX keeps every connection (current and new) open and sends nothing:
        no greeting, no answer, no keep-alive reply, no event."""
        ...

    async def speak_again(self, adapter: Adapter) -> None:
        """Undo ``go_silent`` for new connections (the quiet ones may stay quiet)."""
        ...

    def connections(self) -> int:
        """TCP connections the fake PBX has accepted so far."""
        ...
