"""The shipped adapter contract suite (adapters.testing) run against the SIP BLF adapter.

The PBX is ``fake_pbx.FakeSipPbx`` over TCP on loopback (a dropped connection is then a dropped
transport, as the suite expects); the fixtures are the dialog-info bodies Kamailio sent to a
watcher of 1001 during a real answered call (tests/fixtures/kamailio/dialog_watcher_1001_sip.txt),
expected to read as RFC 4235 says: early (recipient) ringing, confirmed in a call, terminated idle.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Sequence
from typing import Literal

import pytest

from adapters.base import Adapter, AdapterDeps
from adapters.sip_blf.adapter import SipBlfAdapter
from adapters.sip_blf.config import SipBlfConfig
from adapters.sip_blf.message import SipRequest, parse_message
from adapters.testing import AdapterContract
from adapters.testing.harness import Fixture
from bridge.kit.clock import FakeClock
from bridge.model import EndpointKey, LineState, StateChange
from tests.adapters.sip_blf.captures import load
from tests.adapters.sip_blf.fake_pbx import PASSWORD, FakeSipPbx


def _recorded_bodies() -> list[bytes]:
    notifies = [
        parse_message(d.data) for d in load("dialog_watcher_1001_sip.txt") if d.data.startswith(b"NOTIFY")
    ]
    return [n.body for n in notifies if isinstance(n, SipRequest) and n.body][1:4]


class SipHarness:
    credentials: Literal["listener", "client"] = "client"
    garbage_counter = "malformed_messages"
    bad_credentials_counter = None
    bad_credentials_backoff = 300.0

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.pbx = FakeSipPbx()

    def fixtures(self) -> Sequence[Fixture]:
        key = EndpointKey("sip", "1001")
        lines = (LineState.RINGING, LineState.IN_CALL, LineState.IDLE)
        names = ("early", "confirmed", "terminated")
        return [
            Fixture(name, body, (StateChange(key, line=line),))
            for name, body, line in zip(names, _recorded_bodies(), lines, strict=True)
        ]

    async def build(self, *, bad_credentials: bool = False) -> Adapter:
        if self.pbx.port == 0:
            await self.pbx.start()
        config = SipBlfConfig(
            host="127.0.0.1",
            port=self.pbx.port,
            transport="tcp",
            user="watcher",
            password="wrong-password" if bad_credentials else PASSWORD,  # type: ignore[arg-type]
            extensions=("1001",),
        )
        return SipBlfAdapter("sip", config, AdapterDeps(self.clock, random.Random(3)))

    async def feed(self, adapter: Adapter, fixture: Fixture) -> None:
        assert isinstance(fixture.payload, bytes)
        self.pbx.notify_all(fixture.payload)

    async def inject_garbage(self, adapter: Adapter) -> None:
        self.pbx.send_raw(b"THIS IS NOT SIP\r\nContent-Length: 0\r\n\r\n")

    async def offer_bad_credentials(self, adapter: Adapter) -> None:
        return None

    def attempts(self) -> int:
        return self.pbx.subscribes

    async def break_transport(self, adapter: Adapter) -> None:
        await self.pbx.stop()

    async def restore_transport(self, adapter: Adapter) -> None:
        await self.pbx.start()

    async def close(self) -> None:
        await self.pbx.stop()


class TestSipBlfContract(AdapterContract):
    @pytest.fixture
    async def harness(self) -> AsyncIterator[SipHarness]:
        harness = SipHarness()
        yield harness
        await harness.close()
