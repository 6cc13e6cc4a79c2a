"""Asterisk / FreePBX end to end: AMI bytes -> asterisk_ami adapter -> BridgeService -> Graph emulator.

The PBX is tests/adapters/asterisk_ami/fake_ami.py on 127.0.0.1, answering the resync with the
FreePBX-shaped replies (recorded Asterisk 22.10.1 frames; PJSIP devices and AstDB DEVICE keys are
synthesized in 30_freepbx_synth, as its header says). Live events are the recorded frames of 07 and
17 and the synthesized PJSIP frames of 30_freepbx_synth; where a frame for another extension is
needed it is the recorded shape with the number changed (``_device_frame``).

The adapter is configured through bridge YAML, the bridge publishes over HTTPS with real msal to the
Graph emulator; the bridge and the emulator share one FakeClock. What is asserted is what a Teams
user sees. Waits are on the emulator's change events (or, for bridge-internal state, a bounded
yield loop), never on timers.

Resync state of the fake PBX: Alice (1001) has PJSIP/1001 idle and no DND; Bob (1002) has two
devices (PJSIP/1002 in a call, hot-desk PJSIP/1102 idle) and FreePBX DND on (AstDB ``DND/1002``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from adapters.base import Health
from bridge.config import BridgeConfig, load_config_text
from bridge.demo import running_service, tenant_yaml
from bridge.emulator.app import Emulator
from bridge.emulator.server import EmulatorHandle
from bridge.kit.clock import FakeClock
from bridge.presence import AWAY, IN_A_CALL, PRESENTING, Pair
from bridge.runtime.service import BridgeService
from tests.adapters.asterisk_ami.fake_ami import FREEPBX_REPLIES, FakeAmi, live, recorded
from tests.runtime.rig import ID, emulator, new_clock
from tests.runtime.support import our_writes, until

AVAILABLE = Pair("Available", "Available")
ALICE, BOB = ID["Alice"], ID["Bob"]
WAIT = 10.0  # real seconds: a bound on loopback I/O, never a wait for time to pass


def _device_frame(device: str, state: str) -> bytes:
    """A DeviceStateChange in the exact recorded shape (07: Event, Privilege, Device, State)."""
    lines = ("Event: DeviceStateChange", "Privilege: call,all", f"Device: {device}", f"State: {state}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _pick(name: str, device: str, state: str) -> bytes:
    wanted = f"Device: {device}\r\nState: {state}\r\n".encode()
    return next(f for f in live(name, b"Event: DeviceStateChange") if wanted in f)


ALICE_ANSWERS = _pick("30_freepbx_synth", "PJSIP/1001", "INUSE")
ALICE_HOLDS = _pick("30_freepbx_synth", "PJSIP/1001", "ONHOLD")
ALICE_HANGS_UP = _pick("30_freepbx_synth", "PJSIP/1001", "NOT_INUSE")
BOB_HOTDESK_RINGS = _pick("30_freepbx_synth", "PJSIP/1102", "RINGING")
BOB_HOTDESK_ANSWERS = _pick("30_freepbx_synth", "PJSIP/1102", "INUSE")
BOB_HOTDESK_HANGS_UP = _pick("30_freepbx_synth", "PJSIP/1102", "NOT_INUSE")
BOB_DESK_HANGS_UP = _pick("30_freepbx_synth", "PJSIP/1002", "NOT_INUSE")
BOB_DND_ON = _pick("07_devstate_dnd_hint", "Custom:DND1002", "BUSY")  # recorded
BOB_DND_OFF = _pick("07_devstate_dnd_hint", "Custom:DND1002", "NOT_INUSE")  # recorded
TEAMS_LAMP = _pick("30_freepbx_synth", "Custom:TEAMS1001", "NOT_INUSE")
AGENT_COMPLETE = live("15_queue", b"Event: AgentComplete")[0]  # recorded end of Alice's queue call
SHUTDOWN = live("17_core_restart_eof", b"Event: Shutdown")[0]  # recorded "core restart now"


def ami_yaml(
    handle: EmulatorHandle, tmp: Path, port: int, secret: str = "bridgesecret", wrapup: bool = False
) -> str:
    alice_mapping = ", mapping: {agent_wrapup: Busy/InACall}" if wrapup else ""
    adapter_wrapup = "wrapup_seconds: {labqueue: 30}" if wrapup else ""
    return (
        tenant_yaml(handle)
        + f"""people:
  - {{id: {ALICE}, tenant: demo, name: Alice,
     endpoints: [{{adapter: pbx, extension: "1001"}}]{alice_mapping}}}
  - {{id: {BOB}, tenant: demo, name: Bob, endpoints: [{{adapter: pbx, extension: "1002"}}]}}
