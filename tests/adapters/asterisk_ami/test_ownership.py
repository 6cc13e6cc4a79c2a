"""PBX DND of ours across a restart, and ``read_back``, against a FreePBX that remembers writes.

The fake PBX (``pbx_state.FreePbx``) answers with recorded Asterisk 22 frames whose values follow
the writes. What is asserted is what the PBX holds and what the adapter reports to the core.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.base import Health, OwnedWrite, OwnsWrites, RoutableState, WriteBack
from bridge.model import Toggle
from tests.adapters.asterisk_ami.harness import Run
from tests.adapters.asterisk_ami.pbx_state import AT_REST, FREEPBX_DEVICES, FreePbx, serving

BOB_DND_OURS = OwnedWrite(WriteBack("1002", pbx_dnd=True), held_for=60.0)


@pytest.fixture
async def bob_in_dnd() -> AsyncIterator[FreePbx]:
    """The PBX as a previous run left it: DND/1002=YES, Custom:DND1002 BUSY (our write)."""
    async with serving(
        FreePbx({**FREEPBX_DEVICES, "DND/1002": "YES"}, {**AT_REST, "Custom:DND1002": "BUSY"})
    ) as pbx:
        yield pbx


def _dnd_reports(run: Run) -> list[tuple[Toggle, bool]]:
    snap = run.snapshots[0]
    return [(c.dnd, c.echo) for c in snap.changes if c.endpoint.extension == "1002" and c.dnd is not None]


async def test_a_restored_dnd_of_ours_is_our_echo_in_the_first_resync_and_ours_to_release(
    bob_in_dnd: FreePbx,
) -> None:
    async with Run(bob_in_dnd, freepbx=True, freepbx_dnd_write=True) as run:
        assert isinstance(run.adapter, OwnsWrites)
        run.adapter.restore_owned([BOB_DND_OURS])
        await run.until_health(Health.CONNECTED)
        assert _dnd_reports(run) == [(Toggle.ON, True)]  # never the person's own DND
        assert run.adapter.counters["pbx_dnd_owned"] == 1
        await run.adapter.write_back(WriteBack("1002", pbx_dnd=False))  # Teams DND ended
        assert bob_in_dnd.dnd("1002") == (None, "UNAVAILABLE")
        assert bob_in_dnd.devices["Custom:DEVDND1102"] == "UNAVAILABLE"  # the hot-desk device too


async def test_without_restored_ownership_the_dnd_is_the_persons_and_left_alone(bob_in_dnd: FreePbx) -> None:
    async with Run(bob_in_dnd, freepbx=True, freepbx_dnd_write=True) as run:
        await run.until_health(Health.CONNECTED)
        assert _dnd_reports(run) == [(Toggle.ON, False)]
        await run.adapter.write_back(WriteBack("1002", pbx_dnd=False))
        assert bob_in_dnd.dnd("1002") == ("YES", "BUSY")


async def test_a_dnd_of_ours_switched_off_while_we_were_away_is_no_longer_ours() -> None:
    async with serving(FreePbx()) as pbx, Run(pbx, freepbx=True, freepbx_dnd_write=True) as run:
        run.adapter.restore_owned([BOB_DND_OURS])  # someone pressed *76 while the bridge was down
        await run.until_health(Health.CONNECTED)
        assert _dnd_reports(run) == [(Toggle.OFF, False)]
        assert run.adapter.counters["pbx_dnd_owned"] == 0


async def test_read_back_names_what_is_still_set_and_nothing_once_cleared(bob_in_dnd: FreePbx) -> None:
    teams = OwnedWrite(WriteBack("1002", routable=RoutableState.DND))
    async with Run(bob_in_dnd, freepbx=True, freepbx_dnd_write=True) as run:
        run.adapter.restore_owned([BOB_DND_OURS, teams])
        await run.until_health(Health.CONNECTED)
        await run.adapter.write_back(WriteBack("1002", routable=RoutableState.DND))
        assert await run.adapter.read_back([BOB_DND_OURS, teams]) == [
            "DND/1002=YES",
            "Custom:DND1002=BUSY",
            "TEAMS/1002=dnd",
            "Custom:TEAMS1002=BUSY",
        ]
        await run.adapter.write_back(WriteBack("1002", routable=RoutableState.NONE, pbx_dnd=False))
        assert await run.adapter.read_back([BOB_DND_OURS, teams]) == []
