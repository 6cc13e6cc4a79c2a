"""/healthz tells the truth about the AMI user: degraded, with an alarm naming the missing class.

AMI bytes from the fake server (recorded Asterisk 22, ``ManagerUser`` playing manager.conf) through
the asterisk_ami adapter into a running ``BridgeService``; Graph is the emulator.
"""

from __future__ import annotations

from pathlib import Path

from bridge.config import load_config_text
from bridge.demo import running_service
from tests.adapters.asterisk_ami.fake_ami import FREEPBX_REPLIES, FakeAmi, ManagerUser
from tests.runtime.rig import emulator, new_clock
from tests.runtime.test_ami_end_to_end import ami_yaml, settled


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
