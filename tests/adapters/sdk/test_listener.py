"""The listener-adapter base: what a PBX admin notices when our listening ports misbehave.

A tiny adapter with two greeting listeners (``serve`` is the few lines a contributor writes:
bind, ``start_server``, ``listening()``, ``serve_forever()``) on real loopback ports; time is the
fake clock's. Expected timings are DESIGN 13 / docs/cti.md: first rebind after 0.5-1 s, doubling.
"""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Iterator

import pytest

from adapters.base import AdapterDeps, Health, HealthChange
from adapters.sdk import Listener, ListenerAdapter
from adapters.testing import Recorder
from bridge.kit.clock import FakeClock
from bridge.kit.net import bind_listening


class Greeter(ListenerAdapter):
    kind = "greeter"

    def __init__(self, deps: AdapterDeps, listen: dict[str, tuple[str, int]]) -> None:
        super().__init__("pbx", deps, listen)
        self.servers: dict[str, asyncio.Server] = {}

    async def serve(self, listener: Listener) -> None:
        server = await asyncio.start_server(self._greet, sock=listener.bind())
        self.servers[listener.name] = server
        async with server:
            listener.listening()
            await server.serve_forever()

    async def _greet(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello\n")
        await writer.drain()
        writer.close()


async def greeting(address: tuple[str, int] | None) -> bytes:
    assert address is not None, "not bound"
    reader, writer = await asyncio.open_connection(*address)
    line = await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    return line


@pytest.fixture
def taken() -> Iterator[socket.socket]:
    """A loopback port someone else listens on."""
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    yield blocker
    blocker.close()


def start(listen: dict[str, tuple[str, int]]) -> tuple[Greeter, Recorder, FakeClock]:
    clock = FakeClock()
    adapter = Greeter(AdapterDeps(clock, random.Random(1)), listen)
    return adapter, Recorder(adapter, clock), clock


async def test_connected_only_once_every_listener_listens(taken: socket.socket) -> None:
    port = taken.getsockname()[1]
    adapter, events, _clock = start({"a": ("127.0.0.1", 0), "b": ("127.0.0.1", port)})
    await adapter.start()
    await events.wait_health(Health.TRANSIENT_DISCONNECT)
    assert await greeting(adapter.address("a")) == b"hello\n", "the free listener serves meanwhile"
    detail = [e for e in events.items if isinstance(e, HealthChange)][-1].detail
    assert detail.startswith(f"b cannot listen on 127.0.0.1:{port}: ") and "in use" in detail.lower()
    taken.close()
    await events.wait_health(Health.CONNECTED, advance=1.0, simulated_limit=4)  # 0.5-1 s, then 1-2 s
    assert adapter.address("b") == ("127.0.0.1", port)
    assert events.healths == [Health.CONNECTING, Health.TRANSIENT_DISCONNECT, Health.CONNECTED]
    assert adapter.counters == {"listener_failures": 0}, "a bind that never worked is not a failure"
    await adapter.stop()
    await events.finished()


async def test_a_closed_server_is_a_counted_failure_and_rebinds_on_the_same_port() -> None:
    adapter, events, clock = start({"a": ("127.0.0.1", 0)})
    await adapter.start()
    await events.wait_health(Health.CONNECTED)
    before = adapter.address("a")
    assert before is not None
    adapter.servers["a"].close()  # serve_forever() ends with a CancelledError that is not our stop
    await events.wait_health(Health.TRANSIENT_DISCONNECT)
    detail = [e for e in events.items if isinstance(e, HealthChange)][-1].detail
    assert detail == f"a listener on 127.0.0.1:{before[1]} stopped unexpectedly"
    assert adapter.counters["listener_failures"] == 1
    await clock.advance(0.49)
    assert adapter.health is Health.TRANSIENT_DISCONNECT, "the first rebind waits at least 0.5 s"
    await events.wait_health(Health.CONNECTED, advance=0.51, simulated_limit=0.51)
    assert adapter.address("a") == before
    assert await greeting(before) == b"hello\n"
    await adapter.stop()
    await events.finished()


async def test_stop_during_a_bind_retry_frees_every_port_and_leaves_nothing(taken: socket.socket) -> None:
    port = taken.getsockname()[1]
    adapter, events, clock = start({"a": ("127.0.0.1", 0), "b": ("127.0.0.1", port)})
    await adapter.start()
    await events.wait_health(Health.TRANSIENT_DISCONNECT)
    bound = adapter.address("a")
    assert bound is not None
    await adapter.stop()
    await adapter.stop()
    await events.finished()
    assert adapter.health is Health.STOPPED and adapter.address("a") is None
    await clock.settle()
    assert clock.sleepers == 0
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("greeter:")]
    bind_listening(*bound).close()  # the port is ours to take again: the listener really closed


async def test_a_second_reader_of_events_ends_too() -> None:
    adapter, events, _clock = start({"a": ("127.0.0.1", 0)})
    await adapter.start()
    await events.wait_health(Health.CONNECTED)
    await adapter.stop()
    await events.finished()
    late = [item async for item in adapter.events()]
    assert late == []
