"""Restart reconcile and release: nothing stale left behind, nothing re-set that is already right."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bridge.kit.clock import FakeClock
from bridge.presence import CLEAR, IN_A_CALL, PRESENTING, Pair, TeamsIntent
from bridge.runtime.store import PublishedRecord, StateStore
from bridge.teams.planner import RESTORE_GRACE

from .fake_graph import FakeGraph
from .helpers import CLIENT_ID
from .rig import TENANT, build, running

BUSY = TeamsIntent(session=IN_A_CALL, reason="in_call")
DND_PREF = TeamsIntent(
    session=PRESENTING, preferred=Pair("DoNotDisturb", "DoNotDisturb"), preferred_expiry=timedelta(hours=8)
)


async def alice_and_bob_in_calls_then_down(path: Path, down_for: float) -> tuple[FakeClock, FakeGraph, int]:
    """A bridge publishes two calls, stops, and stays down ``down_for`` seconds; returns the clock,
    Graph, and how many calls Graph had seen when it went down."""
    clock = FakeClock()
    fake = FakeGraph(clock)
    with StateStore(path) as store:
        async with running(build(clock, store, fake=fake)) as rig:
            rig.pub.desire("alice", BUSY, "answered")
            rig.pub.desire("bob", BUSY, "answered")
            await rig.settle()
    await clock.advance(down_for)
    return clock, fake, len(fake.calls)


async def test_restart_mid_call_keeps_the_call_and_clears_what_ended(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    # the bridge is down for a minute; bob hangs up meanwhile
    clock, fake, calls_before = await alice_and_bob_in_calls_then_down(path, 60)
    with StateStore(path) as store:
        rig = build(clock, store, fake=fake)
        rig.pub.desire("alice", BUSY, "restored: in_call")
        rig.pub.desire("bob", CLEAR, "restored: idle")
        async with running(rig):
            await rig.settle(10)
            assert [c[:2] for c in fake.calls[calls_before:]] == [("clearPresence", "bob")]
            assert fake.session("alice", CLIENT_ID) == IN_A_CALL
            await rig.clock.advance(3600)  # the call goes on: refreshed from the restored schedule
            assert fake.session("alice", CLIENT_ID) == IN_A_CALL
            assert fake.lapses == []


async def test_restart_clears_sessions_nobody_wants_any_more() -> None:
    clock = FakeClock()
    fake = FakeGraph(clock)
    fake.client_session("carol", IN_A_CALL, 600, sid=CLIENT_ID)  # ours, from before the restart
    with StateStore(":memory:") as store:
        store.save_published(
            PublishedRecord("carol", TENANT, IN_A_CALL, clock.now() + timedelta(minutes=10)), clock.now()
        )
        store.save_published(  # expired long ago: Graph dropped it already, nothing to do
            PublishedRecord("dan", TENANT, IN_A_CALL, clock.now() - timedelta(minutes=10)), clock.now()
        )
        async with running(build(clock, store, fake=fake)) as rig:
            await rig.settle(5)
            assert fake.session("carol", CLIENT_ID) is None
            assert fake.writes() == ["clearPresence"]
            assert store.load_published(TENANT) == {}


async def test_release_clears_everything_we_own() -> None:
    clock = FakeClock()
    fake = FakeGraph(clock)
    with StateStore(":memory:") as store:
        async with running(build(clock, store, fake=fake)) as rig:
            rig.pub.desire("erin", BUSY, "answered")
            rig.pub.desire("finn", DND_PREF, "dnd on")
            await rig.settle()
        # a fresh process (the `release` command) works from the store alone
        rig = build(clock, store, fake=fake)
        sent = (await rig.pub.release()).cleared
        assert sent == 3  # two sessions and one preferred presence
        for uid in ("erin", "finn"):
            assert fake.session(uid, CLIENT_ID) is None
            assert fake.users[uid].preferred is None
        assert store.load_published() == {}


async def test_release_leaves_a_preferred_the_user_replaced() -> None:
    clock = FakeClock()
    fake = FakeGraph(clock)
    with StateStore(":memory:") as store:
        async with running(build(clock, store, fake=fake)) as rig:
            rig.pub.desire("gus", DND_PREF, "dnd on")
            await rig.settle()
        fake.client_session("gus", Pair("Available", "Available"))
        fake.user_sets_preferred("gus", Pair("Away", "Away"))
        sent = (await build(clock, store, fake=fake).pub.release()).cleared
        assert sent == 1  # only our session
        assert fake.shown("gus") == Pair("Away", "Away")


async def test_a_restored_session_waits_for_the_resync_before_its_refresh(tmp_path: Path) -> None:
    """Set 10 minutes before the restart (5 left): refreshing it at once would waste a write on a
    session the adapter's snapshot is about to clear; it waits RESTORE_GRACE, then is refreshed."""
    path = tmp_path / "state.db"
    clock, fake, calls_before = await alice_and_bob_in_calls_then_down(path, 600)
    with StateStore(path) as store:
        rig = build(clock, store, fake=fake)
        rig.pub.desire("alice", BUSY, "restored: in_call")
        rig.pub.desire("bob", BUSY, "restored: in_call")
        async with running(rig):
            await rig.settle(RESTORE_GRACE - 10)
            assert fake.calls[calls_before:] == []  # nothing sent before the snapshot could arrive
            rig.pub.desire("bob", CLEAR, "snapshot: idle")  # the resync says bob hung up meanwhile
            await rig.settle(20)
            assert [c[:2] for c in fake.calls[calls_before:]] == [
                ("clearPresence", "bob"),
                ("setPresence", "alice"),
            ]
            await rig.clock.advance(3600)
            assert fake.session("alice", CLIENT_ID) == IN_A_CALL
            assert fake.lapses == []