adapters:
  pbx:
    kind: asterisk_ami
    host: 127.0.0.1
    port: {port}
    username: bridge
    secret: {secret}
    freepbx: true
    ping_interval: 3600   # the tests jump the clock by minutes; the watchdog has its own adapter test
    {adapter_wrapup}
state:
  path: {tmp / "state.db"}
"""
    )


def ami_config(
    handle: EmulatorHandle, tmp: Path, port: int, secret: str = "bridgesecret", wrapup: bool = False
) -> BridgeConfig:
    return load_config_text(ami_yaml(handle, tmp, port, secret, wrapup), "<ami-e2e>", environ={})


@contextlib.asynccontextmanager
async def fake_pbx() -> AsyncIterator[FakeAmi]:
    server = FakeAmi(FREEPBX_REPLIES)
    await server.start()
    try:
        yield server
    finally:
        await server.close()


async def settled(clock: FakeClock, predicate: Callable[[], bool]) -> None:
    """Let ready tasks and loopback I/O run until ``predicate()`` holds (bridge-internal state).

    No time passes on the clock; bounded in real time.
    """
    async with asyncio.timeout(WAIT):
        while not predicate():
            await clock.settle(1)


def pbx_column(service: BridgeService, name: str) -> str:
    return next(r["pbx"] for r in service.status_rows() if r["person"] == name)


def presence_posts(emu: Emulator) -> list[str]:
    return [
        str(e["path"])
        for e in emu.journal.entries()
        if e["method"] == "POST" and "/presence/" in str(e["path"])
    ]


# --- tests ---------------------------------------------------------------------------------------


async def test_resync_snapshot_shows_in_teams_dnd_beats_a_call(tmp_path: Path) -> None:
    clock = new_clock()
    async with fake_pbx() as pbx, emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        async with running_service(ami_config(handle, tmp_path, pbx.port), clock) as service:
            assert service.readiness()["adapter:pbx"] == "CONNECTED"
            await until(emu, lambda: emu.presence_of(BOB) == PRESENTING)  # AstDB DND/1002 = YES
            assert emu.presence_of(ALICE) == AVAILABLE
            assert our_writes(emu, ALICE) == []  # idle at start: nothing written for Alice
            assert pbx_column(service, "Bob") == "in_call +dnd"


async def test_a_call_answered_shows_busy_and_after_hangup_the_persons_own_state_returns(
    tmp_path: Path,
) -> None:
    clock = new_clock()
    async with fake_pbx() as pbx, emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        async with running_service(ami_config(handle, tmp_path, pbx.port), clock) as service:
            await pbx.push(ALICE_ANSWERS)
            await until(emu, lambda: emu.presence_of(ALICE) == IN_A_CALL)
            await pbx.push([ALICE_HOLDS, TEAMS_LAMP])  # hold: still busy; our own BLF lamp: no loop
            await settled(clock, lambda: pbx_column(service, "Alice") == "on_hold")
            await pbx.push(ALICE_HANGS_UP)
            await settled(clock, lambda: pbx_column(service, "Alice") == "idle")
            await clock.advance(2.0)  # inside the 3 s idle hold (transfers, call waiting)
            assert emu.presence_of(ALICE) == IN_A_CALL
            await clock.advance(1.5)
            await until(emu, lambda: emu.presence_of(ALICE) == AVAILABLE)
            assert our_writes(emu, ALICE) == ["setPresence", "clearPresence"]
            assert service.adapters["pbx"].counters["own_state_events"] >= 1


async def test_two_devices_busy_while_either_is_in_a_call_and_freepbx_dnd_off_on(tmp_path: Path) -> None:
    clock = new_clock()
    async with fake_pbx() as pbx, emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        async with running_service(ami_config(handle, tmp_path, pbx.port), clock) as service:
            await until(emu, lambda: emu.presence_of(BOB) == PRESENTING)
            await pbx.push(BOB_DND_OFF)  # *76 on the phone: DND off, the desk phone's call shows
            await until(emu, lambda: emu.presence_of(BOB) == IN_A_CALL)
            await pbx.push([BOB_HOTDESK_RINGS, BOB_HOTDESK_ANSWERS, BOB_DESK_HANGS_UP])
            await settled(clock, lambda: pbx_column(service, "Bob") == "in_call")
            await clock.advance(5.0)  # the hot-desk phone is still in a call
            assert emu.presence_of(BOB) == IN_A_CALL
            await pbx.push(BOB_DND_ON)
            await until(emu, lambda: emu.presence_of(BOB) == PRESENTING)
            await pbx.push([BOB_HOTDESK_HANGS_UP, BOB_DND_OFF])
            await clock.advance(3.5)
            await until(emu, lambda: emu.presence_of(BOB) == AWAY)  # his own Teams desktop is Away


async def test_freepbx_dnd_custom_device_on_and_off(tmp_path: Path) -> None:
    clock = new_clock()
    async with fake_pbx() as pbx, emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        async with running_service(ami_config(handle, tmp_path, pbx.port), clock):
            await pbx.push(_device_frame("Custom:DND1001", "BUSY"))  # what FreePBX sets on *78
            await until(emu, lambda: emu.presence_of(ALICE) == PRESENTING)
            await pbx.push(_device_frame("Custom:DND1001", "UNAVAILABLE"))  # FreePBX's "off" on *79
            await until(emu, lambda: emu.presence_of(ALICE) == AVAILABLE)
            assert our_writes(emu, ALICE) == ["setPresence", "clearPresence"]


async def test_freepbx_dnd_set_only_in_astdb_is_found_by_the_periodic_reread(tmp_path: Path) -> None:
    clock = new_clock()
    async with fake_pbx() as pbx, emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        async with running_service(ami_config(handle, tmp_path, pbx.port), clock):
            await until(emu, lambda: emu.presence_of(BOB) == PRESENTING)
            # An admin sets DND for Alice in the FreePBX GUI: AstDB only, no event. DND/1002 goes away.
            pbx.replies["dbgettree:dnd"] = [
                frame.replace(b"/DND/1002", b"/DND/1001") for frame in recorded("30_freepbx_synth", "DBDND")
            ]
            await clock.advance(60.0)  # astdb_poll_interval
            await until(emu, lambda: emu.presence_of(ALICE) == PRESENTING)
            await until(emu, lambda: emu.presence_of(BOB) == IN_A_CALL)


async def test_queue_agent_wrapup_shows_busy_when_mapped_and_ends_on_the_clock(tmp_path: Path) -> None:
    clock = new_clock()
    async with fake_pbx() as pbx, emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        async with running_service(ami_config(handle, tmp_path, pbx.port, wrapup=True), clock):
            await pbx.push(AGENT_COMPLETE)  # Alice (Local/1001@lab-agents) finished a labqueue call
            await until(emu, lambda: emu.presence_of(ALICE) == IN_A_CALL)
            await clock.advance(29.0)
            assert emu.presence_of(ALICE) == IN_A_CALL
            await clock.advance(1.5)  # wrapup_seconds: {labqueue: 30}
            await until(emu, lambda: emu.presence_of(ALICE) == AVAILABLE)
            assert our_writes(emu, ALICE) == ["setPresence", "clearPresence"]


async def test_pbx_restart_mid_call_resync_leaves_no_stale_busy(tmp_path: Path) -> None:
    clock = new_clock()
    async with fake_pbx() as pbx, emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        async with running_service(ami_config(handle, tmp_path, pbx.port), clock) as service:
            await pbx.push(ALICE_ANSWERS)
            await until(emu, lambda: emu.presence_of(ALICE) == IN_A_CALL)
            # "core restart now": the recorded Shutdown event, then EOF. The call is gone after it.
            await pbx.push_and_close(SHUTDOWN)
            await settled(clock, lambda: service.readiness()["adapter:pbx"] == "TRANSIENT_DISCONNECT")
            assert service.overall() == "degraded"
            assert emu.presence_of(ALICE) == IN_A_CALL  # unknown: the grace period keeps the call
            await clock.advance(2.0)  # the first reconnect backoff is 0.5..1 s
            await settled(clock, lambda: service.readiness()["adapter:pbx"] == "CONNECTED")
            await settled(clock, lambda: pbx_column(service, "Alice") == "idle")  # the resync snapshot
            await clock.advance(3.5)
            await until(emu, lambda: emu.presence_of(ALICE) == AVAILABLE)
            assert pbx.logins == 2
            assert our_writes(emu, ALICE) == ["setPresence", "clearPresence"]


async def test_pbx_gone_for_good_mid_call_clears_after_the_unknown_grace(tmp_path: Path) -> None:
    clock = new_clock()
    async with fake_pbx() as pbx, emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        async with running_service(ami_config(handle, tmp_path, pbx.port), clock) as service:
            await pbx.push(ALICE_ANSWERS)
            await until(emu, lambda: emu.presence_of(ALICE) == IN_A_CALL)
            await pbx.push_and_close(SHUTDOWN)
            await pbx.refuse()  # and it does not come back
            await settled(clock, lambda: service.readiness()["adapter:pbx"] == "TRANSIENT_DISCONNECT")
            await settled(clock, lambda: pbx_column(service, "Alice") == "unknown")
            await clock.advance(110.0)
            assert emu.presence_of(ALICE) == IN_A_CALL  # an adapter blip does not clear everyone
            await clock.advance(15.0)  # past the 120 s grace
            await until(emu, lambda: emu.presence_of(ALICE) == AVAILABLE)
            await until(emu, lambda: emu.presence_of(BOB) == AWAY)  # his DND and call are unknown too
            assert our_writes(emu, ALICE) == ["setPresence", "clearPresence"]
            assert service.readiness()["adapter:pbx"] == "TRANSIENT_DISCONNECT"


async def test_wrong_ami_password_is_bad_credentials_in_readiness_and_nothing_is_published(
    tmp_path: Path,
) -> None:
    clock = new_clock()
    async with fake_pbx() as pbx, emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        config = ami_config(handle, tmp_path, pbx.port, secret="not-the-right-secret")
        async with running_service(config, clock, connected=False) as service:
            await settled(clock, lambda: service.readiness()["adapter:pbx"] == Health.BAD_CREDENTIALS.value)
            assert service.overall() == "failed"
            await clock.advance(900.0)  # retried every auth_failure_backoff (300 s), not in a loop
            await settled(clock, lambda: len(pbx.actions_named("Login")) >= 2)
            assert len(pbx.actions_named("Login")) <= 4
            assert service.readiness()["adapter:pbx"] == "BAD_CREDENTIALS"
            assert presence_posts(emu) == []
            assert "not-the-right-secret" not in repr(service.stats())
