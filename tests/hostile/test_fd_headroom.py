"""The connection gate keeps its descriptor headroom through a burst of connections.

What a user would notice if this broke: a flood arriving faster than the bridge's loop turns fills
the listen backlog; accepting it in one go, each newcomer dropping the oldest idle connection, used
to take a new descriptor before the dropped one was closed (asyncio closes an aborted transport on
the next turn of the loop). The process ran into its open-file limit ("accept failed: Too many
open files", every idle connection dropped, the PBX's own kept-alive one too) and for that moment
Graph's connections and msal's token requests (in a thread) had no descriptor left. Here the limit
is given to the gate (40 above the descriptors in use, headroom 16) and 200 connections wait in
the backlog: no accepted descriptor may come within the headroom of that limit, and connections
are dropped only to make room, one per newcomer.
"""

from __future__ import annotations

import asyncio
import socket

from bridge.kit.clock import FakeClock
from bridge.kit.gate import ConnectionGate, Lease
from bridge.kit.listen_limits import ListenerLimits
from tests.hostile.rig import Flood, sources, until

HEADROOM = 16
ROOM = 40  # descriptors the gate may use above those open when the test starts
FLOOD = 200


class _Held(asyncio.Protocol):
    """An admitted connection that never sends a request: idle until dropped."""

    def __init__(self, lease: Lease) -> None:
        self.lease = lease

    def connection_lost(self, exc: Exception | None) -> None:
        self.lease.release()


async def test_a_burst_never_takes_descriptors_within_the_headroom() -> None:
    loop = asyncio.get_running_loop()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    with socket.socket() as probe:
        limit = probe.fileno() + FLOOD + ROOM  # the flood's own sockets take the first FLOOD
    highest = [0]

    async def admit(conn: socket.socket, lease: Lease) -> None:
        highest[0] = max(highest[0], conn.fileno())
        transport, _ = await loop.connect_accepted_socket(lambda: _Held(lease), conn)
        lease.abort = transport.abort

    limits = ListenerLimits(max_connections=10_000, max_connections_per_source=10_000, fd_headroom=HEADROOM)
    gate = ConnectionGate("test", limits, FakeClock(), fd_limit=lambda: limit)
    with Flood() as flood:
        await flood.open(port, FLOOD, sources(4))  # all wait in the backlog: nobody accepts yet
        serving = asyncio.create_task(gate.serve(listener, admit))
        try:
            await until(lambda: gate.counters["conn_accepted"] == FLOOD, "the whole flood accepted")
            assert highest[0] <= limit - HEADROOM, f"descriptor {highest[0]} with the limit at {limit}"
            assert 0 < gate.connections <= ROOM - HEADROOM + 1
            await until(lambda: flood.alive() == gate.connections, "the dropped ones closed")
        finally:
            serving.cancel()
            await asyncio.gather(serving, return_exceptions=True)
            await gate.close()
            listener.close()
