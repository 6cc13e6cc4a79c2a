"""The store's failures are health (issue 10, defect 7), and schema 2 reads what schema 1 wrote.

Disk full is an injected ``sqlite3.OperationalError`` through the store's ``connect`` argument;
a vanished file is the file really removed (or its directory replaced by a file, so nothing can
be written back).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bridge.errors import StoreError
from bridge.kit.health import Health
from bridge.model import EndpointKey, EndpointState, LineState
from bridge.presence import IN_A_CALL, Pair
from bridge.runtime.store import MIGRATIONS, PublishedRecord, StateStore

T0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
KEY = EndpointKey(adapter="pbx", extension="1001")
PREF = Pair("DoNotDisturb", "DoNotDisturb")


class FillableDisk(sqlite3.Connection):
    """A connection whose writes fail as on a full disk while ``full`` is set."""

    full = False

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        if FillableDisk.full and not sql.lstrip().upper().startswith(("SELECT", "PRAGMA")):
            raise sqlite3.OperationalError("database or disk is full")
        return super().execute(sql, *args)


def fillable() -> Callable[[str], sqlite3.Connection]:
    FillableDisk.full = False
    return lambda path: sqlite3.connect(path, isolation_level=None, factory=FillableDisk)


def test_a_database_written_by_schema_1_opens_and_its_rows_stay_confirmed(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    old = sqlite3.connect(path, isolation_level=None)
    for statement in MIGRATIONS[0]:
        old.execute(statement)
    old.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    old.execute("INSERT INTO schema_version VALUES (1)")
    expires = (T0 + timedelta(minutes=15)).isoformat()
    old.execute(
        "INSERT INTO teams_published VALUES ('alice', 'contoso', 'Busy/InACall', ?, NULL, NULL, ?)",
        (expires, T0.isoformat()),
    )
    old.close()
    with StateStore(path) as store:
        assert store.schema_version == len(MIGRATIONS) >= 2
        assert store.load_published() == {
            "alice": PublishedRecord("alice", "contoso", IN_A_CALL, T0 + timedelta(minutes=15))
        }
        unsure = PublishedRecord(
            "bob", "contoso", IN_A_CALL, T0, PREF, T0, session_confirmed=False, preferred_confirmed=False
        )
        store.save_published(unsure, T0)
    with StateStore(path) as store:
        assert store.load_published()["bob"] == unsure


def test_a_full_disk_degrades_health_with_an_alarm_until_writes_work_again(tmp_path: Path) -> None:
    with StateStore(tmp_path / "state.db", connect=fillable()) as store:
        assert store.health is Health.CONNECTED and store.alarms == set()
        FillableDisk.full = True
        for _ in range(3):
            try:
                store.save_published(PublishedRecord("alice", "contoso", IN_A_CALL, T0), T0)
            except StoreError:
                pass
            else:
                raise AssertionError("a write on a full disk succeeded")
        assert store.health is Health.TRANSIENT_DISCONNECT
        assert store.alarms == {"store_write_failed"}
        assert store.counters["write_errors"] == 3
        FillableDisk.full = False
        store.save_published(PublishedRecord("alice", "contoso", IN_A_CALL, T0), T0)
        assert store.health is Health.CONNECTED and store.alarms == set()
        assert store.load_published()["alice"].session == IN_A_CALL


def test_a_database_file_removed_while_open_is_written_back_with_every_row(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with StateStore(path) as store:
        store.save_published(PublishedRecord("alice", "contoso", IN_A_CALL, T0), T0)
        store.save_endpoint(KEY, EndpointState(line=LineState.IN_CALL))
        assert store.check()
        os.remove(path)
        assert store.check()
        assert path.exists()
        assert store.alarms == {"store_file_vanished"}  # kept for the run: someone removed our state
        assert store.health is Health.CONNECTED
        assert store.counters["file_rewrites"] == 1
        store.save_published(PublishedRecord("bob", "contoso", IN_A_CALL, T0), T0)  # lands in the new file
    with StateStore(path) as again:  # what the next start finds
        assert set(again.load_published()) == {"alice", "bob"}
        assert again.load_endpoints()[KEY].line is LineState.IN_CALL


def test_a_file_that_cannot_be_written_back_keeps_health_degraded(tmp_path: Path) -> None:
    home = tmp_path / "state"
    path = home / "state.db"
    with StateStore(path) as store:
        store.save_published(PublishedRecord("alice", "contoso", IN_A_CALL, T0), T0)
        shutil.rmtree(home)
        home.write_text("not a directory")  # the path cannot be made again
        assert not store.check()
        assert store.health is Health.TRANSIENT_DISCONNECT
        assert "store_file_vanished" in store.alarms
        home.unlink()
        assert store.check()
        assert store.health is Health.CONNECTED
    with StateStore(path) as again:
        assert set(again.load_published()) == {"alice"}
