"""Start-up with the Asterisk adapter against a FreePBX (issue 10, defect 6 and the "no personal
endpoint" line of item 9), as ``test_restart_cti.py`` checks them with the generic CTI adapter.

The bridge restarts while Asterisk is still down: nothing is written from the stored state (no
"2 useless writes and a DND flash"), and nobody is logged or shown as "no personal endpoint"
before Asterisk has said anything. Once the AMI resync arrives, one write: what changed.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bridge.demo import running_service
from bridge.kit.clock import FakeClock
from bridge.model import EndpointKey, EndpointState, LineState
from bridge.presence import IN_A_CALL, PRESENTING, Pair
from bridge.runtime.service import BridgeService
from bridge.runtime.store import StateStore
from tests.adapters.asterisk_ami.pbx_state import AT_REST, FREEPBX_DEVICES, FreePbx, serving
from tests.runtime.rig import emulator, new_clock
from tests.runtime.support import confirmed, our_writes, until
from tests.runtime.test_ami_end_to_end import ALICE, BOB, ami_config, settled

AWAY = Pair("Away", "Away")  # Bob's own Teams desktop in the emulator's demo state


async def reconnected(clock: FakeClock, pbx: FreePbx, service: BridgeService) -> None:
    """Move the clock through the adapter's backoff until it has logged in and resynced."""
    logins = pbx.logins
    for _ in range(60):
        if pbx.logins > logins and service.adapters["pbx"].health.value == "CONNECTED":
            return
        await clock.advance(1.0)
    raise AssertionError("the AMI adapter did not reconnect")


async def test_restart_while_asterisk_is_down_writes_nothing_until_the_resync_then_only_the_change(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Alice is in a call and Bob in FreePBX DND; the bridge stops; Bob presses *76 meanwhile, and
    his stored state (in a call) is not what Teams holds (DND). Restarted while Asterisk is down,
    the bridge writes nothing for 10 s (before: Busy/InACall for Bob from the store, then a clear at
    the resync: a DND flash); at the resync, Bob's clear is the only write."""
    clock = new_clock()
    astdb = {**FREEPBX_DEVICES, "DND/1002": "YES"}
    devices = {**AT_REST, "PJSIP/1001": "INUSE", "Custom:DND1002": "BUSY"}
    async with serving(FreePbx(astdb, devices)) as pbx, emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        config = ami_config(handle, tmp_path, pbx.port)
        async with running_service(config, clock) as service:
            await until(
                emu, lambda: emu.presence_of(ALICE) == IN_A_CALL and emu.presence_of(BOB) == PRESENTING
            )
            await confirmed(service.tenants["demo"].publisher, BOB, PRESENTING)
        await pbx.refuse()  # Asterisk goes down
        pbx.astdb.pop("DND/1002")  # Bob's *76 (FreePBX: AstDB and the hint)
        pbx.devices["Custom:DND1002"] = "UNAVAILABLE"
        with StateStore(config.state.path) as store:  # older than what Teams holds
            store.save_endpoint(EndpointKey("pbx", "1002"), EndpointState(line=LineState.IN_CALL))
        await clock.advance(30)
        written = our_writes(emu, ALICE) + our_writes(emu, BOB)
        caplog.set_level(logging.INFO)
        async with running_service(config, clock, connected=False) as service:
            publisher = service.tenants["demo"].publisher
            await settled(clock, lambda: publisher.health.value == "CONNECTED")  # Graph reachable
            await clock.advance(10)  # inside the start-up wait (30 s): nothing is written
            await settled(clock, service.idle)
            assert our_writes(emu, ALICE) + our_writes(emu, BOB) == written
            assert emu.presence_of(BOB) == PRESENTING and emu.presence_of(ALICE) == IN_A_CALL
            said = [r.getMessage() + str(getattr(r, "why", "")) for r in caplog.records]
            assert not [line for line in said if "no personal endpoint" in line]
            assert "no personal endpoint" not in str(service.status_rows())
            await pbx.start()  # Asterisk is back on the same port
            await reconnected(clock, pbx, service)
            await until(emu, lambda: emu.presence_of(BOB) == AWAY)
            await settled(clock, lambda: service.idle())
        assert our_writes(emu, ALICE) == ["setPresence"]
        assert our_writes(emu, BOB) == ["setPresence", "clearPresence"]


async def test_no_personal_endpoint_is_not_logged_before_asterisk_answers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 10, item 9, with AMI: a first start with Asterisk unreachable decides nobody as "no
    personal endpoint" (log or /status); each row says no PBX event has come yet."""
    clock = new_clock()
    caplog.set_level(logging.INFO)
    async with serving(FreePbx()) as pbx, emulator(tmp_path, clock) as handle:
        config = ami_config(handle, tmp_path, pbx.port)
        await pbx.refuse()
        async with running_service(config, clock, connected=False) as service:
            await clock.advance(5)
            said = [r.getMessage() + str(getattr(r, "why", "")) for r in caplog.records]
            assert not [line for line in said if "no personal endpoint" in line]
            rows = {r["person"]: r for r in service.status_rows()}
            assert rows["Alice"]["why"] == "no PBX event yet"
            assert rows["Bob"]["why"] == "no PBX event yet"
