"""PBX DND we set from Teams, through a bridge restart and ``release`` (issue 10, defects 1 and 2).

End to end: the Graph emulator plays Teams, ``pbx_state.FreePbx`` plays a FreePBX that remembers
its AstDB and custom device states (recorded Asterisk 22 frames, values swapped), the bridge runs
as ``presence-bridge run`` would (BridgeService, state store on disk) and ``release`` as the CLI.
Bob opted in to PBX DND from Teams. What is asserted is what an admin reads on the PBX
(``DND/1002``, ``Custom:DND1002``), what Teams was told by us, and what ``release`` says.
"""

from __future__ import annotations

from pathlib import Path

from bridge.config import BridgeConfig, load_config_text
from bridge.demo import running_service
from bridge.emulator.app import Emulator
from bridge.emulator.server import EmulatorHandle
from bridge.kit.clock import FakeClock
from bridge.runtime.service import BridgeService
from bridge.runtime.store import StateStore
from tests.adapters.asterisk_ami.pbx_state import FreePbx, device_event, serving
from tests.runtime.rig import emulator, new_clock
from tests.runtime.support import cli
from tests.runtime.test_ami_end_to_end import BOB, ami_yaml, settled
from tests.runtime.test_teams_to_pbx import POLL, poll

DND_ON = ("YES", "BUSY")
DND_OFF = (None, "UNAVAILABLE")  # what FreePBX itself leaves after *76 (the fake PBX starts so)


def bob_opted_in_yaml(handle: EmulatorHandle, tmp: Path, port: int) -> str:
    text = ami_yaml(handle, tmp, port)
    text = text.replace(
        f"    ca_file: {handle.ca_file}\n",
        f"    ca_file: {handle.ca_file}\n    watch: {{enabled: true, interval_seconds: {POLL:g}}}\n",
    )
    text = text.replace("tenant: demo, name: Bob,", "tenant: demo, name: Bob, pbx_dnd_from_teams: true,")
    return text.replace("    freepbx: true\n", "    freepbx: true\n    freepbx_dnd_write: true\n")


async def press_dnd(pbx: FreePbx, ext: str, *, on: bool) -> None:
    """What FreePBX does on *78 / *76 (reference 4.1): AstDB, the hint device, and its event."""
    if on:
        pbx.astdb[f"DND/{ext}"] = "YES"
    else:
        pbx.astdb.pop(f"DND/{ext}", None)
    pbx.devices[f"Custom:DND{ext}"] = "BUSY" if on else "UNAVAILABLE"
    await pbx.push(device_event(f"Custom:DND{ext}", pbx.devices[f"Custom:DND{ext}"]))


def dnd_from_us(emu: Emulator, user_id: str) -> list[str]:
    """Our presence writes for a user that show Do not disturb (or Presenting) in Teams."""
    return [
        str(e["summary"])
        for e in emu.journal.entries()
        if e["method"] == "POST"
        and user_id in str(e["path"])
        and "/presence/" in str(e["path"])
        and any(word in str(e["summary"]) for word in ("DoNotDisturb", "Presenting"))
    ]


def dnd_owned(service: BridgeService) -> float:
    return next(v for k, v in service.stats().items() if "pbx_dnd_owned" in k)


async def teams_dnd_sets_pbx_dnd(config: BridgeConfig, clock: FakeClock, emu: Emulator, pbx: FreePbx) -> None:
    """Bob sets Do not disturb in Teams; the bridge sets FreePBX DND for him, then stops (SIGTERM)."""
    async with running_service(config, clock) as service:
        watcher = service.watchers["demo"]
        await settled(clock, lambda: watcher.shown(BOB) is not None)
        emu.state.set_preferred(BOB, "DoNotDisturb", "DoNotDisturb", None, clock.now())
        await poll(clock, watcher)
        await poll(clock, watcher)  # DND needs two sightings
        await settled(clock, lambda: pbx.dnd("1002") == DND_ON)
        await poll(clock, watcher)
        assert dnd_owned(service) == 1


async def test_teams_dnd_cleared_while_the_bridge_was_down_releases_our_pbx_dnd_at_start(
    tmp_path: Path,
) -> None:
    clock = new_clock()
    async with serving(FreePbx()) as pbx, emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        config = load_config_text(bob_opted_in_yaml(handle, tmp_path, pbx.port), "<own>", environ={})
        await teams_dnd_sets_pbx_dnd(config, clock, emu, pbx)
        emu.state.clear_preferred(BOB, clock.now())  # the bridge is down; Bob leaves DND in Teams
        await clock.advance(60)
        async with running_service(config, clock) as service:
            await poll(clock, service.watchers["demo"])  # (its first look may already have released it)
            await settled(clock, lambda: pbx.dnd("1002") == DND_OFF)  # only an owner switches it off
            assert dnd_owned(service) == 0
            await poll(clock, service.watchers["demo"])
        assert dnd_from_us(emu, BOB) == []  # our own PBX DND never reached Teams


