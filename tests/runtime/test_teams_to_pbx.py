"""Teams -> PBX end to end: Graph emulator (Teams) -> watcher -> Asterisk adapter -> AMI actions.

The fake PBX answers with recorded Asterisk 22 replies (tests/adapters/asterisk_ami/fake_ami.py).
Teams is played through the emulator's state (a Teams client session, the user's own status); the
watcher polls on the shared FakeClock. What is asserted is what the PBX is told: the routable state
in AstDB ``TEAMS/<ext>`` and the BLF lamp, FreePBX DND only for the person who opted in, and no loop
back into Teams.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from adapters.base import Health
from bridge.config import load_config_text
from bridge.demo import running_service
from bridge.emulator.app import Emulator
from bridge.emulator.server import EmulatorHandle
from bridge.kit.clock import FakeClock
from bridge.presence import Pair
from bridge.teams.watcher import Watcher
from tests.adapters.asterisk_ami.fake_ami import FakeAmi
from tests.adapters.asterisk_ami.pbx_state import AT_REST, FREEPBX_DEVICES, FreePbx, serving
from tests.runtime.rig import emulator, new_clock
from tests.runtime.support import cli, our_writes
from tests.runtime.test_ami_end_to_end import ALICE, ami_yaml, fake_pbx, settled

POLL = 5.0


def watching_yaml(handle: EmulatorHandle, tmp: Path, port: int) -> str:
    text = ami_yaml(handle, tmp, port)
    text = text.replace(
        f"    ca_file: {handle.ca_file}\n",
        f"    ca_file: {handle.ca_file}\n    watch: {{enabled: true, interval_seconds: {POLL:g}}}\n",
    )
    text = text.replace("tenant: demo, name: Alice,", "tenant: demo, name: Alice, pbx_dnd_from_teams: true,")
    return text.replace("    freepbx: true\n", "    freepbx: true\n    freepbx_dnd_write: true\n")


def astdb(pbx: FakeAmi, family: str, key: str) -> list[str]:
    """What the bridge wrote for an AstDB key, in order ("DEL" for a delete)."""
    out = []
    for action in pbx.actions:
        name = (action.get("Action") or "").lower()
        if name in ("dbput", "dbdel") and action.get("Family") == family and action.get("Key") == key:
            out.append(action.get("Val") or "?" if name == "dbput" else "DEL")
    return out


def teams_client(emu: Emulator, clock: FakeClock, pair: Pair) -> None:
    """Alice's Teams desktop client shows ``pair`` (a client session that neither fades nor expires)."""
    emu.state.set_session(ALICE, "teams-desktop", pair, clock.now(), expires_in=None, fades=False)


async def poll(clock: FakeClock, watcher: Watcher) -> None:
    """Move time by one polling interval and make sure a new round has started.

    The watcher schedules its next round when the last one ends (real loopback I/O): if that was
    after the clock moved, its deadline is one interval later, so move again (bounded)."""
    before = watcher.counters["rounds"]
    for _ in range(3):
        await clock.advance(POLL)
        try:
            async with asyncio.timeout(3.0):
                while watcher.counters["rounds"] == before:
                    await clock.settle(1)
            return
        except TimeoutError:
            continue
    raise AssertionError("the watcher did not poll")


async def test_a_teams_call_reaches_the_pbx_and_clears_after(tmp_path: Path) -> None:
    clock = new_clock()
    async with fake_pbx() as pbx, emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        config = load_config_text(watching_yaml(handle, tmp_path, pbx.port), "<t2p>", environ={})
        async with running_service(config, clock) as service:
            teams_client(emu, clock, Pair("Busy", "InACall"))
            await poll(clock, service.watchers["demo"])
            await settled(clock, lambda: astdb(pbx, "TEAMS", "1001") == ["call"])
            assert any(
                a.get("Variable") == "DEVICE_STATE(Custom:TEAMS1001)" and a.get("Value") == "INUSE"
                for a in pbx.actions_named("Setvar")
            )
            assert astdb(pbx, "DND", "1001") == []  # a call is not DND
            teams_client(emu, clock, Pair("Available", "Available"))
            await poll(clock, service.watchers["demo"])
            await settled(clock, lambda: astdb(pbx, "TEAMS", "1001") == ["call", "DEL"])
            assert service.readiness()["adapter:pbx"] == "CONNECTED"


