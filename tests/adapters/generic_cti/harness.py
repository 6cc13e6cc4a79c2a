"""Drives a real CtiAdapter over loopback HTTP and TCP (the contract harness and helpers)."""

from __future__ import annotations

import asyncio
import json
import random
import socket
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Literal

import httpx

from adapters.base import Adapter, AdapterDeps
from adapters.generic_cti.adapter import CtiAdapter
from adapters.generic_cti.config import CtiConfig
from adapters.testing import Fixture
from bridge.kit.clock import FakeClock
from bridge.model import AgentState, CallKind, EndpointKey, LineState, StateChange, Toggle

TOKEN = "cti-test-token-0123"
NAME = "pbx"


def key(extension: str, context: str = "", device: str = "") -> EndpointKey:
    return EndpointKey(NAME, extension, context, device)


def make_adapter(
    clock: FakeClock, *, mapped: Callable[[EndpointKey], bool] = lambda _key: True, **overrides: object
) -> CtiAdapter:
    """A CtiAdapter on loopback ports; ``mapped`` is the runtime's routing (default: everyone)."""
    settings: dict[str, object] = {"token": TOKEN, "http_listen": "127.0.0.1:0", "tcp_listen": "127.0.0.1:0"}
    settings.update(overrides)
    deps = AdapterDeps(clock, random.Random(7), mapped=mapped)
    return CtiAdapter(NAME, CtiConfig.model_validate(settings), deps)


def url(adapter: CtiAdapter) -> str:
    assert adapter.http_address is not None, "HTTP listener not bound"
    host, port = adapter.http_address
    return f"http://{host}:{port}/cti/events"


async def post(
    adapter: CtiAdapter, body: object, *, token: str | None = TOKEN, raw: bytes | None = None
) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    content = raw if raw is not None else json.dumps(body).encode()
    async with httpx.AsyncClient(timeout=5) as client:
        return await client.post(url(adapter), content=content, headers=headers)


class TcpClient:
    """A PBX speaking JSON lines to the adapter."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, adapter: CtiAdapter) -> TcpClient:
        assert adapter.tcp_address is not None, "TCP listener not bound"
        reader, writer = await asyncio.open_connection(*adapter.tcp_address)
        return cls(reader, writer)

    async def send(self, line: bytes) -> dict[str, object] | None:
        """Send one line, return the ack (None if the adapter closed the connection)."""
        self.writer.write(line + b"\n")
        await self.writer.drain()
        return await self.ack()

    async def ack(self) -> dict[str, object] | None:
        line = await asyncio.wait_for(self.reader.readline(), 5)
        return json.loads(line) if line else None

    async def closed_by_peer(self) -> bool:
        return await asyncio.wait_for(self.reader.read(), 5) == b""

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except ConnectionError:
            pass


async def tcp_login(adapter: CtiAdapter, token: str = TOKEN) -> TcpClient:
    client = await TcpClient.connect(adapter)
    assert await client.send(json.dumps({"token": token}).encode()) == {"ok": True, "request": "snapshot"}
    return client


# --- The contract harness --------------------------------------------------------------

_T0 = "2026-11-28T10:00:00Z"

FIXTURES: tuple[Fixture, ...] = (
    Fixture(
        "http-answered-call",
        ("http", {"extension": "1001", "line": "in_call", "call_kind": "personal", "at": _T0}),
        (
            StateChange(
                key("1001"),
                line=LineState.IN_CALL,
                call_kind=CallKind.PERSONAL,
                at=datetime(2026, 11, 28, 10, 0, tzinfo=UTC),
            ),
        ),
    ),
    Fixture(
        "http-array-dnd-and-away",
        (
            "http",
            [{"extension": "1002", "dnd": True}, {"extension": "1003", "away": "on", "context": "sales"}],
        ),
        (StateChange(key("1002"), dnd=Toggle.ON), StateChange(key("1003", "sales"), away=Toggle.ON)),
    ),
    Fixture(
        "http-agent-paused",
        ("http", {"extension": "1004", "agent": {"logged_in": True, "paused": True, "reason": "lunch"}}),
        (StateChange(key("1004"), agent=AgentState(logged_in=True, paused=True, reason="lunch")),),
    ),
    Fixture(
        "tcp-device-ringing",
        ("tcp", {"extension": "1005", "device": "softphone", "line": "ringing", "call_kind": "queue"}),
        (StateChange(key("1005", device="softphone"), line=LineState.RINGING, call_kind=CallKind.QUEUE),),
    ),
    Fixture(
        "tcp-array-hangup",
        ("tcp", [{"extension": "1001", "line": "idle"}, {"extension": "1002", "dnd": "off"}]),
        (StateChange(key("1001"), line=LineState.IDLE), StateChange(key("1002"), dnd=Toggle.OFF)),
    ),
)


class CtiHarness:
    """``AdapterHarness`` for generic_cti: a real adapter on loopback ports, played by httpx and
    asyncio streams. Breaking the transport = the listeners fail and their ports get taken."""

    credentials: Literal["listener", "client"] = "listener"
    garbage_counter = "rejected_bad_json"
    bad_credentials_counter: str | None = "bad_token"
    bad_credentials_backoff = 0.0

    def __init__(self) -> None:
        self.clock = FakeClock()
        self._blockers: list[socket.socket] = []

    def fixtures(self) -> Sequence[Fixture]:
        return FIXTURES

    async def build(self, *, bad_credentials: bool = False) -> Adapter:
        return make_adapter(self.clock)

    async def feed(self, adapter: Adapter, fixture: Fixture) -> None:
        assert isinstance(adapter, CtiAdapter)
        transport, body = fixture.payload  # type: ignore[misc]
        if transport == "http":
            response = await post(adapter, body)
            assert response.status_code == 202, response.text
        else:
            client = await tcp_login(adapter)
            ack = await client.send(json.dumps(body).encode())
            assert ack is not None and ack["ok"] is True, ack
            await client.close()

    async def inject_garbage(self, adapter: Adapter) -> None:
        assert isinstance(adapter, CtiAdapter)
        response = await post(adapter, None, raw=b"\x00garbage{{")
        assert response.status_code == 400

    async def offer_bad_credentials(self, adapter: Adapter) -> None:
        assert isinstance(adapter, CtiAdapter)
        response = await post(adapter, {"extension": "1001", "line": "in_call"}, token="wrong-token-123")
        assert response.status_code == 401

    def attempts(self) -> int:
        return 0

    async def break_transport(self, adapter: Adapter) -> None:
        assert isinstance(adapter, CtiAdapter)
        addresses = [a for a in (adapter.http_address, adapter.tcp_address) if a is not None]
        for listener in adapter._fronts.values():  # simulate the listeners failing
            await listener.close()
        for address in addresses:  # ... and someone else taking their ports
            blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            blocker.bind(address)
            blocker.listen(1)
            self._blockers.append(blocker)

    async def restore_transport(self, adapter: Adapter) -> None:
        for blocker in self._blockers:
            blocker.close()
        self._blockers.clear()

    async def close(self) -> None:
        await self.restore_transport(None)  # type: ignore[arg-type]
