"""The publisher against the in-repo Graph emulator in-process (httpx.ASGITransport), one fake clock."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import httpx

from adapters.base import Health
from bridge.emulator.app import Emulator, create_app
from bridge.emulator.config import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    ROLE_READ,
    AppRegistration,
    EmulatorConfig,
    UserRecord,
)
from bridge.emulator.faults import Fault, FaultKind
from bridge.kit.clock import FakeClock
from bridge.presence import (
    AWAY,
    CLEAR,
    IN_A_CALL,
    IN_A_CONFERENCE_CALL,
    OFFLINE,
    PRESENTING,
    Pair,
    TeamsIntent,
)
from bridge.runtime.store import StateStore
from bridge.teams.release import Released

from .helpers import EmulatorTokenProvider
from .rig import Rig, build, running

BUSY = TeamsIntent(session=IN_A_CALL, reason="in_call")
DND = TeamsIntent(session=PRESENTING, reason="dnd")
DND_PREF = TeamsIntent(
    session=PRESENTING, preferred=Pair("DoNotDisturb", "DoNotDisturb"), preferred_expiry=timedelta(hours=8)
)
BASE = "http://emulator.test"


def users(n: int) -> tuple[UserRecord, ...]:
    return tuple(UserRecord(f"user-{i:04d}", f"user{i}@contoso.test", f"User {i}") for i in range(n))


@dataclass
class World:
    clock: FakeClock
    emu: Emulator
    rig: Rig

    def ours(self, uid: str) -> Pair | None:
        session = self.emu.state.describe(uid, self.clock.now())["sessions"].get(DEFAULT_CLIENT_ID)  # type: ignore[union-attr]
        return None if session is None else Pair(session["availability"], session["activity"])

    def writes(self, uid: str) -> list[str]:
        return [
            e["path"].rsplit("/", 1)[-1]
            for e in self.emu.journal.entries()
            if f"/users/{uid}/" in e["path"] and e["method"] == "POST"
        ]

    def teams_client(self, uid: str, pair: Pair) -> None:
        self.emu.state.set_session(uid, "teams-desktop", pair, self.clock.now(), expires_in=None, fades=False)


@contextlib.asynccontextmanager
async def world(
    n_users: int = 20, *, config: EmulatorConfig | None = None, store: StateStore | None = None
) -> AsyncIterator[World]:
    clock = FakeClock()
    config = config or EmulatorConfig(users=users(n_users))
    async with Emulator(config, clock) as emu:
        transport = httpx.ASGITransport(app=create_app(emu))
        http = httpx.AsyncClient(transport=transport, base_url=BASE)
        tokens = EmulatorTokenProvider(
            http, f"{BASE}/{config.tenant_id}/oauth2/v2.0/token", DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
        )
        with contextlib.ExitStack() as stack:
            store = store or stack.enter_context(StateStore(":memory:"))
            rig = build(clock, store, transport=transport, tokens=tokens, base_url=f"{BASE}/v1.0")
            yield World(clock, emu, rig)
        await http.aclose()


@contextlib.asynccontextmanager
async def live(n_users: int = 20, *, config: EmulatorConfig | None = None) -> AsyncIterator[World]:
    """The emulator with a running publisher."""
    async with world(n_users, config=config) as w, running(w.rig):
        yield w


async def test_call_costs_two_writes_and_teams_shows_the_users_own_state_after() -> None:
    async with live() as w:
        w.teams_client("user-0001", AWAY)
        w.rig.pub.desire("user-0001", CLEAR, "ringing")
        await w.rig.settle()
        w.rig.pub.desire("user-0001", BUSY, "answered")
        await w.rig.settle()
        assert w.emu.presence_of("user-0001") == IN_A_CALL
        w.rig.pub.desire("user-0001", BUSY, "held")
        w.rig.pub.desire("user-0001", BUSY, "resumed")
        await w.rig.settle()
        w.rig.pub.desire("user-0001", CLEAR, "hung up")
        await w.rig.settle()
        assert w.writes("user-0001") == ["setPresence", "clearPresence"]
        assert w.emu.presence_of("user-0001") == AWAY
        assert w.rig.pub.view("user-0001").last_request_id  # Graph's request-id recorded


async def test_three_hour_call_never_lapses_in_the_emulator() -> None:
    async with live() as w:
        w.rig.pub.desire("user-0002", BUSY, "answered")
        for _ in range(180):
            await w.clock.advance(60)
            assert w.emu.presence_of("user-0002") == IN_A_CALL
            assert w.ours("user-0002") == IN_A_CALL


async def test_killed_bridge_leaves_busy_no_longer_than_the_session_expiry() -> None:
    async with world() as w:
        async with running(w.rig):
            w.rig.pub.desire("user-0001", BUSY, "answered")
            await w.rig.settle()
            assert w.emu.presence_of("user-0001") == IN_A_CALL
        # killed mid-call: nothing cleared, nothing refreshed any more
        await w.emu.advance(15 * 60 - 2)
        assert w.emu.presence_of("user-0001") == IN_A_CALL
        await w.emu.advance(2)
        assert w.emu.presence_of("user-0001") == OFFLINE


async def test_throttling_outage_and_dropped_connection_are_survived() -> None:
    async with live() as w:
        w.emu.faults.inject(Fault(FaultKind.THROTTLE, retry_after=1.25))
        w.emu.faults.inject(Fault(FaultKind.UNAVAILABLE))
        w.emu.faults.inject(Fault(FaultKind.DROP))
        w.rig.pub.desire("user-0003", BUSY, "answered")
        await w.rig.settle(30)
        assert w.emu.presence_of("user-0003") == IN_A_CALL
        assert w.rig.pub.health is Health.CONNECTED
        w.rig.pub.desire("user-0003", CLEAR, "hung up")
        await w.rig.settle()
        assert w.ours("user-0003") is None


async def test_missing_write_permission_is_bad_credentials() -> None:
    app = AppRegistration(DEFAULT_CLIENT_ID, secret=DEFAULT_CLIENT_SECRET, roles=frozenset({ROLE_READ}))
    async with live(config=EmulatorConfig(apps=(app,), users=users(3))) as w:
        w.rig.pub.desire("user-0001", BUSY, "answered")
        await w.rig.settle(120, step=5)
        assert w.rig.pub.health is Health.BAD_CREDENTIALS
        # no retry loop: the pauses grow from [30, 60] s and double (planner.AUTH_BACKOFF), so
        # 120 s hold the first write and one or two retries
        assert 2 <= len(w.writes("user-0001")) <= 3


async def test_dnd_falls_back_when_graph_refuses_presenting() -> None:
    async with live(config=EmulatorConfig(users=users(3), presenting_supported=False)) as w:
        w.rig.pub.desire("user-0001", DND, "dnd on")
        await w.rig.settle()
        assert w.emu.presence_of("user-0001") == IN_A_CALL
        assert w.rig.pub.presenting_supported is False
        assert "dnd_presenting_unsupported" in w.rig.pub.alarms


async def test_release_leaves_nothing_of_ours() -> None:
    async with world() as w:
        w.teams_client("user-0002", AWAY)
        async with running(w.rig):
            w.rig.pub.desire("user-0001", BUSY, "answered")
            w.rig.pub.desire("user-0002", DND_PREF, "dnd on")
            await w.rig.settle()
            assert w.emu.presence_of("user-0002") == Pair("DoNotDisturb", "DoNotDisturb")
        sent = (await w.rig.pub.release()).cleared  # after run() stopped, as `presence-bridge release` does
        assert sent == 3
        assert w.ours("user-0001") is None and w.ours("user-0002") is None
        assert w.emu.presence_of("user-0002") == AWAY
        assert w.rig.store.load_published() == {}


async def test_overload_against_the_emulator_limit_converges_without_429() -> None:
    rng = random.Random(11)
    intents = (BUSY, TeamsIntent(session=IN_A_CONFERENCE_CALL, reason="conference"), CLEAR)
    async with live(2000) as w:
        final: dict[str, TeamsIntent] = {}
        for second in range(30):
            for _ in range(100):
                uid = f"user-{rng.randrange(2000):04d}"
                final[uid] = rng.choice(intents)
                w.rig.pub.desire(uid, final[uid], f"change at {second}s")
            await w.clock.advance(1)
        for _ in range(20 * 12):  # twenty more minutes
            await w.clock.advance(5)
        assert w.emu.limiter.counters["throttled"] == 0
        assert [u for u, i in final.items() if w.ours(u) != i.session] == []
        shown_ok = {u: w.emu.presence_of(u) == (i.session or OFFLINE) for u, i in final.items()}
        assert all(shown_ok.values())


async def release_on_the_clock(w: World, retry_for: float) -> Released:
    """Run ``release`` as the command does, advancing the fake clock under its retries."""
    task = asyncio.create_task(w.rig.pub.release(retry_for=retry_for))
    while not task.done():
        await w.clock.advance(0.5)
    return task.result()


async def test_release_retries_people_graph_refused_until_cleared() -> None:
    async with world() as w:
        async with running(w.rig):
            w.rig.pub.desire("user-0001", BUSY, "answered")
            w.rig.pub.desire("user-0002", BUSY, "answered")
            await w.rig.settle()
        w.emu.faults.inject(Fault(FaultKind.UNAVAILABLE, retry_after=0), count=5)  # one clear exhausted
        released = await release_on_the_clock(w, retry_for=60)
        assert released == Released(2, {})
        assert w.ours("user-0001") is None and w.ours("user-0002") is None
        assert w.rig.store.load_published() == {}


async def test_release_against_a_graph_that_keeps_failing_says_what_is_still_set() -> None:
    async with world() as w:
        async with running(w.rig):
            w.rig.pub.desire("user-0001", BUSY, "answered")
            w.rig.pub.desire("user-0002", DND_PREF, "dnd on")
            await w.rig.settle()
        w.emu.faults.inject(Fault(FaultKind.UNAVAILABLE, retry_after=0), count=10_000)
        started = w.clock.monotonic()
        released = await release_on_the_clock(w, retry_for=30)
        assert w.clock.monotonic() - started <= 30 + 1  # bounded
        assert released.cleared == 0
        assert released.still_set == {
            "user-0001": "session Busy/InACall",
            "user-0002": "session DoNotDisturb/Presenting, preferred DoNotDisturb/DoNotDisturb",
        }
        assert w.ours("user-0001") == IN_A_CALL  # and the store still knows it is ours
        assert set(w.rig.store.load_published()) == {"user-0001", "user-0002"}
