"""Overload and cold start, ours beside the naive baseline: correctness results only, never timings."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from benchmarks import cold_start, overload
from benchmarks.fidelity import DESKTOP_SESSION, Fidelity, give_desktops, should_show, wrong_now
from benchmarks.graph_log import Staleness, percentile
from benchmarks.results import Result
from bridge.emulator.config import DEFAULT_CLIENT_ID, UserRecord
from bridge.emulator.state import PresenceState
from bridge.kit.clock import FakeClock
from bridge.presence import AVAILABLE, AWAY, IN_A_CALL, OFFLINE, PRESENTING, Pair
from bridge.runtime.store import StateStore


def metrics(results: list[Result]) -> dict[str, Result]:
    return {r.metric: r for r in results}


@pytest.fixture(scope="module")
def overload_results() -> dict[str, Result]:
    return metrics(overload.run(quick=True))


def test_ours_under_2x_overload_is_never_throttled_and_ends_in_step(
    overload_results: dict[str, Result],
) -> None:
    r = overload_results
    assert r["throttled_429"].value == 0
    assert r["session_lapses"].value == 0
    assert r["wrong_final_states"].value == 0
    assert r["fidelity_available_over_away_pct"].value == 0
    assert all(r[m].passed for m in r)


def test_staleness_is_reported_per_change(overload_results: dict[str, Result]) -> None:
    r = overload_results
    assert 0 <= r["staleness_p50_s"].value <= r["staleness_p99_s"].value <= r["max_staleness_s"].value
    assert r["max_staleness_s"].value > 0


def test_naive_under_the_same_load_is_throttled_and_hides_away_desktops(
    overload_results: dict[str, Result],
) -> None:
    r = overload_results
    offered = overload.CHANGES_PER_WINDOW * 60 / overload.WINDOW  # quick mode: 60 s of load
    assert r["naive_graph_writes"].value == offered  # one write per event
    assert r["naive_throttled_429"].value > 0
    assert r["naive_fidelity_available_over_away_pct"].value > 0
    assert r["naive_wrong_final_states"].value > 0
    assert all(m.bar is None for name, m in r.items() if name.startswith("naive_"))


def _state() -> tuple[PresenceState, FakeClock]:
    users = [UserRecord(f"u{n}", f"u{n}@x.example") for n in range(3)]
    return PresenceState(users), FakeClock()


def test_fidelity_reads_what_the_emulator_shows() -> None:
    state, clock = _state()
    desktops = give_desktops(state, ["u0", "u1", "u2"], clock, random.Random(1), {AWAY: 1.0})
    # u0: an Available session of an app (the naive hang-up) over an Away desktop
    state.set_presence("u0", DEFAULT_CLIENT_ID, "Available", "Available", "PT1H", clock.now())
    # u1: in a call, and the mapping wants it
    state.set_presence("u1", DEFAULT_CLIENT_ID, "Busy", "InACall", "PT15M", clock.now())
    fidelity = Fidelity()
    fidelity.sample(state, clock, desktops, {"u0": None, "u1": IN_A_CALL, "u2": None})
    assert (fidelity.samples, fidelity.available_over_away, fidelity.off_mapping) == (3, 1, 1)
    assert wrong_now(state, clock, desktops, {"u0": None, "u1": IN_A_CALL, "u2": None}) == 1
    assert state.describe("u2", clock.now())["sessions"][DESKTOP_SESSION]["availability"] == "Away"


@pytest.mark.parametrize(
    ("desktop", "wanted", "shown"),
    [
        (None, None, OFFLINE),
        (AWAY, None, AWAY),
        (AWAY, IN_A_CALL, IN_A_CALL),
        (AVAILABLE, PRESENTING, PRESENTING),
        (Pair("DoNotDisturb", "DoNotDisturb"), IN_A_CALL, Pair("DoNotDisturb", "DoNotDisturb")),
    ],
)
def test_what_teams_should_show_is_the_emulators_aggregate(
    desktop: Pair | None, wanted: Pair | None, shown: Pair
) -> None:
    assert should_show(desktop, wanted) == shown
    state, clock = _state()
    if desktop is not None:
        state.set_session("u0", DESKTOP_SESSION, desktop, clock.now(), expires_in=None, fades=False)
    if wanted is not None:
        state.set_session("u0", DEFAULT_CLIENT_ID, wanted, clock.now(), expires_in=None, fades=False)
    assert state.presence("u0", clock.now()).pair == shown


def test_a_change_waits_until_held_or_until_superseded() -> None:
    stale = Staleness()
    stale.desired("a", 0.0, IN_A_CALL)
    stale.written(4.0, "a", IN_A_CALL)  # held after 4 s
    stale.desired("b", 0.0, IN_A_CALL)
    stale.desired("b", 2.0, None)  # superseded after 2 s; nothing of ours there: held at once
    stale.desired("c", 1.0, PRESENTING)
    assert sorted(stale.waits(until=10.0)) == [0.0, 2.0, 4.0, 9.0]
    assert percentile([1.0, 2.0, 3.0], 50) == 2.0


def test_lapse_detection_counts_a_session_left_past_its_expiry() -> None:
    log = overload.RequestLog(inner=None, clock=None)  # type: ignore[arg-type]
    log.entries = [
        (0.0, "kept", "setPresence", 200),
        (240.0, "kept", "setPresence", 200),
        (0.0, "lapsed", "setPresence", 200),
        (1000.0, "lapsed", "setPresence", 200),
        (0.0, "cleared", "setPresence", 200),
        (10.0, "cleared", "clearPresence", 200),
    ]
    assert log.lapses(expiry=900.0, until=300.0) == 1


@pytest.fixture(scope="module")
def cold_start_results() -> dict[str, Result]:
    return metrics(cold_start.run(quick=True))


def test_ours_cold_start_converges_without_429_or_wrong_state(cold_start_results: dict[str, Result]) -> None:
    r = cold_start_results
    assert r["throttled_429"].value == 0
    assert r["wrong_states"].value == 0
    assert r["session_lapses"].value == 0
    assert r["available_over_away"].value == 0
    assert 0 < r["converge_s"].value < cold_start.MAX_SECONDS
    assert r["graph_requests"].extra["setPresence"] > 0 and r["graph_requests"].extra["clearPresence"] > 0


def test_naive_cold_start_writes_every_entry_and_shows_available_over_away(
    cold_start_results: dict[str, Result],
) -> None:
    r = cold_start_results
    assert r["naive_graph_requests"].value > r["graph_requests"].value  # one write per snapshot entry
    assert r["naive_available_over_away"].value > 0
    assert r["naive_wrong_states"].value > 0


def test_the_restart_finds_stale_sessions_and_their_ownership_rows(tmp_path: Path) -> None:
    clock = FakeClock()
    w = cold_start.world(200, clock, tmp_path)
    assert w.stale and len(w.snapshot.changes) >= len(w.population)
    state = PresenceState([UserRecord(p.object_id, f"{p.extension}@x.example") for p in w.population])
    cold_start.prepare_teams(state, clock, w)
    user, (pair, _left) = next(iter(w.stale.items()))
    assert (
        state.describe(user, clock.now())["sessions"][DEFAULT_CLIENT_ID]["availability"] == pair.availability
    )
    with StateStore(tmp_path / "state.db") as store:
        cold_start.prepare_store(store, clock, w)
        owned = store.load_published()
        assert set(owned) == set(w.stale)
        assert owned[user].session == pair
        assert len(store.load_endpoints()) == len(w.snapshot.changes)
