"""``release`` leaves nothing of ours on the PBX, the login probe's device included (issue 10).

The read=call check at every AMI login sets ``Custom:TEAMS-probe`` (``login_check.py``); Asterisk
keeps every custom device state in AstDB ``CustomDevstate/<name>`` (reference 4.3, capture 11), so a
probe that only set it back to ``NOT_INUSE`` left a key of ours behind on every PBX, ``release``'s
own login included. Read back from the fake PBX's AstDB after ``run`` and ``release``.
"""

from __future__ import annotations

from pathlib import Path

from bridge.config import load_config_text
from bridge.demo import running_service
from bridge.presence import Pair
from tests.adapters.asterisk_ami.fake_ami import ManagerUser
from tests.adapters.asterisk_ami.pbx_state import FreePbx, serving
from tests.runtime.rig import emulator, new_clock
from tests.runtime.support import cli
from tests.runtime.test_ami_end_to_end import settled
from tests.runtime.test_teams_to_pbx import poll, teams_client, watching_yaml

RECOMMENDED = ManagerUser()  # docs/asterisk.md: read = call,system,agent; write = call,reporting,system,agent


def ours_on_the_pbx(pbx: FreePbx) -> dict[str, str]:
    """Every AstDB key that is ours (family TEAMS, our custom devices) and DND of Alice."""
    return {
        key: value
        for key, value in pbx.astdb.items()
        if key.startswith(("TEAMS/", "CustomDevstate/TEAMS-")) or key == "DND/1001"
    }


async def test_a_login_leaves_no_probe_device_behind(tmp_path: Path) -> None:
    clock = new_clock()
    async with serving(FreePbx(user=RECOMMENDED)) as pbx, emulator(tmp_path, clock) as handle:
        config = load_config_text(watching_yaml(handle, tmp_path, pbx.port), "<probe>", environ={})
        async with running_service(config, clock) as service:
            await settled(clock, lambda: service.readiness()["adapter:pbx"] == "CONNECTED")
            assert any(a.get("Variable") == "DEVICE_STATE(Custom:TEAMS-probe)" for a in pbx.actions)
            await settled(clock, lambda: "CustomDevstate/TEAMS-probe" not in pbx.astdb)


async def test_release_reads_back_nothing_of_ours(tmp_path: Path) -> None:
    clock = new_clock()
    async with serving(FreePbx(user=RECOMMENDED)) as pbx, emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        text = watching_yaml(handle, tmp_path, pbx.port)
        config = load_config_text(text, "<probe>", environ={})
        async with running_service(config, clock) as service:
            await settled(clock, lambda: service.watchers["demo"].shown is not None)
            teams_client(emu, clock, Pair("Busy", "InACall"))
            await poll(clock, service.watchers["demo"])
            await settled(clock, lambda: pbx.astdb.get("TEAMS/1001") == "call")
        (tmp_path / "bridge.yaml").write_text(text)
        code, out, err = await cli("release", "-c", str(tmp_path / "bridge.yaml"))
        assert code == 0, out + err
        assert len(pbx.actions_named("Login")) == 2  # release logged in (and probed) too
        assert ours_on_the_pbx(pbx) == {}, out
        assert pbx.devices["Custom:TEAMS1001"] == "NOT_INUSE"  # the BLF lamp at rest (docs/asterisk.md)
