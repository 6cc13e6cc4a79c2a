"""Restarts and a damaged store, end to end (issue 10, defect 7): the Graph emulator over HTTPS with
its fault injection, the generic CTI adapter over HTTP, the bridge on the fake clock.

- a write whose request never reached Graph is sent again at once after a restart;
- the store file deleted while running is written back, so the next start still clears a call;
- a full disk degrades /healthz with an alarm, publishing goes on (clears included), and what could
  not be recorded is recorded once the disk takes writes again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx

from bridge.config import BridgeConfig
from bridge.demo import PEOPLE, running_service, wait_for_adapters
from bridge.emulator.app import Emulator
from bridge.emulator.faults import Fault, FaultKind
from bridge.kit.clock import FakeClock
from bridge.presence import IN_A_CALL, Pair
from bridge.runtime.http import build_app
from bridge.runtime.service import BridgeService
from bridge.runtime.store import CHECK_INTERVAL, StateStore
from tests.runtime.rig import ID, bridge_config, emulator, new_clock, send
from tests.runtime.support import eventually, our_session, until

AVAILABLE = Pair("Available", "Available")
ALICE, BOB, CAROL = ID["Alice"], ID["Bob"], ID["Carol"]


class FillableDisk(sqlite3.Connection):
    """A connection whose writes fail as on a full disk while ``full`` is set."""

    full = False

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        if FillableDisk.full and not sql.lstrip().upper().startswith(("SELECT", "PRAGMA")):
            raise sqlite3.OperationalError("database or disk is full")
        return super().execute(sql, *args)


@contextlib.asynccontextmanager
async def serving(config: BridgeConfig, clock: FakeClock, store: StateStore) -> AsyncIterator[BridgeService]:
    """``running_service`` with a store we built (to inject its connection)."""
    service = BridgeService(config, clock=clock, store=store)
    task = asyncio.create_task(service.run())
    try:
        await service.started.wait()
        await wait_for_adapters(service)
        yield service
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def healthz(service: BridgeService) -> tuple[dict[str, Any], str]:
    transport = httpx.ASGITransport(app=build_app(service))
    async with httpx.AsyncClient(transport=transport, base_url="http://bridge") as http:
        return (await http.get("/healthz")).json(), (await http.get("/metrics")).text


def ours(emu: Emulator, clock: FakeClock, user: str, client_id: str) -> Pair | None:
    session = our_session(emu, user, client_id, clock.now())
    return None if session is None else Pair(str(session["availability"]), str(session["activity"]))


def shows(emu: Emulator, user: str, pair: Pair) -> Callable[[], bool]:
    return lambda: emu.presence_of(user) == pair


async def test_writes_cut_off_by_a_kill_are_sent_again_at_once_after_the_restart(tmp_path: Path) -> None:
    clock = new_clock()
    async with emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        config = bridge_config(handle, tmp_path)
        demo = config.tenants["demo"].model_copy(update={"max_in_flight": 4})  # 4 writes in flight at most
        config = config.model_copy(update={"tenants": {"demo": demo}})
        async with running_service(config, clock) as service:
            emu.faults.inject(Fault(FaultKind.DROP), count=4)
            for person in PEOPLE:
                await send(service.adapters["pbx"], person.extension, line="in_call")
            # the four first requests in flight are dropped; their retries wait on the fake clock
            await eventually(lambda: sum(e["status"] == 0 for e in emu.journal.entries()) == 4)
        # killed now: four write-ahead records whose requests never reached Graph
        client_id = config.tenants["demo"].client_id
        assert [p for p in PEOPLE if ours(emu, clock, p.object_id, client_id) is not None] == []
        async with running_service(config, clock) as service:
            for _ in range(10):
                await clock.advance(0.5)
            cut_off, never_sent = PEOPLE[:4], PEOPLE[4]
            for person in cut_off:  # our session is set again now, not 240 s later at the refresh
                await until(emu, lambda uid=person.object_id: ours(emu, clock, uid, client_id) == IN_A_CALL)
            # the fifth write never started (no write-ahead record): the restored call waits for the
            # PBX's first snapshot like any restored state (DESIGN 14), at most state.start_wait_seconds
            assert ours(emu, clock, never_sent.object_id, client_id) is None
            for _ in range(60):
                await clock.advance(0.5)
            await until(emu, lambda: ours(emu, clock, never_sent.object_id, client_id) == IN_A_CALL)


async def test_a_store_deleted_while_running_still_lets_the_next_start_clear_a_call(tmp_path: Path) -> None:
    clock = new_clock()
    async with emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        config = bridge_config(handle, tmp_path)
        async with running_service(config, clock) as service:
            await send(service.adapters["pbx"], "1001", line="in_call")
            await until(emu, shows(emu, ALICE, IN_A_CALL))
            os.remove(tmp_path / "state.db")
            await clock.advance(CHECK_INTERVAL)
            await eventually(lambda: "store:store_file_vanished" in service.alarms())
            health, metrics = await healthz(service)
            assert "store:store_file_vanished" in health["alarms"]
            assert "presence_bridge_store_file_rewrites_total 1.0" in metrics
        async with running_service(config, clock) as service:
            await send(service.adapters["pbx"], "1001", line="idle")
            await clock.advance(3.5)
            await until(emu, shows(emu, ALICE, AVAILABLE))  # not Busy for the session's 15 minutes


async def test_a_full_disk_is_degraded_health_with_an_alarm_and_publishing_goes_on(tmp_path: Path) -> None:
    clock = new_clock()
    FillableDisk.full = False
    path = str(tmp_path / "state.db")

    def connect(target: str) -> sqlite3.Connection:
        return sqlite3.connect(target, isolation_level=None, factory=FillableDisk)

    async with emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        config = bridge_config(handle, tmp_path)
        with StateStore(path, connect=connect) as store:
            async with serving(config, clock, store) as service:
                pbx = service.adapters["pbx"]
                FillableDisk.full = True
                await send(pbx, "1001", line="in_call")
                await until(emu, shows(emu, ALICE, IN_A_CALL))
                health, metrics = await healthz(service)
                assert health["status"] == "degraded"
                assert health["components"]["store"] == "TRANSIENT_DISCONNECT"
                assert "store:store_write_failed" in health["alarms"]
                assert "presence_bridge_store_healthy 0.0" in metrics
                await send(pbx, "1001", line="idle")  # a clear we cannot record is still sent
                await clock.advance(3.5)
                await until(emu, shows(emu, ALICE, AVAILABLE))
                await send(pbx, "1002", line="in_call")  # set, and not recorded
                await until(emu, shows(emu, BOB, IN_A_CALL))
                publisher = service.tenants["demo"].publisher
                await eventually(lambda: publisher.view(BOB).sent_session == IN_A_CALL)  # confirmed
                FillableDisk.full = False
                await send(pbx, "1003", line="in_call")  # the disk takes writes again
                await until(emu, shows(emu, CAROL, IN_A_CALL))
                await eventually(lambda: service.overall() == "ok")
                assert service.alarms() == []
        # killed: Bob's session must be known to the next start, though the disk refused it then
        async with running_service(config, clock) as service:
            await send(service.adapters["pbx"], "1002", line="idle")
            await clock.advance(3.5)
            await until(emu, shows(emu, BOB, Pair("Away", "Away")))  # his own Teams client again
