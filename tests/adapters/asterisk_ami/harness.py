"""Run an AmiAdapter against a FakeAmi on a FakeClock and collect what it emits."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from typing import Any, Literal

from adapters.asterisk_ami.adapter import AmiAdapter
from adapters.asterisk_ami.config import AmiConfig
from adapters.base import Adapter, AdapterDeps, AdapterEvent, Health, HealthChange
from adapters.testing import Fixture
from bridge.kit.clock import FakeClock
from bridge.model import AgentState, EndpointKey, LineState, Snapshot, StateChange, Toggle
from tests.adapters.asterisk_ami.fake_ami import FREEPBX_REPLIES, FakeAmi, live

WAIT = 5.0  # real seconds: a bound on loopback I/O, never a sleep


def ami_config(port: int, **overrides: Any) -> AmiConfig:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "username": "bridge",
        "secret": "bridgesecret",
        "backoff_initial": 1.0,
        "backoff_max": 60.0,
        "ping_interval": 20.0,
        "ping_timeout": 5.0,
    }
    values.update(overrides)
    return AmiConfig(**values)


class Run:
    """One adapter under test; ``seen`` is everything it emitted, in order."""

    def __init__(self, fake: FakeAmi, **overrides: Any) -> None:
        self.fake = fake
        self.clock = FakeClock()
        self.adapter = AmiAdapter(
            "pbx", ami_config(fake.port, **overrides), AdapterDeps(self.clock, random.Random(7))
        )
        self.seen: list[AdapterEvent] = []
        self._changed = asyncio.Condition()
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Run:
        self._reader = asyncio.create_task(self._collect())
        await self.adapter.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.adapter.stop()
        if self._reader is not None:
            await asyncio.wait_for(self._reader, WAIT)

    async def _collect(self) -> None:
        async for event in self.adapter.events():
            async with self._changed:
                self.seen.append(event)
                self._changed.notify_all()

    async def until(self, predicate: Callable[[list[AdapterEvent]], bool]) -> None:
        async def wait() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: predicate(self.seen))

        await asyncio.wait_for(wait(), WAIT)

    async def until_health(self, health: Health, count: int = 1) -> None:
        await self.until(
            lambda seen: len([e for e in seen if isinstance(e, HealthChange) and e.health is health]) >= count
        )

    async def until_snapshots(self, count: int) -> Snapshot:
        await self.until(lambda seen: len(self.snapshots) >= count)
        return self.snapshots[count - 1]

    @property
    def snapshots(self) -> list[Snapshot]:
        return [e for e in self.seen if isinstance(e, Snapshot)]

    @property
    def changes(self) -> list[StateChange]:
        return [e for e in self.seen if isinstance(e, StateChange)]

    @property
    def healths(self) -> list[Health]:
        return [e.health for e in self.seen if isinstance(e, HealthChange)]

    def mark(self) -> int:
        return len(self.seen)

    def changes_since(self, mark: int) -> list[StateChange]:
        return [e for e in self.seen[mark:] if isinstance(e, StateChange)]


# --- the contract suite's harness (adapters.testing.AdapterHarness) -------------------------


def _device_frame(device: str, state: str) -> bytes:
    lines = ["Event: DeviceStateChange", "Privilege: call,all", f"Device: {device}", f"State: {state}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _contract_fixtures() -> list[Fixture]:
    def key(ext: str, device: str = "") -> EndpointKey:
        return EndpointKey("pbx", ext, "", device)

    away = live("10_presence", b"Event: PresenceStateChange")
    back_at_3 = next(f for f in away if b"CustomPresence:1001" in f and b"Status: away" in f)
    lunch = live("15_queue", b"Event: QueueMemberPause")[0]
    return [
        Fixture(
            "pjsip-inuse",
            _device_frame("PJSIP/1001", "INUSE"),
            (StateChange(key("1001", "PJSIP/1001"), line=LineState.IN_CALL),),
        ),
        Fixture(
            "pjsip-idle",
            _device_frame("PJSIP/1001", "NOT_INUSE"),
            (StateChange(key("1001", "PJSIP/1001"), line=LineState.IDLE),),
        ),
        Fixture(
            "freepbx-dnd-off",
            _device_frame("Custom:DND1002", "UNAVAILABLE"),
            (StateChange(key("1002"), dnd=Toggle.OFF),),
        ),
        Fixture(
            "freepbx-dnd-on",
            _device_frame("Custom:DND1002", "BUSY"),
            (StateChange(key("1002"), dnd=Toggle.ON),),
        ),
        Fixture("presence-away", back_at_3, (StateChange(key("1001"), away=Toggle.ON),)),
        Fixture(
            "queue-pause-lunch",
            lunch,
            (StateChange(key("1001"), agent=AgentState(logged_in=True, paused=True, reason="lunch")),),
        ),
        Fixture(
            "teams-blf-echo-is-silent",
            _device_frame("Custom:TEAMS1001", "INUSE") + _device_frame("PJSIP/1002", "NOT_INUSE"),
            (StateChange(key("1002", "PJSIP/1002"), line=LineState.IDLE),),
        ),
    ]


class AmiHarness:
    """Plays a FreePBX-shaped Asterisk 22 (recorded bytes) for the contract suite."""

    credentials: Literal["listener", "client"] = "client"
    garbage_counter = "rejected_frames"
    bad_credentials_counter: str | None = None
    bad_credentials_backoff = 300.0
    # adapters.testing.SilentPeer: Login is bounded by action_timeout after the connect (both 10 s by
    # default); the Ping watchdog notices silence within ping_interval + ping_timeout (as built below).
    login_timeout = 10.0 + 10.0
    silence_timeout = 3600.0 + 5.0

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.fake = FakeAmi(FREEPBX_REPLIES)
        self._started = False

    def fixtures(self) -> Sequence[Fixture]:
        return _contract_fixtures()

    async def build(self, *, bad_credentials: bool = False) -> Adapter:
        if not self._started:
            await self.fake.start()
            self._started = True
        secret = "not-the-secret" if bad_credentials else self.fake.secret
        config = ami_config(
            self.fake.port,
            secret=secret,
            auth_failure_backoff=self.bad_credentials_backoff,
            ping_interval=3600.0,  # the suite moves the clock in big steps; the watchdog has its own test
        )
        return AmiAdapter("pbx", config, AdapterDeps(self.clock, random.Random(3)))

    async def feed(self, adapter: Adapter, fixture: Fixture) -> None:
        assert isinstance(fixture.payload, bytes)
        await self.fake.push(fixture.payload)

    async def inject_garbage(self, adapter: Adapter) -> None:
        await self.fake.push(b"\x00\xffnot an AMI header\r\n\r\n")

    async def offer_bad_credentials(self, adapter: Adapter) -> None:
        return None

    def attempts(self) -> int:
        return len(self.fake.actions_named("Login"))

    async def break_transport(self, adapter: Adapter) -> None:
        await self.fake.refuse()

    async def restore_transport(self, adapter: Adapter) -> None:
        await self.fake.start()

    async def go_silent(self, adapter: Adapter) -> None:
        self.fake.silent = True

    async def speak_again(self, adapter: Adapter) -> None:
        self.fake.silent = False

    def connections(self) -> int:
        return self.fake.connections

    async def close(self) -> None:
        await self.fake.close()
