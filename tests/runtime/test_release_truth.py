"""`release` tells the truth on the Teams side (issue 10, defect 7): the command as an admin runs it
(a subprocess) against the Graph emulator over HTTPS, with the emulator's fault injection."""

from __future__ import annotations

from pathlib import Path

from bridge.demo import running_service
from bridge.emulator.faults import Fault, FaultKind
from bridge.presence import IN_A_CALL, Pair
from tests.runtime.rig import ID, bridge_config, bridge_yaml, emulator, new_clock, send
from tests.runtime.support import cli, our_session, our_writes, until

ALICE = ID["Alice"]
AVAILABLE = Pair("Available", "Available")


async def test_release_while_graph_answers_503_exits_1_and_names_what_is_still_set(tmp_path: Path) -> None:
    clock = new_clock()
    async with emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        config = bridge_config(handle, tmp_path)
        async with running_service(config, clock) as service:
            await send(service.adapters["pbx"], "1001", line="in_call")
            await until(emu, lambda: emu.presence_of(ALICE) == IN_A_CALL)
        (tmp_path / "bridge.yaml").write_text(bridge_yaml(handle, tmp_path))
        emu.faults.inject(Fault(FaultKind.UNAVAILABLE, retry_after=0), count=10_000)
        code, out, err = await cli("release", "-c", str(tmp_path / "bridge.yaml"), "--retry-for", "0")
        assert code == 1, out + err
        assert f"tenant demo: NOT cleared for Alice ({ALICE}): session Busy/InACall" in out
        client_id = config.tenants["demo"].client_id
        assert our_session(emu, ALICE, client_id, clock.now()) is not None  # it really is still set
        emu.faults.clear()
        code, out, err = await cli("release", "-c", str(tmp_path / "bridge.yaml"))  # Graph is back
        assert code == 0, out + err
        assert "tenant demo: 1 clear request(s) sent" in out
        assert emu.presence_of(ALICE) == AVAILABLE


async def test_run_after_release_republishes_nothing_stale(tmp_path: Path) -> None:
    clock = new_clock()
    async with emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        config = bridge_config(handle, tmp_path)
        async with running_service(config, clock) as service:
            await send(service.adapters["pbx"], "1001", line="in_call")
            await until(emu, lambda: emu.presence_of(ALICE) == IN_A_CALL)
        (tmp_path / "bridge.yaml").write_text(bridge_yaml(handle, tmp_path))
        code, out, err = await cli("release", "-c", str(tmp_path / "bridge.yaml"))
        assert code == 0, out + err
        assert our_writes(emu, ALICE) == ["setPresence", "clearPresence"]
        async with running_service(config, clock) as service:
            for _ in range(20):
                await clock.advance(0.5)
            await send(service.adapters["pbx"], "1002", line="in_call")  # a fresh report is published
            await until(emu, lambda: emu.presence_of(ID["Bob"]) == IN_A_CALL)
        assert our_writes(emu, ALICE) == ["setPresence", "clearPresence"]  # the stored in_call stays gone
        assert emu.presence_of(ALICE) == AVAILABLE
