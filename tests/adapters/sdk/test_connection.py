"""The connection-adapter base: what a PBX admin notices when the link misbehaves.

A tiny line adapter (``LOGIN <secret>`` -> ``OK``/``DENIED``, then ``<ext> BUSY|IDLE``) against a
real loopback server; time is the fake clock's.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import ClassVar

import pytest

from adapters.base import AdapterDeps, Health
from adapters.sdk import ConnectionAdapter, Session
from adapters.testing import Recorder
from bridge.errors import AdapterAuthError
from bridge.kit.clock import FakeClock
from bridge.model import EndpointKey, LineState, StateChange


class LineAdapter(ConnectionAdapter):
    kind = "lines"
    idle_timeout: ClassVar[float | None] = 30.0

    def __init__(self, port: int, secret: str, deps: AdapterDeps) -> None:
        super().__init__("pbx", deps)
        self.port, self.secret = port, secret

    async def run_session(self, session: Session) -> None:
        reader, writer = await session.connect("127.0.0.1", self.port)
        writer.write(f"LOGIN {self.secret}\n".encode())
        answer = await session.within(5.0, reader.readline(), "login")
        if answer.strip() != b"OK":
            raise AdapterAuthError("login refused")
        session.connected()
        async for line in session.lines(reader):
            ext, _, state = line.partition(" ")
            session.emit(StateChange(EndpointKey(self.name, ext), line=LineState(state.lower())))

    def went_blind(self) -> list[StateChange]:
        return [StateChange(EndpointKey(self.name, "1001"), line=LineState.UNKNOWN)]


class Pbx:
    """A loopback PBX: accepts ``good`` as the secret; ``silent`` accepts and never answers."""

    def __init__(self) -> None:
        self.silent = False
        self.writers: list[asyncio.StreamWriter] = []
        self.logins = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        line = await reader.readline()
        self.logins += 1
        if self.silent:
            await reader.read()
            return
        writer.write(b"OK\n" if line.strip() == b"LOGIN good" else b"DENIED\n")
        await writer.drain()
        await reader.read()

    def say(self, text: str) -> None:
        self.writers[-1].write(text.encode())


@pytest.fixture
async def pbx() -> AsyncIterator[tuple[Pbx, int]]:
    peer = Pbx()
    server = await asyncio.start_server(peer.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield peer, port
    for writer in peer.writers:
        writer.close()
    server.close()


async def test_connects_emits_and_reconnects_after_the_pbx_hangs_up(pbx: tuple[Pbx, int]) -> None:
    peer, port = pbx
    clock = FakeClock()
    adapter = LineAdapter(port, "good", AdapterDeps(clock, random.Random(1)))
    events = Recorder(adapter, clock)
    await adapter.start()
    await events.wait_health(Health.CONNECTED)
    peer.say("1001 IN_CALL\n")
    await events.wait(lambda: len(events.canonical) == 1, "the call")
    assert events.canonical[0] == StateChange(EndpointKey("pbx", "1001"), line=LineState.IN_CALL)
    peer.writers[-1].close()
    await events.wait_health(Health.TRANSIENT_DISCONNECT)
    assert events.canonical[-1] == StateChange(EndpointKey("pbx", "1001"), line=LineState.UNKNOWN)
    await events.wait_health(Health.CONNECTED, advance=0.5, simulated_limit=5)
    assert peer.logins == 2
    await adapter.stop()
    await events.finished()
    assert adapter.health is Health.STOPPED
    assert adapter.counters["connects"] == 2


async def test_wrong_secret_is_bad_credentials_and_waits_before_retrying(pbx: tuple[Pbx, int]) -> None:
    peer, port = pbx
    clock = FakeClock()
    adapter = LineAdapter(port, "wrong", AdapterDeps(clock, random.Random(1)))
    events = Recorder(adapter, clock)
    await adapter.start()
    await events.wait_health(Health.BAD_CREDENTIALS)
    await clock.advance(LineAdapter.auth_backoff - 1)
    assert peer.logins == 1
    await events.wait(lambda: peer.logins == 2, "a second login", advance=1.0, simulated_limit=3)
    assert events.healths.count(Health.BAD_CREDENTIALS) == 1
    await adapter.stop()
    await events.finished()


async def test_a_peer_that_accepts_and_never_answers_times_out_the_login(pbx: tuple[Pbx, int]) -> None:
    peer, port = pbx
    peer.silent = True
    clock = FakeClock()
    adapter = LineAdapter(port, "good", AdapterDeps(clock, random.Random(1)))
    events = Recorder(adapter, clock)
    await adapter.start()
    await events.wait(lambda: peer.logins == 1, "the login line")
    await events.wait_health(Health.TRANSIENT_DISCONNECT, advance=1.0, simulated_limit=6)
    await adapter.stop()
    await events.finished()


async def test_a_silent_connection_ends_after_the_idle_timeout(pbx: tuple[Pbx, int]) -> None:
    _peer, port = pbx
    clock = FakeClock()
    adapter = LineAdapter(port, "good", AdapterDeps(clock, random.Random(1)))
    events = Recorder(adapter, clock)
    await adapter.start()
    await events.wait_health(Health.CONNECTED)
    await clock.advance(29)
    assert adapter.health is Health.CONNECTED
    await events.wait_health(Health.TRANSIENT_DISCONNECT, advance=1.0, simulated_limit=3)
    await adapter.stop()
    await events.finished()
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("lines:")]
