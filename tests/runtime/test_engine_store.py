"""The engine and its state store: a snapshot is saved in one go, and a failing store costs
persistence only (the state is kept, the failure counted and logged), never the event."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.config import load_config_text
from bridge.errors import StoreError
from bridge.model import EndpointKey, LineState, Snapshot, StateChange
from bridge.runtime.engine import Engine
from bridge.runtime.store import StateStore
from tests.runtime.test_engine import ALICE, YAML

DESK = EndpointKey("pbx", "1001")
BOB_DESK = EndpointKey("pbx", "1002")


class CommitFails(StateStore):
    """A store whose transactions cannot commit (disk full, say)."""

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        yield
        raise StoreError("state store: database or disk is full")


def engine(store: StateStore) -> tuple[Engine, list[tuple[str, object]]]:
    sent: list[tuple[str, object]] = []
    config = load_config_text(YAML, "<test>", environ={})
    publish = lambda t, oid, intent, cause: sent.append((oid, intent))  # noqa: E731
    return Engine(config, publish=publish, store=store, monotonic=lambda: 100.0), sent


def test_a_snapshot_is_saved_and_comes_back_after_a_restart(tmp_path: Path) -> None:
    snapshot = Snapshot(
        "pbx", (StateChange(DESK, line=LineState.IN_CALL), StateChange(BOB_DESK, line=LineState.IDLE))
    )
    with StateStore(tmp_path / "state.db") as store:
        engine(store)[0].handle(snapshot)
    with StateStore(tmp_path / "state.db") as store:
        saved = store.load_endpoints()
    assert saved[DESK].line is LineState.IN_CALL and saved[BOB_DESK].line is LineState.IDLE


def test_a_snapshot_whose_commit_fails_still_decides_and_is_counted(caplog: pytest.LogCaptureFixture) -> None:
    with CommitFails(":memory:") as store:
        eng, sent = engine(store)
        eng.handle(Snapshot("pbx", (StateChange(DESK, line=LineState.IN_CALL),)))
    assert eng.counters["store_errors"] == 1
    assert [oid for oid, intent in sent if getattr(intent, "session", None)] == [ALICE]  # Alice shows busy
    assert "kept in memory" in caplog.text