async def test_teams_dnd_sets_freepbx_dnd_for_the_opted_in_person_only_and_never_loops(
    tmp_path: Path,
) -> None:
    clock = new_clock()
    async with fake_pbx() as pbx, emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        config = load_config_text(watching_yaml(handle, tmp_path, pbx.port), "<t2p>", environ={})
        async with running_service(config, clock) as service:
            watcher = service.watchers["demo"]
            await settled(clock, lambda: watcher.shown(ALICE) is not None)  # its first look at Teams is done
            dnd = Pair("DoNotDisturb", "DoNotDisturb")
            emu.state.set_preferred(ALICE, dnd.availability, dnd.activity, None, clock.now())
            await poll(clock, service.watchers["demo"])
            await settled(clock, lambda: watcher.counters["observations"] >= 4)  # one DND sighting ...
            assert astdb(pbx, "TEAMS", "1001") == [] and astdb(pbx, "DND", "1001") == []  # ... is not enough
            await poll(clock, service.watchers["demo"])
            await settled(clock, lambda: astdb(pbx, "DND", "1001") == ["YES"])
            assert astdb(pbx, "TEAMS", "1001") == ["dnd"]
            await poll(clock, service.watchers["demo"])
            await poll(clock, service.watchers["demo"])
            assert our_writes(emu, ALICE) == []  # our own PBX DND never came back as a Teams session
            emu.state.clear_preferred(ALICE, clock.now())  # the user leaves Do not disturb
            await poll(clock, service.watchers["demo"])
            await settled(clock, lambda: astdb(pbx, "DND", "1001") == ["YES", "DEL"])
            await settled(clock, lambda: astdb(pbx, "TEAMS", "1001") == ["dnd", "DEL"])
        assert astdb(pbx, "DND", "1002") == []  # Bob never opted in


async def test_release_clears_what_we_wrote_to_the_pbx(tmp_path: Path) -> None:
    clock = new_clock()
    bob_own_dnd = FreePbx({**FREEPBX_DEVICES, "DND/1002": "YES"}, {**AT_REST, "Custom:DND1002": "BUSY"})
    async with serving(bob_own_dnd) as pbx, emulator(tmp_path, clock) as handle:  # release reads back
        emu = handle.emulator
        text = watching_yaml(handle, tmp_path, pbx.port)
        config = load_config_text(text, "<t2p>", environ={})
        async with running_service(config, clock) as service:
            await settled(clock, lambda: service.watchers["demo"].shown(ALICE) is not None)
            teams_client(emu, clock, Pair("Busy", "InACall"))
            await poll(clock, service.watchers["demo"])
            await settled(clock, lambda: astdb(pbx, "TEAMS", "1001") == ["call"])
        (tmp_path / "bridge.yaml").write_text(text)
        code, out, err = await cli("release", "-c", str(tmp_path / "bridge.yaml"))
        assert code == 0, out + err
        assert "pbx pbx: 1 value(s) of ours cleared" in out
        assert astdb(pbx, "TEAMS", "1001") == ["call", "DEL"]
        assert astdb(pbx, "DND", "1002") == []  # Bob's own DND is not ours: untouched
        assert pbx.dnd("1002") == ("YES", "BUSY")


async def test_a_teams_call_that_ended_while_the_bridge_was_down_is_cleared_on_the_pbx(
    tmp_path: Path,
) -> None:
    clock = new_clock()
    async with fake_pbx() as pbx, emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        config = load_config_text(watching_yaml(handle, tmp_path, pbx.port), "<t2p>", environ={})
        async with running_service(config, clock) as service:
            await settled(clock, lambda: service.watchers["demo"].shown(ALICE) is not None)
            teams_client(emu, clock, Pair("Busy", "InACall"))
            await poll(clock, service.watchers["demo"])
            await settled(clock, lambda: astdb(pbx, "TEAMS", "1001") == ["call"])
        # the bridge is down; the Teams call ends meanwhile
        teams_client(emu, clock, Pair("Available", "Available"))
        await clock.advance(60)
        async with running_service(config, clock) as service:
            # at the watcher's first round, or the next one if that round beat the AMI login (a
            # write-back to an adapter still connecting fails and is retried at the next poll)
            def cleared() -> bool:
                return astdb(pbx, "TEAMS", "1001") == ["call", "DEL"]

            await settled(clock, lambda: cleared() or service.watchers["demo"].counters["rounds"] > 0)
            if not cleared():
                await settled(clock, lambda: service.adapters["pbx"].health is Health.CONNECTED)
                await poll(clock, service.watchers["demo"])
            await settled(clock, cleared)
