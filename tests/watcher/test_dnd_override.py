"""README "No loops": "pressing *79 during a Teams DND keeps PBX DND off until the next Teams
change", whoever switched that PBX DND on (us, or the person with *78), and across a restart:
the stored records alone (a Teams DND recorded, no PBX DND of ours) say the person overrode us."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from adapters.base import RoutableState
from bridge.config_model import EndpointConfig, PersonConfig
from bridge.model import EndpointKey, EndpointRole
from bridge.runtime.pbx_owned import PBX_DND, ROUTABLE, restored_states
from bridge.runtime.store import OwnedValue, StateStore
from bridge.writeback import WatchState, pbx_dnd_event
from tests.watcher.test_rules import step

R = RoutableState
DND = "DoNotDisturb/DoNotDisturb"


def test_own_dnd_switched_off_during_a_teams_dnd_stays_off_until_teams_changes() -> None:
    state, _ = step(WatchState(), DND, opted=True)
    state = pbx_dnd_event(state, on=True, by_us=False)  # *78: the person's own
    state, intents = step(state, DND, opted=True, now=110)
    assert [(i.routable, i.pbx_dnd) for i in intents] == [(R.DND, None)]  # theirs: not taken over
    state = pbx_dnd_event(state, on=False, by_us=False)  # *79 during the Teams DND
    state, intents = step(state, DND, opted=True, now=120)
    assert intents == []  # before the fix: we switched PBX DND on again at once
    state, intents = step(state, "Available/Available", opted=True, now=130)
    state, _ = step(state, DND, opted=True, now=140)
    _, intents = step(state, DND, opted=True, now=150)
    assert [(i.routable, i.pbx_dnd) for i in intents] == [(R.DND, True)]  # the next Teams DND: ours


BOB = PersonConfig(
    id="22222222-2222-2222-2222-222222222222",
    tenant="contoso",
    pbx_dnd_from_teams=True,
    endpoints=(EndpointConfig(adapter="pbx", extension="1002"),),
)


def route(key: EndpointKey) -> tuple[PersonConfig, EndpointRole] | None:
    return (BOB, EndpointRole.PERSONAL) if key == EndpointKey("pbx", "1002") else None


def restored(tmp_path: Path, *values: OwnedValue) -> WatchState:
    """What a restarted bridge starts Bob from, given these ownership records."""
    with StateStore(tmp_path / "state.db") as store:
        for value in values:
            store.save_owned(value)
        return restored_states(store, route, 0.0, datetime(2026, 12, 7, tzinfo=UTC))[BOB.key]


def test_a_teams_dnd_recorded_without_our_pbx_dnd_restores_the_override(tmp_path: Path) -> None:
    state = restored(tmp_path, OwnedValue("pbx", "1002", ROUTABLE, "dnd"))
    _, intents = step(state, DND, opted=True)
    assert intents == []  # before the fix: PBX DND set again after the restart


def test_our_pbx_dnd_recorded_is_ours_again_after_a_restart(tmp_path: Path) -> None:
    state = restored(
        tmp_path, OwnedValue("pbx", "1002", ROUTABLE, "dnd"), OwnedValue("pbx", "1002", PBX_DND, "on")
    )
    assert state.pbx_dnd_ours and not state.suppressed
    _, intents = step(state, "Available/Available", opted=True)
    assert [(i.routable, i.pbx_dnd) for i in intents] == [(R.NONE, False)]
