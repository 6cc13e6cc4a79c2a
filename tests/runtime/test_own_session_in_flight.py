"""Our own Teams session is never copied back to the PBX while a write of ours is on its way
(issue 10, chaos seeds 5, 31, 115, 393: the watcher wrote ``TEAMS/1001=presenting``).

Alice presses *78: we show DoNotDisturb/Presenting in Teams. She presses *76 and answers a call:
we replace it with Busy/InACall, and Graph takes 30 s to answer that write. A watcher round in
between still reads our old DoNotDisturb/Presenting. It is our session (README "No loops"): the PBX
must not get ``TEAMS/1001``; before the fix the watcher took the unconfirmed write for "no session
of ours", wrote ``presenting``, and kept it for the whole call (Busy/InACall is ours too).
"""

from __future__ import annotations

from pathlib import Path

from bridge.config import load_config_text
from bridge.demo import running_service
from bridge.emulator.faults import Fault, FaultKind
from bridge.presence import IN_A_CALL, PRESENTING
from tests.runtime.rig import emulator, new_clock
from tests.runtime.support import until
from tests.runtime.test_ami_end_to_end import ALICE, ALICE_ANSWERS, _device_frame, fake_pbx, settled
from tests.runtime.test_teams_to_pbx import astdb, poll, watching_yaml

GRAPH_DELAY = 30.0  # seconds (fake clock) Graph takes to answer our write


async def test_a_watcher_round_during_our_write_does_not_copy_our_old_session_to_the_pbx(
    tmp_path: Path,
) -> None:
    clock = new_clock()
    async with fake_pbx() as pbx, emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        config = load_config_text(watching_yaml(handle, tmp_path, pbx.port), "<in-flight>", environ={})
        async with running_service(config, clock) as service:
            watcher = service.watchers["demo"]
            await settled(clock, lambda: watcher.shown(ALICE) is not None)
            await pbx.push(_device_frame("Custom:DND1001", "BUSY"))  # *78
            await until(emu, lambda: emu.presence_of(ALICE) == PRESENTING)
            await poll(clock, watcher)
            emu.faults.inject(Fault(FaultKind.SLOW, delay=GRAPH_DELAY))
            await pbx.push([_device_frame("Custom:DND1001", "UNAVAILABLE"), ALICE_ANSWERS])  # *76, a call
            await settled(clock, lambda: emu.faults.stats()["pending"] == 0)  # our write is on its way
            await poll(clock, watcher)  # reads our old DoNotDisturb/Presenting
            await poll(clock, watcher)
            assert emu.presence_of(ALICE) == PRESENTING  # Graph has not answered yet
            await clock.advance(GRAPH_DELAY)
            await until(emu, lambda: emu.presence_of(ALICE) == IN_A_CALL)
            await poll(clock, watcher)
            await poll(clock, watcher)
            assert astdb(pbx, "TEAMS", "1001") == []  # nothing of Teams' came from our own session
