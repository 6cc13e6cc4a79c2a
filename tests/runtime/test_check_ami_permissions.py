"""``presence-bridge check`` against an AMI user without the manager.conf classes it needs.

The PBX is the fake AMI server (recorded Asterisk 22 bytes, ``ManagerUser`` playing manager.conf);
Graph is the emulator; the CLI runs as a subprocess, as an admin runs it (real clock: the read=call
probe waits ``read_probe_timeout``, set short here).
"""

from __future__ import annotations

from pathlib import Path

from tests.adapters.asterisk_ami.fake_ami import FREEPBX_REPLIES, FakeAmi, ManagerUser
from tests.runtime.rig import emulator, new_clock
from tests.runtime.support import cli
from tests.runtime.test_ami_end_to_end import ami_yaml


async def _check(tmp_path: Path, user: ManagerUser) -> tuple[int, str]:
    pbx = FakeAmi(FREEPBX_REPLIES, user=user)
    await pbx.start()
    try:
        async with emulator(tmp_path, new_clock()) as handle:
            text = ami_yaml(handle, tmp_path, pbx.port).replace(
                "    ping_interval: 3600", "    read_probe_timeout: 0.5\n    ping_interval: 3600"
            )
            (tmp_path / "bridge.yaml").write_text(text)
            code, out, err = await cli("check", "-c", str(tmp_path / "bridge.yaml"))
    finally:
        await pbx.close()
    return code, out + err


async def test_check_fails_without_read_call_and_names_the_fix(tmp_path: Path) -> None:
    code, out = await _check(tmp_path, ManagerUser(read=frozenset({"system", "agent"})))
    assert code == 1, out
    line = next(x for x in out.splitlines() if "adapter pbx" in x)
    assert line.startswith("  FAIL adapter pbx: BAD_CREDENTIALS")
    assert "lacks read=call" in line and "add call to its read = line" in line and "manager reload" in line


async def test_check_fails_without_write_system_when_write_back_is_on(tmp_path: Path) -> None:
    code, out = await _check(tmp_path, ManagerUser(write=frozenset({"call", "reporting", "agent"})))
    assert code == 1, out
    assert "FAIL adapter pbx: DEGRADED" in out and "lacks write=system" in out


async def test_check_passes_with_the_documented_user(tmp_path: Path) -> None:
    code, out = await _check(tmp_path, ManagerUser())
    assert code == 0, out
    assert "ok   adapter pbx: connected" in out
