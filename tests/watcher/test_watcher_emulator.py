"""The watcher against the in-process Graph emulator (httpx.ASGITransport), one fake clock.

Teams is played through the emulator's state (client sessions, as the admin API does); a recording
``apply`` stands in for the adapters.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
import pytest

from adapters.base import RoutableState, WriteBack
from bridge.emulator.app import Emulator, create_app
from bridge.emulator.config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, EmulatorConfig, UserRecord
from bridge.emulator.faults import Fault, FaultKind
from bridge.errors import AdapterError
from bridge.kit.clock import FakeClock
from bridge.presence import AVAILABLE, IN_A_CALL, PRESENTING, Pair
from bridge.teams.budget import Budget, Kind
from bridge.teams.graph import GraphClient
from bridge.teams.watcher import AdapterCommand, Endpoint, WatchedPerson, Watcher
from tests.teams.helpers import EmulatorTokenProvider

BASE = "http://emulator.test"
R = RoutableState
IN_A_MEETING = Pair("Busy", "InAMeeting")
DND = Pair("DoNotDisturb", "DoNotDisturb")
ALICE = "user-0000"  # opted in to PBX DND
BOB = "user-0001"


def users(n: int) -> tuple[UserRecord, ...]:
    return tuple(UserRecord(f"user-{i:04d}", f"user{i}@contoso.test", f"User {i}") for i in range(n))


def person(uid: str, ext: str, opted: bool = False) -> WatchedPerson:
    return WatchedPerson(uid, f"key-{uid}", (Endpoint("pbx", ext, "from-internal"),), opted)


@dataclass
class World:
    clock: FakeClock
    emu: Emulator
    graph: GraphClient
    budget: Budget
    applied: list[tuple[str, list[AdapterCommand]]] = field(default_factory=list)
    fail_apply: bool = False

    def teams(self, uid: str, pair: Pair) -> None:
        self.emu.state.set_session(uid, "teams-desktop", pair, self.clock.now(), expires_in=None, fades=False)

    def our_session(self, uid: str, pair: Pair | None) -> None:
        if pair is None:
            self.emu.state.clear_session(uid, DEFAULT_CLIENT_ID, self.clock.now())
        else:
            self.emu.state.set_session(
                uid, DEFAULT_CLIENT_ID, pair, self.clock.now(), expires_in=timedelta(minutes=15), fades=False
            )

    def ours(self, uid: str) -> Pair | None:
        sessions = self.emu.state.describe(uid, self.clock.now())["sessions"]
        session = sessions.get(DEFAULT_CLIENT_ID)  # type: ignore[union-attr]
        return None if session is None else Pair(session["availability"], session["activity"])

    async def apply(self, key: str, commands: list[AdapterCommand]) -> None:
        if self.fail_apply:
            raise AdapterError("AMI not connected")
        self.applied.append((key, commands))

    def watcher(self, people: list[WatchedPerson], **kw: object) -> Watcher:
        return Watcher(
            tenant="contoso",
            graph=self.graph,
            budget=self.budget,
            clock=self.clock,
            people=people,
            ours=self.ours,
            apply=self.apply,
            **kw,  # type: ignore[arg-type]
        )

    def take(self) -> list[tuple[str, list[WriteBack]]]:
        out = [(key, [c.command for c in cmds]) for key, cmds in self.applied]
        self.applied.clear()
        return out

    def journal_reads(self) -> int:
        return sum(1 for e in self.emu.journal.entries() if e["path"].endswith("getPresencesByUserId"))


@contextlib.asynccontextmanager
async def world(n_users: int = 4) -> AsyncIterator[World]:
    clock = FakeClock()
    config = EmulatorConfig(users=users(n_users))
    async with Emulator(config, clock) as emu:
        transport = httpx.ASGITransport(app=create_app(emu))
        http = httpx.AsyncClient(transport=transport, base_url=BASE)
        tokens = EmulatorTokenProvider(
            http, f"{BASE}/{config.tenant_id}/oauth2/v2.0/token", DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
        )
        budget = Budget(clock)
        graph = GraphClient(
            f"{BASE}/v1.0",
            tokens,
            http,
            clock,
            random.Random(3),
            on_throttle=budget.throttled,
            before_retry=budget.acquire_retry,
            max_attempts=2,
        )
        yield World(clock, emu, graph, budget)
        await http.aclose()


def routable(cmds: list[WriteBack]) -> list[RoutableState | None]:
    return [c.routable for c in cmds]


async def test_teams_call_presenting_and_back_to_available() -> None:
    async with world() as w:
        watcher = w.watcher([person(BOB, "1002")])
        w.teams(BOB, AVAILABLE)
        await watcher.poll()
        assert w.take() == []  # nothing to clear at start-up
        w.teams(BOB, IN_A_CALL)
        await watcher.poll()
        assert w.take() == [(f"key-{BOB}", [WriteBack("1002", "from-internal", routable=R.CALL)])]
        await watcher.poll()
        assert w.take() == []  # only differences are sent
        w.teams(BOB, PRESENTING)
        await watcher.poll()
        assert [routable(c) for _, c in w.take()] == [[R.PRESENTING]]
        w.teams(BOB, AVAILABLE)
        await watcher.poll()
        assert [routable(c) for _, c in w.take()] == [[R.NONE]]


async def test_meeting_is_nothing_by_default_and_meeting_when_enabled() -> None:
    async with world() as w:
        w.teams(BOB, IN_A_MEETING)
        plain = w.watcher([person(BOB, "1002")])
        await plain.poll()
        assert w.take() == []
        with_meeting = w.watcher([person(BOB, "1002")], meeting=True)
        await with_meeting.poll()
        assert [routable(c) for _, c in w.take()] == [[R.MEETING]]


async def test_dnd_after_two_polls_and_pbx_dnd_only_for_the_opted_in_person() -> None:
    async with world() as w:
        watcher = w.watcher([person(ALICE, "1001", opted=True), person(BOB, "1002")])
        w.teams(ALICE, AVAILABLE)
        w.teams(BOB, AVAILABLE)
        await watcher.poll()
        w.take()
        w.teams(ALICE, DND)
        w.teams(BOB, DND)
        await watcher.poll()
        assert w.take() == []  # one observation is not enough
        await watcher.poll()
        assert w.take() == [
            (f"key-{ALICE}", [WriteBack("1001", "from-internal", routable=R.DND, pbx_dnd=True)]),
            (f"key-{BOB}", [WriteBack("1002", "from-internal", routable=R.DND)]),
        ]
        w.teams(ALICE, AVAILABLE)
        w.teams(BOB, AVAILABLE)
        await watcher.poll()
        assert w.take() == [
            (f"key-{ALICE}", [WriteBack("1001", "from-internal", routable=R.NONE, pbx_dnd=False)]),
            (f"key-{BOB}", [WriteBack("1002", "from-internal", routable=R.NONE)]),
        ]


async def test_person_pressing_dnd_off_on_the_pbx_wins() -> None:
    async with world() as w:
        watcher = w.watcher([person(ALICE, "1001", opted=True)])
        w.teams(ALICE, DND)
        await watcher.poll()
        await watcher.poll()
        assert [c[0].pbx_dnd for _, c in w.take()] == [True]
        watcher.pbx_dnd_changed(f"key-{ALICE}", on=True, by_us=True)  # our own echo
        watcher.pbx_dnd_changed(f"key-{ALICE}", on=False, by_us=False)  # *79 by hand
        await watcher.poll()
        await watcher.poll()
        assert w.take() == []  # Teams still shows DND: we stay off


async def test_our_own_session_is_not_reflected_back() -> None:
    async with world() as w:
        watcher = w.watcher([person(BOB, "1002")])
        w.teams(BOB, AVAILABLE)
        await watcher.poll()
        w.take()
        w.our_session(BOB, IN_A_CALL)  # the PBX -> Teams side published Bob's desk-phone call
        for _ in range(3):
            await watcher.poll()
            await w.clock.advance(10)
        assert w.take() == []
        w.our_session(BOB, None)
        for _ in range(2):
            await watcher.poll()
            await w.clock.advance(10)
        assert w.take() == []  # Teams shows Available again: PBX already holds none


async def test_read_after_write_echo_is_held_down() -> None:
    async with world() as w:
        watcher = w.watcher([person(BOB, "1002")])
        w.our_session(BOB, IN_A_CALL)
        await watcher.poll()
        # we cleared our session, but Graph still shows the old aggregate (a lagging read): played here
        # by a Teams-side leftover that appears exactly as our write goes out
        w.our_session(BOB, None)
        w.teams(BOB, IN_A_CALL)
        await watcher.poll()
        assert w.take() == []  # inside the hold-down
        await w.clock.advance(10)
        await watcher.poll()
        assert [routable(c) for _, c in w.take()] == [[R.CALL]]  # after it, Teams is believed


async def test_reads_go_through_the_budget_and_651_people_take_two_shards() -> None:
    async with world(651) as w:
        people = [person(f"user-{i:04d}", str(1000 + i)) for i in range(651)]
        watcher = w.watcher(people)
        for uid in (people[0].object_id, people[650].object_id):
            w.teams(uid, IN_A_CALL)
        await watcher.poll()
        assert w.journal_reads() == 2
        assert w.budget.counters["granted"] == 2
        assert watcher.stats()["watcher_reads"] == 2.0
        calls = {key for key, cmds in w.take() if routable(cmds) == [R.CALL]}
        assert calls == {"key-user-0000", "key-user-0650"}


async def test_poll_slower_when_the_budget_is_tight() -> None:
    async with world() as w:
        watcher = w.watcher([person(BOB, "1002")], interval=10.0)
        assert watcher.next_interval() == 10.0
        for _ in range(int(w.budget.limit * 0.6)):
            assert w.budget.try_acquire(Kind.WRITE)
        await watcher.poll()
        assert watcher.next_interval() == 20.0  # writes are busy: reads back off
        await watcher.poll()
        assert watcher.next_interval() == 40.0
        await w.clock.advance(31)  # the window empties
        await watcher.poll()
        assert watcher.next_interval() == 20.0


async def test_graph_failure_logged_once_backs_off_and_recovers(caplog: pytest.LogCaptureFixture) -> None:
    async with world() as w:
        watcher = w.watcher([person(BOB, "1002")], interval=10.0)
        w.teams(BOB, IN_A_CALL)
        w.emu.faults.inject(Fault(FaultKind.UNAVAILABLE), count=6)
        with caplog.at_level(logging.INFO, logger="bridge.teams.watcher"):
            await w.clock.settle()
            baseline = w.clock.sleepers
            task = asyncio.create_task(watcher.run())
            await w.clock.advance(1)
            assert watcher.stats()["watcher_failing"] == 1.0
            assert watcher.next_interval() == 20.0
            for _ in range(4):
                await w.clock.advance(60)
            assert watcher.stats()["watcher_failing"] == 0.0
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and "backing off" in warnings[0].getMessage()
        assert any("works again" in r.getMessage() for r in caplog.records)
        assert [routable(c) for _, c in w.take()] == [[R.CALL]]
        assert task.done() and w.clock.sleepers == baseline  # nothing left behind


async def test_failed_write_back_is_retried_next_round() -> None:
    async with world() as w:
        watcher = w.watcher([person(BOB, "1002")])
        w.teams(BOB, IN_A_CALL)
        w.fail_apply = True
        await watcher.poll()
        assert watcher.stats()["watcher_apply_failures"] == 1.0
        w.fail_apply = False
        await watcher.poll()
        assert [routable(c) for _, c in w.take()] == [[R.CALL]]


async def test_release_clears_what_we_set() -> None:
    async with world() as w:
        watcher = w.watcher([person(ALICE, "1001", opted=True), person(BOB, "1002")])
        w.teams(ALICE, DND)
        w.teams(BOB, IN_A_CALL)
        await watcher.poll()
        await watcher.poll()
        w.take()
        assert await watcher.release() == 2
        assert w.take() == [
            (f"key-{ALICE}", [WriteBack("1001", "from-internal", routable=R.NONE, pbx_dnd=False)]),
            (f"key-{BOB}", [WriteBack("1002", "from-internal", routable=R.NONE)]),
        ]


async def test_shared_endpoint_gets_routable_state_but_never_pbx_dnd() -> None:
    async with world() as w:
        spec = WatchedPerson(
            ALICE,
            "alice",
            (Endpoint("pbx", "1001"), Endpoint("pbx", "1000", shared=True)),
            pbx_dnd_opt_in=True,
        )
        watcher = w.watcher([spec])
        w.teams(ALICE, DND)
        await watcher.poll()
        await watcher.poll()
        assert w.take() == [
            ("alice", [WriteBack("1001", routable=R.DND, pbx_dnd=True), WriteBack("1000", routable=R.DND)])
        ]


async def test_set_people_keeps_state_of_people_still_watched() -> None:
    async with world() as w:
        watcher = w.watcher([person(BOB, "1002")])
        w.teams(BOB, IN_A_CALL)
        w.teams(ALICE, IN_A_CALL)
        await watcher.poll()
        w.take()
        watcher.set_people([person(BOB, "1002"), person(ALICE, "1001")])
        await watcher.poll()
        assert w.take() == [(f"key-{ALICE}", [WriteBack("1001", "from-internal", routable=R.CALL)])]
