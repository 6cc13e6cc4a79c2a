"""A Teams -> PBX write-back while the PBX is down records nothing (chaos seed 67, issue 10).

The store's ownership records are written ahead of each write-back; one the adapter could not even
send outlived it whenever Teams went back to what the watcher last sent, so the store claimed
``TEAMS/1001=call`` while the PBX never held it. What an admin notices: ``release`` and restarts
act on a value the PBX never had, and the records no longer say what the PBX holds.
"""

from __future__ import annotations

from pathlib import Path

from adapters.base import Health
from bridge.config import load_config_text
from bridge.demo import running_service
from bridge.presence import Pair
from tests.adapters.asterisk_ami.pbx_state import FreePbx, serving
from tests.runtime.rig import emulator, new_clock
from tests.runtime.test_ami_end_to_end import settled
from tests.runtime.test_teams_to_pbx import poll, teams_client, watching_yaml


async def test_a_write_back_the_pbx_never_got_is_not_recorded(tmp_path: Path) -> None:
    clock = new_clock()
    async with serving(FreePbx()) as pbx, emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        config = load_config_text(watching_yaml(handle, tmp_path, pbx.port), "<down>", environ={})
        async with running_service(config, clock) as service:
            watcher = service.watchers["demo"]
            await settled(clock, lambda: watcher.shown is not None)
            await pbx.refuse()  # Asterisk is down
            await settled(clock, lambda: service.adapters["pbx"].health is not Health.CONNECTED)
            teams_client(emu, clock, Pair("Busy", "InACall"))
            await poll(clock, watcher)
            await settled(clock, lambda: watcher.counters["apply_failures"] >= 1)
            assert "TEAMS/1001" not in pbx.astdb
            assert service.store.load_owned() == []  # nothing of ours on the PBX: nothing recorded
