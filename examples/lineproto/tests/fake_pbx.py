"""A loopback PBX speaking the line protocol, and the contract harness that plays it.

The lines are shaped like a capture of the PBX's console port::

    > LOGIN bridge s3cret
    < OK
    < EXT 1001 IDLE            (after OK: every line the PBX knows, then changes as they happen)
    < EXT 1001 RINGING
    < DND 1002 ON
    < PING                     (every 30 s when nothing else happens)
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from typing import Literal

from adapters.base import Adapter, AdapterDeps
from adapters.testing import FakeClock, Fixture
from bridge.model import EndpointKey, LineState, StateChange, Toggle

from lineproto import FACTORY, LineProtoAdapter

USER, SECRET = "bridge", "s3cret"


class FakePbx:
    """Accepts ``LOGIN bridge s3cret``; repeats the lines it said before after each login."""

    def __init__(self) -> None:
        self.port = 0
        self.logins = 0  # LOGIN lines received, right or wrong
        self.connections = 0
        self.silent = False  # accept, keep the connection, never send a byte
        self.said: dict[str, str] = {}  # "EXT 1001" -> the latest line about it
        self._server: asyncio.Server | None = None
        self._sessions: list[asyncio.StreamWriter] = []  # logged in, listening to ``say``
        self._open: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
            self.port = self._server.sockets[0].getsockname()[1]

    async def refuse(self) -> None:
        """The PBX is down: new connections are refused, open ones dropped."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in self._open:
            writer.transport.abort()

    async def close(self) -> None:
        await self.refuse()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def say(self, text: str) -> None:
        for line in text.splitlines():
            self.said[" ".join(line.split()[:2])] = line
        if not self.silent:
            for writer in self._sessions:
                writer.write(text.encode())
                await writer.drain()

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.get_running_loop().create_task(self._serve(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._open.append(writer)
        try:
            login = await reader.readline()
            self.logins += login.startswith(b"LOGIN ")
            if self.silent:
                await reader.read()
            elif login.split() == [b"LOGIN", USER.encode(), SECRET.encode()]:
                writer.write(b"OK\n" + "".join(f"{line}\n" for line in self.said.values()).encode())
                self._sessions.append(writer)
                await reader.read()
            else:
                writer.write(b"DENIED\n")
                await writer.drain()
        except OSError:
            pass
        finally:
            for group in (self._sessions, self._open):
                if writer in group:
                    group.remove(writer)
            writer.close()


def key(extension: str) -> EndpointKey:
    return EndpointKey("pbx", extension)


# Console lines and the facts the protocol description (lineproto.py's docstring) says they carry.
FIXTURES = (
    Fixture("ringing", "EXT 1001 RINGING\n", (StateChange(key("1001"), line=LineState.RINGING),)),
    Fixture("answered", "EXT 1001 INUSE\n", (StateChange(key("1001"), line=LineState.IN_CALL),)),
    Fixture("on-hold", "EXT 1001 HOLD\r\n", (StateChange(key("1001"), line=LineState.ON_HOLD),)),
    Fixture("hung-up", "EXT 1001 IDLE\n", (StateChange(key("1001"), line=LineState.IDLE),)),
    Fixture("dnd-on", "DND 1002 ON\n", (StateChange(key("1002"), dnd=Toggle.ON),)),
    Fixture("dnd-off", "DND 1002 OFF\n", (StateChange(key("1002"), dnd=Toggle.OFF),)),
    Fixture(
        "keepalive-then-unplugged",
        "PING\nEXT 1003 UNAVAILABLE\n",
        (StateChange(key("1003"), line=LineState.UNAVAILABLE),),
    ),
)


class LineProtoHarness:
    """``adapters.testing.AdapterHarness`` and ``SilentPeer`` for the example adapter."""

    credentials: Literal["listener", "client"] = "client"
    garbage_counter = "unrecognised_lines"
    bad_credentials_counter: str | None = None
    bad_credentials_backoff = LineProtoAdapter.auth_backoff
    login_timeout = 2 * LineProtoAdapter.connect_timeout  # the TCP connect, then the LOGIN answer
    silence_timeout = LineProtoAdapter.idle_timeout or 0.0

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.pbx = FakePbx()

    def fixtures(self) -> Sequence[Fixture]:
        return FIXTURES

    async def build(self, *, bad_credentials: bool = False) -> Adapter:
        await self.pbx.start()
        settings = {"host": "127.0.0.1", "port": self.pbx.port, "user": USER}
        settings["secret"] = "wrong" if bad_credentials else SECRET
        config = FACTORY.config_model.model_validate(settings)  # as the bridge's config loader does
        return FACTORY.create("pbx", config, AdapterDeps(self.clock, random.Random(5)))

    async def feed(self, adapter: Adapter, fixture: Fixture) -> None:
        assert isinstance(fixture.payload, str)
        await self.pbx.say(fixture.payload)

    async def inject_garbage(self, adapter: Adapter) -> None:
        await self.pbx.say("EXT 1001 ON_FIRE\nWELCOME TO THE PBX\n")

    async def offer_bad_credentials(self, adapter: Adapter) -> None:
        return None

    def attempts(self) -> int:
        return self.pbx.logins

    async def break_transport(self, adapter: Adapter) -> None:
        await self.pbx.refuse()

    async def restore_transport(self, adapter: Adapter) -> None:
        await self.pbx.start()

    async def go_silent(self, adapter: Adapter) -> None:
        self.pbx.silent = True

    async def speak_again(self, adapter: Adapter) -> None:
        self.pbx.silent = False

    def connections(self) -> int:
        return self.pbx.connections

    async def close(self) -> None:
        await self.pbx.close()
