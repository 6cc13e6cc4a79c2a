"""Per-person flap coalescing: a flapping phone costs two writes, a quiet person's change goes at once."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bridge.config_model import TenantConfig
from bridge.presence import CLEAR, IN_A_CALL, PRESENTING, TeamsIntent

from .helpers import CLIENT_ID
from .rig import started

BUSY = TeamsIntent(session=IN_A_CALL, reason="in_call")
DND = TeamsIntent(session=PRESENTING, reason="dnd")
TENANT_GUID = "8a3b2c1d-0000-4000-8000-000000000001"


async def test_a_quiet_persons_change_and_a_quick_on_off_are_written_at_once() -> None:
    async with started() as rig:
        rig.pub.desire("alice", DND, "dnd on")
        await rig.clock.settle()  # no simulated time passes
        rig.pub.desire("alice", CLEAR, "dnd off")
        await rig.clock.settle()
        assert rig.fake.writes("alice") == ["setPresence", "clearPresence"]
        assert rig.fake.session("alice", CLIENT_ID) is None


@pytest.mark.parametrize(("first", "second"), [(DND, CLEAR), (BUSY, CLEAR), (BUSY, DND)])
async def test_a_burst_of_100_flaps_in_one_second_costs_two_writes_and_lands_the_last_state(
    first: TeamsIntent, second: TeamsIntent
) -> None:
    async with started() as rig:
        for n in range(100):
            rig.pub.desire("bob", first if n % 2 == 0 else second, "flap")
            await rig.clock.advance(0.01)  # every write the bridge could send, it has sent
        await rig.settle(2)
        assert len(rig.fake.writes("bob")) == 2
        assert rig.fake.session("bob", CLIENT_ID) == second.session
        assert not rig.pub.view("bob").pending
        assert rig.pub.stats()["publisher_writes_held"] >= 1


async def test_a_burst_ending_on_a_state_it_had_left_costs_a_third_write_at_the_windows_end() -> None:
    async with started() as rig:
        for n in range(101):  # DND on, off, ..., on
            rig.pub.desire("bob", DND if n % 2 == 0 else CLEAR, "dnd flap")
            await rig.clock.advance(0.005)
        assert rig.fake.session("bob", CLIENT_ID) is None  # 0.505 s: the last change is held
        await rig.settle(2)
        assert rig.fake.writes("bob") == ["setPresence", "clearPresence", "setPresence"]
        assert rig.fake.session("bob", CLIENT_ID) == PRESENTING


async def test_changes_held_in_the_window_land_as_the_latest_at_its_end() -> None:
    async with started() as rig:
        rig.pub.desire("carol", BUSY, "answered")
        await rig.clock.advance(0.2)
        rig.pub.desire("carol", CLEAR, "hung up")  # the second write in the window: at once
        await rig.clock.advance(0.2)
        rig.pub.desire("carol", DND, "dnd on")  # the third: held
        await rig.clock.advance(0.1)
        rig.pub.desire("carol", BUSY, "answered again")  # latest wins
        await rig.clock.advance(0.45)  # 0.95 s since the first write
        assert rig.fake.session("carol", CLIENT_ID) is None
        view = rig.pub.view("carol")
        assert view.pending and view.staleness == pytest.approx(0.55)
        await rig.clock.advance(0.05)  # the first write leaves the window
        assert rig.fake.writes("carol") == ["setPresence", "clearPresence", "setPresence"]
        assert rig.fake.session("carol", CLIENT_ID) == IN_A_CALL
        assert not rig.pub.view("carol").pending


async def test_a_burst_that_ends_where_the_last_write_left_it_writes_nothing_more() -> None:
    async with started() as rig:
        rig.pub.desire("dave", BUSY, "answered")
        rig.pub.desire("dave", BUSY, "answered")
        await rig.clock.advance(0.1)
        rig.pub.desire("dave", CLEAR, "hung up")
        await rig.clock.advance(0.1)
        for intent in (DND, BUSY, DND, CLEAR):  # all held, and back to what the last write left
            rig.pub.desire("dave", intent, "flap")
            await rig.clock.advance(0.1)
        await rig.settle(3)
        assert rig.fake.writes("dave") == ["setPresence", "clearPresence"]
        assert not rig.pub.view("dave").pending


async def test_refreshes_neither_wait_nor_count() -> None:
    async with started() as rig:
        rig.pub.desire("erin", BUSY, "answered")
        await rig.clock.advance(0.5)
        rig.pub.desire("erin", CLEAR, "hung up")
        await rig.clock.advance(0.1)
        rig.pub.desire("erin", BUSY, "answered")  # third write inside the window: held ...
        await rig.clock.advance(0.5)  # ... until 1 s after the first one
        assert rig.fake.session("erin", CLIENT_ID) == IN_A_CALL
        await rig.clock.advance(240.0)  # its refresh goes out on time
        assert rig.pub.stats()["publisher_refreshes"] == 1
        rig.pub.desire("erin", CLEAR, "hung up")
        await rig.clock.settle()
        rig.pub.desire("erin", DND, "dnd on")  # two changes right after a refresh: both at once
        await rig.clock.settle()
        assert rig.fake.writes("erin")[-2:] == ["clearPresence", "setPresence"]
        assert rig.fake.session("erin", CLIENT_ID) == PRESENTING
        assert rig.fake.lapses == []


async def test_window_zero_writes_every_change() -> None:
    async with started(flap_window=0.0) as rig:
        for n in range(10):
            rig.pub.desire("frank", DND if n % 2 == 0 else CLEAR, "dnd flap")
            await rig.clock.advance(0.01)
        assert len(rig.fake.writes("frank")) == 10


def test_the_window_is_a_tenant_setting_with_a_one_second_default() -> None:
    tenant = TenantConfig(tenant_id=TENANT_GUID, client_id=CLIENT_ID, client_secret="s")  # type: ignore[arg-type]
    assert tenant.flap_window == 1.0
    assert TenantConfig(
        tenant_id=TENANT_GUID,
        client_id=CLIENT_ID,
        client_secret="s",  # type: ignore[arg-type]
        flap_window=0,
    ).flap_window == 0
    with pytest.raises(ValidationError, match="flap_window"):
        TenantConfig(tenant_id=TENANT_GUID, client_id=CLIENT_ID, client_secret="s", flap_window=-1)  # type: ignore[arg-type]
