"""/healthz tells the truth about the AMI user: degraded, with an alarm naming the missing class.

AMI bytes from the fake server (recorded Asterisk 22, ``ManagerUser`` playing manager.conf) through
the asterisk_ami adapter into a running ``BridgeService``; Graph is the emulator.
"""

from __future__ import annotations

from pathlib import Path

from bridge.config import load_config_text
from bridge.demo import running_service
from bridge.presence import Pair
from tests.adapters.asterisk_ami.fake_ami import FREEPBX_REPLIES, FakeAmi, ManagerUser
from tests.adapters.asterisk_ami.pbx_state import FreePbx
from tests.runtime.rig import emulator, new_clock
from tests.runtime.support import cli
from tests.runtime.test_ami_end_to_end import ALICE, ami_yaml, settled
from tests.runtime.test_teams_to_pbx import astdb, poll, teams_client, watching_yaml


async def test_an_ami_user_without_write_system_makes_healthz_degraded_with_an_alarm(tmp_path: Path) -> None:
    clock = new_clock()
    pbx = FakeAmi(FREEPBX_REPLIES, user=ManagerUser(write=frozenset({"call", "reporting", "agent"})))
    await pbx.start()
    try:
        async with emulator(tmp_path, clock) as handle:
            config = load_config_text(ami_yaml(handle, tmp_path, pbx.port), "<ami-health>", environ={})
            async with running_service(config, clock, connected=False) as service:
                await settled(clock, lambda: service.readiness()["adapter:pbx"] == "DEGRADED")
                assert service.overall() == "degraded"
                assert "adapter:pbx:manager_conf_lacks_write=system" in service.alarms()
                assert service.stats()["alarms"] >= 1
    finally:
        await pbx.close()


async def test_release_works_through_a_degraded_adapter(tmp_path: Path) -> None:
    clock = new_clock()
    pbx = FreePbx()  # remembers writes, so release can read them back
    pbx.user = ManagerUser(read=frozenset({"call", "agent"}))  # no read=system
    await pbx.start()
    try:
        async with emulator(tmp_path, clock) as handle:
            text = watching_yaml(handle, tmp_path, pbx.port)
            config = load_config_text(text, "<ami-health>", environ={})
            async with running_service(config, clock, connected=False) as service:
                await settled(clock, lambda: service.readiness()["adapter:pbx"] == "DEGRADED")
                await settled(clock, lambda: service.watchers["demo"].shown(ALICE) is not None)
                teams_client(handle.emulator, clock, Pair("Busy", "InACall"))
                await poll(clock, service.watchers["demo"])
                await settled(clock, lambda: astdb(pbx, "TEAMS", "1001") == ["call"])
            (tmp_path / "bridge.yaml").write_text(text)
            code, out, err = await cli("release", "-c", str(tmp_path / "bridge.yaml"))
    finally:
        await pbx.close()
    assert code == 0, out + err
    assert astdb(pbx, "TEAMS", "1001") == ["call", "DEL"]