async def test_teams_dnd_still_on_at_restart_releases_our_pbx_dnd_when_it_ends(tmp_path: Path) -> None:
    clock = new_clock()
    async with serving(FreePbx()) as pbx, emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        config = load_config_text(bob_opted_in_yaml(handle, tmp_path, pbx.port), "<own>", environ={})
        await teams_dnd_sets_pbx_dnd(config, clock, emu, pbx)
        await clock.advance(60)
        async with running_service(config, clock) as service:
            watcher = service.watchers["demo"]
            await poll(clock, watcher)
            await poll(clock, watcher)
            assert pbx.dnd("1002") == DND_ON  # Teams DND still on: ours, kept
            assert dnd_owned(service) == 1  # restored before the first resync was read
            emu.state.clear_preferred(BOB, clock.now())  # Bob leaves DND in Teams
            await poll(clock, watcher)
            await settled(clock, lambda: pbx.dnd("1002") == DND_OFF)
        assert dnd_from_us(emu, BOB) == []


async def test_release_clears_freepbx_dnd_and_its_hint_and_reads_them_back(tmp_path: Path) -> None:
    clock = new_clock()
    async with serving(FreePbx()) as pbx, emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        text = bob_opted_in_yaml(handle, tmp_path, pbx.port)
        config = load_config_text(text, "<own>", environ={})
        await teams_dnd_sets_pbx_dnd(config, clock, emu, pbx)
        (tmp_path / "bridge.yaml").write_text(text)
        code, out, err = await cli("release", "-c", str(tmp_path / "bridge.yaml"))
        assert code == 0, out + err
        assert pbx.dnd("1002") == DND_OFF
        assert "pbx pbx: 2 value(s) of ours cleared (read back clear)" in out  # DND and TEAMS/1002
        assert "still set" not in out
        with StateStore(tmp_path / "state.db") as store:
            assert store.load_owned() == []


async def test_release_exits_non_zero_and_names_what_the_pbx_still_holds(tmp_path: Path) -> None:
    clock = new_clock()
    async with serving(FreePbx()) as pbx, emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        text = bob_opted_in_yaml(handle, tmp_path, pbx.port)
        config = load_config_text(text, "<own>", environ={})
        await teams_dnd_sets_pbx_dnd(config, clock, emu, pbx)
        pbx.undeletable.add("DND/1002")  # "could not be deleted": an answer that also means "gone"
        (tmp_path / "bridge.yaml").write_text(text)
        code, out, err = await cli("release", "-c", str(tmp_path / "bridge.yaml"))
        assert code == 1, out + err
        assert "pbx pbx: 1 value(s) still set: 1002 dnd (DND/1002=YES)" in out
        assert pbx.dnd("1002") == ("YES", "UNAVAILABLE")
        with StateStore(tmp_path / "state.db") as store:
            assert any(o.what == "dnd" for o in store.load_owned())  # kept: the next release retries


async def test_a_dnd_of_ours_the_person_takes_over_is_theirs_and_release_leaves_it(tmp_path: Path) -> None:
    clock = new_clock()
    async with serving(FreePbx()) as pbx, emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        text = bob_opted_in_yaml(handle, tmp_path, pbx.port)
        config = load_config_text(text, "<own>", environ={})
        async with running_service(config, clock) as service:
            watcher = service.watchers["demo"]
            await settled(clock, lambda: watcher.shown(BOB) is not None)
            emu.state.set_preferred(BOB, "DoNotDisturb", "DoNotDisturb", None, clock.now())
            await poll(clock, watcher)
            await poll(clock, watcher)
            await settled(clock, lambda: pbx.dnd("1002") == DND_ON)
            await press_dnd(pbx, "1002", on=False)  # Bob presses *76 ...
            await press_dnd(pbx, "1002", on=True)  # ... and *78: his own DND now
            await settled(clock, lambda: not any(o.what == "dnd" for o in service.store.load_owned()))
            assert dnd_owned(service) == 0
        (tmp_path / "bridge.yaml").write_text(text)
        code, out, err = await cli("release", "-c", str(tmp_path / "bridge.yaml"))
        assert code == 0, out + err
        assert pbx.dnd("1002") == DND_ON  # his, untouched
        assert "pbx pbx: 1 value(s) of ours cleared (read back clear)" in out  # TEAMS/1002 only
