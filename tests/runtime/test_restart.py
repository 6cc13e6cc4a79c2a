"""Restarts and crashes in the middle of a call, and `release`, across the whole runtime."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from adapters.base import Health
from bridge.demo import running_service
from bridge.presence import IN_A_CALL, Pair
from tests.runtime.rig import ID, bridge_config, bridge_yaml, emulator, new_clock, send
from tests.runtime.support import health_becomes, live_through, our_writes, until

AVAILABLE = Pair("Available", "Available")
ALICE = ID["Alice"]


async def test_restart_mid_call_keeps_the_call_without_resetting_it_and_clears_on_hangup(
    tmp_path: Path,
) -> None:
    clock = new_clock()
    async with emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        config = bridge_config(handle, tmp_path)
        async with running_service(config, clock) as service:
            await send(service.adapters["pbx"], "1001", line="in_call")
            await until(emu, lambda: emu.presence_of(ALICE) == IN_A_CALL)
        # stopped (as on SIGTERM): nothing cleared, the call still shows
        assert emu.presence_of(ALICE) == IN_A_CALL
        await clock.advance(60)
        async with running_service(config, clock) as service:
            # the call state came back from the store, and its session is kept alive past its expiry
            # (from the moment the publisher is up: it reconciles right after its credential check)
            await health_becomes(service.tenants["demo"].publisher, Health.CONNECTED)
            client_id = config.tenants["demo"].client_id
            assert await live_through(emu, clock, ALICE, client_id, 20 * 60) >= 4
            assert emu.presence_of(ALICE) == IN_A_CALL
            await send(service.adapters["pbx"], "1001", line="idle")
            await clock.advance(3.5)
            await until(emu, lambda: emu.presence_of(ALICE) == AVAILABLE)
        writes = our_writes(emu, ALICE)
        assert writes[0] == "setPresence" and writes[-1] == "clearPresence"
        assert writes.count("clearPresence") == 1  # no clear-and-re-set at restart


async def test_a_bridge_killed_mid_call_leaves_busy_no_longer_than_the_session_expiry(tmp_path: Path) -> None:
    clock = new_clock()
    async with emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        async with running_service(bridge_config(handle, tmp_path), clock) as service:
            await send(service.adapters["pbx"], "1001", line="in_call")
            await until(emu, lambda: emu.presence_of(ALICE) == IN_A_CALL)
        await clock.advance(14 * 60)
        assert emu.presence_of(ALICE) == IN_A_CALL
        await clock.advance(61)  # the default session expiry is PT15M
        assert emu.presence_of(ALICE) == AVAILABLE


async def test_release_command_leaves_nothing_of_ours(tmp_path: Path) -> None:
    clock = new_clock()
    async with emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        async with running_service(bridge_config(handle, tmp_path), clock) as service:
            await send(service.adapters["pbx"], "1001", line="in_call")
            await send(service.adapters["pbx"], "1005", dnd=True)
            await until(emu, lambda: emu.presence_of(ALICE) == IN_A_CALL)
            await until(emu, lambda: emu.presence_of(ID["Erin"]).availability == "DoNotDisturb")
        config_file = tmp_path / "bridge.yaml"
        config_file.write_text(bridge_yaml(handle, tmp_path))
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bridge.cli",
            "release",
            "-c",
            str(config_file),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={k: v for k, v in os.environ.items() if k not in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")},
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        assert "2 clear request(s) sent" in out.decode()
        client_id = bridge_config(handle, tmp_path).tenants["demo"].client_id
        for user in emu.state.users():
            sessions = emu.state.describe(user.id, clock.now())["sessions"]
            assert client_id not in str(sessions), user.display_name
        assert emu.presence_of(ALICE) == AVAILABLE
