"""The SQLite state store: what a restarted bridge finds, and refusing a second instance."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bridge.errors import StoreError
from bridge.model import AgentState, CallKind, EndpointKey, EndpointState, LineState, Toggle
from bridge.presence import IN_A_CALL, Pair
from bridge.runtime.store import SCHEMA_VERSION, OwnedValue, PublishedRecord, StateStore

T0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


@pytest.fixture(params=["file", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path):
    path = tmp_path / "state.db" if request.param == "file" else ":memory:"
    with StateStore(path) as s:
        yield s


def test_published_round_trip(store: StateStore) -> None:
    rec = PublishedRecord(
        "u1", "contoso", IN_A_CALL, T0 + timedelta(minutes=15), Pair("DoNotDisturb", "DoNotDisturb"), T0
    )
    store.save_published(rec, T0)
    store.save_published(PublishedRecord("u2", "other", IN_A_CALL, T0), T0)
    assert store.load_published("contoso") == {"u1": rec}
    assert set(store.load_published()) == {"u1", "u2"}


def test_record_owning_nothing_is_forgotten(store: StateStore) -> None:
    store.save_published(PublishedRecord("u1", "contoso", IN_A_CALL, T0), T0)
    store.save_published(PublishedRecord("u1", "contoso"), T0)
    assert store.load_published() == {}


def test_endpoint_round_trip_is_marked_restored(store: StateStore) -> None:
    key = EndpointKey("pbx", "1001", context="from-internal", device="softphone")
    state = EndpointState(
        line=LineState.IN_CALL,
        dnd=Toggle.OFF,
        away=Toggle.UNKNOWN,
        agent=AgentState(logged_in=True, paused=True, reason="lunch"),
        call_kind=CallKind.QUEUE,
        observed_at=T0,
        line_since=1234.0,
    )
    store.save_endpoint(key, state)
    loaded = store.load_endpoints()[key]
    assert loaded.restored
    assert (loaded.line, loaded.dnd, loaded.agent, loaded.call_kind, loaded.observed_at) == (
        LineState.IN_CALL,
        Toggle.OFF,
        AgentState(logged_in=True, paused=True, reason="lunch"),
        CallKind.QUEUE,
        T0,
    )
    store.forget_endpoint(key)
    assert store.load_endpoints() == {}


def test_pbx_ownership_round_trip(store: StateStore) -> None:
    owned = OwnedValue("ami", "1001", "routable", "call", T0)
    with store.batch():
        store.save_owned(owned)
        store.save_owned(OwnedValue("cti", "2000", "pbx_dnd", "on"))
    assert store.load_owned("ami") == [owned]
    store.forget_owned("ami", "1001", "routable")
    assert [o.adapter for o in store.load_owned()] == ["cti"]


def test_failed_batch_applies_nothing(store: StateStore) -> None:
    with pytest.raises(RuntimeError), store.batch():
        store.save_owned(OwnedValue("ami", "1001", "routable", "call"))
        raise RuntimeError("boom")
    assert store.load_owned() == []


def test_file_store_uses_wal_and_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with StateStore(path) as store:
        assert store.journal_mode == "wal"
        assert store.schema_version == SCHEMA_VERSION
        store.save_published(PublishedRecord("u1", "t", IN_A_CALL, T0), T0)
    with StateStore(path) as store:  # reopening keeps data and does not re-migrate
        assert store.schema_version == SCHEMA_VERSION
        assert set(store.load_published()) == {"u1"}


def test_second_instance_on_same_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with StateStore(path):
        with pytest.raises(StoreError, match="another instance"):
            StateStore(path).open()
    with StateStore(path) as again:  # released on close
        assert again.schema_version == SCHEMA_VERSION


def test_lost_file_starts_empty(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with StateStore(path) as store:
        store.save_published(PublishedRecord("u1", "t", IN_A_CALL, T0), T0)
    for leftover in tmp_path.glob("state.db*"):
        if not leftover.name.endswith(".lock"):
            leftover.unlink()
    with StateStore(path) as store:
        assert store.load_published() == {}


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with StateStore(path):
        pass
    db = sqlite3.connect(path)
    db.execute("UPDATE schema_version SET version = 99")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="newer"):
        StateStore(path).open()


def test_corrupt_file_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError):
        StateStore(path).open()


def test_closed_store_says_so() -> None:
    with pytest.raises(StoreError, match="not open"):
        StateStore(":memory:").load_published()
