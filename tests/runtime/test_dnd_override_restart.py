"""Bob (opted in) is in Teams DND, so we set FreePBX DND; he presses *76 on his phone: README says
PBX DND stays off until the next Teams change, and that holds through a bridge restart (before the
fix the restarted bridge switched his DND on again at its second reading)."""

from __future__ import annotations

from pathlib import Path

from bridge.config import load_config_text
from bridge.demo import running_service
from tests.adapters.asterisk_ami.pbx_state import FreePbx, serving
from tests.runtime.rig import emulator, new_clock
from tests.runtime.test_ami_end_to_end import BOB, settled
from tests.runtime.test_pbx_ownership_restart import DND_OFF, DND_ON, bob_opted_in_yaml, press_dnd
from tests.runtime.test_teams_to_pbx import poll


async def test_dnd_switched_off_by_hand_during_a_teams_dnd_stays_off_after_a_restart(tmp_path: Path) -> None:
    clock = new_clock()
    async with serving(FreePbx()) as pbx, emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        config = load_config_text(bob_opted_in_yaml(handle, tmp_path, pbx.port), "<own>", environ={})
        async with running_service(config, clock) as service:
            watcher = service.watchers["demo"]
            await settled(clock, lambda: watcher.shown(BOB) is not None)
            emu.state.set_preferred(BOB, "DoNotDisturb", "DoNotDisturb", None, clock.now())
            await poll(clock, watcher)
            await poll(clock, watcher)
            await settled(clock, lambda: pbx.dnd("1002") == DND_ON)
            await press_dnd(pbx, "1002", on=False)  # *76: Bob wants calls
            await settled(clock, lambda: not any(o.what == "dnd" for o in service.store.load_owned()))
            await poll(clock, watcher)
            await poll(clock, watcher)
            assert pbx.dnd("1002") == DND_OFF
        await clock.advance(60)
        async with running_service(config, clock) as service:
            watcher = service.watchers["demo"]
            for _ in range(3):
                await poll(clock, watcher)
            assert pbx.dnd("1002") == DND_OFF  # Teams still shows DND: his choice stands
            emu.state.clear_preferred(BOB, clock.now())  # the next Teams change ...
            await poll(clock, watcher)
            emu.state.set_preferred(BOB, "DoNotDisturb", "DoNotDisturb", None, clock.now())
            await poll(clock, watcher)
            await poll(clock, watcher)
            await settled(clock, lambda: pbx.dnd("1002") == DND_ON)  # ... and a new Teams DND is ours again
