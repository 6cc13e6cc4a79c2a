"""PBX away as the user's preferred Away (issue 16), end to end: CTI over real loopback HTTP ->
BridgeService -> msal + Graph over HTTPS -> the Graph emulator, on one fake clock; ``release`` as
the CLI runs it.

The demo's Alice has her Teams desktop signed in and Available. The mapping opts in with
``away_preferred: true, away_preferred_expiry: PT8H``. What is asserted is what Teams shows, the
writes Graph received, and what ``release`` leaves; expected values from the issue and README
(preferred presence beats every session; we clear only a preferred presence still ours).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from bridge.config import BridgeConfig, load_config_text
from bridge.demo import running_service
from bridge.emulator.app import Emulator
from bridge.emulator.server import EmulatorHandle
from bridge.kit.clock import FakeClock
from bridge.presence import AWAY, IN_A_CALL, PRESENTING, Pair
from bridge.runtime.service import BridgeService
from bridge.teams.publisher import Publisher
from tests.runtime.rig import ID, bridge_yaml, emulator, new_clock, send
from tests.runtime.support import cli, eventually, our_session, our_writes, until

ALICE = ID["Alice"]
AVAILABLE = Pair("Available", "Available")
BUSY = Pair("Busy", "Busy")
OPT_IN = "mapping: {away_preferred: true, away_preferred_expiry: PT8H}\n"
SET, CLEAR = "setUserPreferredPresence", "clearUserPreferredPresence"


def away_yaml(handle: EmulatorHandle, tmp: Path) -> str:
    return bridge_yaml(handle, tmp) + OPT_IN


def away_config(handle: EmulatorHandle, tmp: Path) -> BridgeConfig:
    return load_config_text(away_yaml(handle, tmp), "<away>", environ={})


def preferred(emu: Emulator, clock: FakeClock) -> dict[str, str] | None:
    return emu.state.describe(ALICE, clock.now())["preferred"]  # type: ignore[return-value]


async def settled(publisher: Publisher) -> None:
    """Until the publisher has nothing left to do for Alice (its read-before-clear included)."""
    await eventually(
        lambda: not publisher.view(ALICE).pending and publisher.stats()["publisher_in_flight"] == 0
    )


async def away_on(service: BridgeService, emu: Emulator) -> None:
    """The PBX reports Alice away; until Teams shows our preferred Away and Graph confirmed it."""
    await send(service.adapters["pbx"], "1001", line="idle", away=True)
    await until(emu, lambda: emu.presence_of(ALICE) == AWAY)
    await settled(service.tenants["demo"].publisher)


async def test_away_shows_over_the_available_desktop_and_off_gives_the_desktop_back(tmp_path: Path) -> None:
    clock = new_clock()
    async with emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        async with running_service(away_config(handle, tmp_path), clock) as service:
            assert emu.presence_of(ALICE) == AVAILABLE  # her desktop
            await send(service.adapters["pbx"], "1001", line="idle", away=True)
            await until(emu, lambda: emu.presence_of(ALICE) == AWAY)
            shown = preferred(emu, clock)
            assert shown is not None and shown["availability"] == "Away"
            expires = clock.now() + timedelta(hours=8)
            assert (
                abs(expires.timestamp() - datetime.fromisoformat(shown["expiresAt"]).timestamp()) < 5
            )  # the configured expiry
            await send(service.adapters["pbx"], "1001", away=False)
            await until(emu, lambda: emu.presence_of(ALICE) == AVAILABLE)
            await settled(service.tenants["demo"].publisher)
        assert our_writes(emu, ALICE) == [SET, CLEAR]  # exactly two writes per away on/off
        assert preferred(emu, clock) is None


async def test_a_call_during_away_is_busy_on_our_session_while_teams_keeps_away(tmp_path: Path) -> None:
    clock = new_clock()
    async with emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        config = away_config(handle, tmp_path)
        client_id = config.tenants["demo"].client_id
        async with running_service(config, clock) as service:
            adapter = service.adapters["pbx"]
            await send(adapter, "1001", line="idle", away=True)
            await until(emu, lambda: emu.presence_of(ALICE) == AWAY)
            await send(adapter, "1001", line="in_call")
            await until(emu, lambda: our_session(emu, ALICE, client_id, clock.now()) is not None)
            session = our_session(emu, ALICE, client_id, clock.now())
            assert session is not None and (session["availability"], session["activity"]) == tuple(IN_A_CALL)
            assert emu.presence_of(ALICE) == AWAY  # the preferred state wins in Teams
            await send(adapter, "1001", line="idle")
            await clock.advance(3.5)  # the idle hold
            await until(emu, lambda: our_session(emu, ALICE, client_id, clock.now()) is None)
            assert emu.presence_of(ALICE) == AWAY
            await send(adapter, "1001", away=False)
            await until(emu, lambda: emu.presence_of(ALICE) == AVAILABLE)
            await settled(service.tenants["demo"].publisher)
        assert our_writes(emu, ALICE) == [SET, "setPresence", "clearPresence", CLEAR]


async def test_a_status_the_user_chose_during_our_away_survives_away_off(tmp_path: Path) -> None:
    clock = new_clock()
    async with emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        async with running_service(away_config(handle, tmp_path), clock) as service:
            publisher = service.tenants["demo"].publisher
            await away_on(service, emu)
            emu.state.set_preferred(ALICE, "Busy", "Busy", None, clock.now())  # Alice picks Busy by hand
            await send(service.adapters["pbx"], "1001", away=False)
            await eventually(lambda: publisher.stats()["publisher_preferred_left_to_user"] == 1)
            await settled(publisher)
            assert emu.presence_of(ALICE) == BUSY
        assert our_writes(emu, ALICE) == [SET]  # never cleared: hers now
        assert preferred(emu, clock) is not None


async def test_release_clears_our_preferred_away(tmp_path: Path) -> None:
    clock = new_clock()
    async with emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        async with running_service(away_config(handle, tmp_path), clock) as service:
            await away_on(service, emu)
        (tmp_path / "bridge.yaml").write_text(away_yaml(handle, tmp_path))
        code, out, err = await cli("release", "-c", str(tmp_path / "bridge.yaml"))
        assert code == 0, out + err
        assert emu.presence_of(ALICE) == AVAILABLE
        assert preferred(emu, clock) is None
        assert our_writes(emu, ALICE) == [SET, CLEAR]


async def test_a_restart_during_away_keeps_it_ours(tmp_path: Path) -> None:
    clock = new_clock()
    async with emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        config = away_config(handle, tmp_path)
        async with running_service(config, clock) as service:
            await away_on(service, emu)
        await clock.advance(60)
        async with running_service(config, clock) as service:
            publisher = service.tenants["demo"].publisher
            for _ in range(10):
                await clock.advance(0.5)
            await settled(publisher)
            assert emu.presence_of(ALICE) == AWAY  # still ours, neither cleared nor set again
            assert publisher.view(ALICE).sent_preferred == AWAY
            await send(service.adapters["pbx"], "1001", away=False)
            await until(emu, lambda: emu.presence_of(ALICE) == AVAILABLE)
            await settled(publisher)
        assert our_writes(emu, ALICE) == [SET, CLEAR]


async def test_away_off_while_signed_out_of_teams_still_clears_our_away(tmp_path: Path) -> None:
    """With no Teams client signed in, Graph shows Offline/Offline whatever preferred presence is
    set; ours must not stay underneath and show Away when Alice signs in again."""
    clock = new_clock()
    async with emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        async with running_service(away_config(handle, tmp_path), clock) as service:
            await away_on(service, emu)
            emu.state.clear_session(ALICE, "teams-desktop", clock.now())  # she signs out of Teams
            assert emu.presence_of(ALICE) == Pair("Offline", "Offline")
            await send(service.adapters["pbx"], "1001", away=False)
            await until(emu, lambda: preferred(emu, clock) is None)
            await settled(service.tenants["demo"].publisher)
        assert our_writes(emu, ALICE) == [SET, CLEAR]
        emu.state.set_session(ALICE, "teams-desktop", AVAILABLE, clock.now(), expires_in=None, fades=False)
        assert emu.presence_of(ALICE) == AVAILABLE  # signed in again: her own status, not our Away


async def test_pbx_dnd_during_away_shows_dnd_and_away_comes_back_after_it(tmp_path: Path) -> None:
    """DND beats away: our preferred Away is given back (read first) while DND shows, then set again."""
    clock = new_clock()
    async with emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        async with running_service(away_config(handle, tmp_path), clock) as service:
            adapter = service.adapters["pbx"]
            await send(adapter, "1001", line="idle", away=True)
            await until(emu, lambda: emu.presence_of(ALICE) == AWAY)
            await clock.advance(1.5)  # past the flap window: each step below is its own change
            await send(adapter, "1001", dnd=True)
            await until(emu, lambda: emu.presence_of(ALICE) == PRESENTING)
            await clock.advance(1.5)
            await send(adapter, "1001", dnd=False)
            await until(emu, lambda: emu.presence_of(ALICE) == AWAY)
            await clock.advance(1.5)
            await send(adapter, "1001", away=False)
            await until(emu, lambda: emu.presence_of(ALICE) == AVAILABLE)
            await settled(service.tenants["demo"].publisher)
        assert our_writes(emu, ALICE) == [SET, CLEAR, "setPresence", "clearPresence", SET, CLEAR]
