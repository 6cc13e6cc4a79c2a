"""The state store: SQLite (WAL) holding what we set in Teams and on the PBX, and endpoint state.

Tables (schema version in ``schema_version``, migrations applied in order at ``open()``):

- ``teams_published``: per person, the session we last wrote (pair, expiry) and the preferred
  presence we own (pair, expiry). A row exists only while we own something.
- ``endpoints``: the last canonical state of every endpoint (loaded back with ``restored=True``).
- ``pbx_owned``: generic write-back ownership (adapter, extension, what, value, expires_at).

A second process on the same file gets ``StoreError`` (an exclusive ``flock`` on ``<path>.lock``).
Losing the file is survivable: a new one is created. ``":memory:"`` works for tests.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from bridge.errors import StoreError
from bridge.model import AgentState, CallKind, EndpointKey, EndpointState, LineState, Toggle
from bridge.presence import Pair
from bridge.teams.ownership import PublishedRecord as PublishedRecord  # the teams floor owns the type

log = logging.getLogger(__name__)

MEMORY = ":memory:"

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # version 1
    (
        """CREATE TABLE teams_published (
            person_id TEXT PRIMARY KEY,
            tenant TEXT NOT NULL,
            session_pair TEXT,
            session_expires_at TEXT,
            preferred_pair TEXT,
            preferred_expires_at TEXT,
            updated_at TEXT NOT NULL
        )""",
        """CREATE TABLE endpoints (
            adapter TEXT NOT NULL,
            context TEXT NOT NULL,
            extension TEXT NOT NULL,
            device TEXT NOT NULL,
            state TEXT NOT NULL,
            PRIMARY KEY (adapter, context, extension, device)
        )""",
        """CREATE TABLE pbx_owned (
            adapter TEXT NOT NULL,
            extension TEXT NOT NULL,
            what TEXT NOT NULL,
            value TEXT NOT NULL,
            expires_at TEXT,
            PRIMARY KEY (adapter, extension, what)
        )""",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True, slots=True)
class OwnedValue:
    """A PBX value we wrote (write-back) and must be able to undo."""

    adapter: str
    extension: str
    what: str
    value: str
    expires_at: datetime | None = None


class StateStore:
    def __init__(self, path: Path | str) -> None:
        self._path = str(path)
        self._db: sqlite3.Connection | None = None
        self._lock_file: IO[bytes] | None = None
        self._batch_depth = 0

    def __repr__(self) -> str:
        return f"StateStore({self._path!r}, open={self._db is not None})"

    # --- lifecycle -------------------------------------------------------------------------

    def open(self) -> StateStore:
        if self._db is not None:
            return self
        if self._path != MEMORY:
            self._lock()
        try:
            db = sqlite3.connect(self._path, isolation_level=None)
            if self._path != MEMORY:
                mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise StoreError(f"state store {self._path}: WAL mode refused ({mode})")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=2000")
            self._db = db
            self._migrate()
        except sqlite3.Error as exc:
            self.close()
            raise StoreError(f"state store {self._path} is unusable: {exc}") from exc
        except StoreError:
            self.close()
            raise
        return self

    def close(self) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
        if self._lock_file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    def __enter__(self) -> StateStore:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _lock(self) -> None:
        lock_path = self._path + ".lock"
        try:
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
            handle = open(lock_path, "a+b")  # held for the store's lifetime
        except OSError as exc:
            raise StoreError(f"state store {self._path}: cannot open lock file: {exc}") from exc
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.close()
            raise StoreError(
                f"state store {self._path} is in use by another instance (lock {lock_path})"
            ) from exc
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()).encode())
        handle.flush()
        self._lock_file = handle

    def _migrate(self) -> None:
        db = self._conn()
        db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = db.execute("SELECT version FROM schema_version").fetchone()
        current = int(row[0]) if row else 0
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"state store {self._path} has schema {current}, newer than this bridge ({SCHEMA_VERSION})"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            db.execute("BEGIN IMMEDIATE")
            try:
                for statement in MIGRATIONS[version - 1]:
                    db.execute(statement)
                db.execute("DELETE FROM schema_version")
                db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
                db.execute("COMMIT")
            except sqlite3.Error:
                db.execute("ROLLBACK")
                raise
            log.info("state store %s migrated to schema %d", self._path, version)

    @property
    def schema_version(self) -> int:
        row = self._exec("SELECT version FROM schema_version").fetchone()
        return int(row[0]) if row else 0

    @property
    def journal_mode(self) -> str:
        return str(self._exec("PRAGMA journal_mode").fetchone()[0]).lower()

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError("state store is not open")
        return self._db

    def _exec(self, sql: str, args: tuple[object, ...] = ()) -> sqlite3.Cursor:
        try:
            return self._conn().execute(sql, args)
        except sqlite3.Error as exc:
            raise StoreError(f"state store {self._path}: {exc}") from exc

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Group many writes in one transaction (nested batches join the outer one)."""
        outer = self._batch_depth == 0
        if outer:
            self._exec("BEGIN")
        self._batch_depth += 1
        try:
            yield
        except BaseException:
            self._batch_depth -= 1
            if outer:
                self._exec("ROLLBACK")
            raise
        self._batch_depth -= 1
        if outer:
            self._exec("COMMIT")

    # --- Teams ownership --------------------------------------------------------------------

    def save_published(self, record: PublishedRecord, updated_at: datetime) -> None:
        """Remember what we own for a person; a record owning nothing deletes the row."""
        if not record.owns_anything:
            self.forget_published(record.person_id)
            return
        self._exec(
            "INSERT OR REPLACE INTO teams_published VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                record.person_id,
                record.tenant,
                _pair_out(record.session),
                _time_out(record.session_expires_at),
                _pair_out(record.preferred),
                _time_out(record.preferred_expires_at),
                updated_at.isoformat(),
            ),
        )

    def forget_published(self, person_id: str) -> None:
        self._exec("DELETE FROM teams_published WHERE person_id = ?", (person_id,))

    def load_published(self, tenant: str | None = None) -> dict[str, PublishedRecord]:
        sql = (
            "SELECT person_id, tenant, session_pair, session_expires_at, preferred_pair,"
            " preferred_expires_at FROM teams_published"
        )
        rows = self._exec(sql + " WHERE tenant = ?", (tenant,)) if tenant is not None else self._exec(sql)
        return {
            row[0]: PublishedRecord(
                row[0], row[1], _pair_in(row[2]), _time_in(row[3]), _pair_in(row[4]), _time_in(row[5])
            )
            for row in rows.fetchall()
        }

    # --- endpoints ----------------------------------------------------------------------------

    def save_endpoint(self, key: EndpointKey, state: EndpointState) -> None:
        self._exec(
            "INSERT OR REPLACE INTO endpoints VALUES (?, ?, ?, ?, ?)",
            (key.adapter, key.context, key.extension, key.device, _endpoint_out(state)),
        )

    def forget_endpoint(self, key: EndpointKey) -> None:
        self._exec(
            "DELETE FROM endpoints WHERE adapter = ? AND context = ? AND extension = ? AND device = ?",
            (key.adapter, key.context, key.extension, key.device),
        )

    def load_endpoints(self) -> dict[EndpointKey, EndpointState]:
        """Every stored endpoint, marked ``restored=True``; unreadable rows are skipped and logged."""
        result: dict[EndpointKey, EndpointState] = {}
        for adapter, context, extension, device, text in self._exec(
            "SELECT adapter, context, extension, device, state FROM endpoints"
        ).fetchall():
            key = EndpointKey(adapter=adapter, extension=extension, context=context, device=device)
            try:
                result[key] = _endpoint_in(text)
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("state store: skipping unreadable endpoint %s/%s: %s", adapter, extension, exc)
        return result

    # --- PBX write-back ownership ---------------------------------------------------------------

    def save_owned(self, owned: OwnedValue) -> None:
        self._exec(
            "INSERT OR REPLACE INTO pbx_owned VALUES (?, ?, ?, ?, ?)",
            (owned.adapter, owned.extension, owned.what, owned.value, _time_out(owned.expires_at)),
        )

    def forget_owned(self, adapter: str, extension: str, what: str) -> None:
        self._exec(
            "DELETE FROM pbx_owned WHERE adapter = ? AND extension = ? AND what = ?",
            (adapter, extension, what),
        )

    def load_owned(self, adapter: str | None = None) -> list[OwnedValue]:
        sql = "SELECT adapter, extension, what, value, expires_at FROM pbx_owned"
        rows = self._exec(sql + " WHERE adapter = ?", (adapter,)) if adapter is not None else self._exec(sql)
        return [OwnedValue(r[0], r[1], r[2], r[3], _time_in(r[4])) for r in rows.fetchall()]


# --- value encoding (text columns, readable with the sqlite3 shell) ---------------------------


def _pair_out(pair: Pair | None) -> str | None:
    return None if pair is None else str(pair)


def _pair_in(text: str | None) -> Pair | None:
    return None if text is None else Pair.parse(text)


def _time_out(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _time_in(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _endpoint_out(state: EndpointState) -> str:
    agent = state.agent
    return json.dumps(
        {
            "line": state.line.value,
            "dnd": state.dnd.value,
            "away": state.away.value,
            "agent": [agent.logged_in, agent.paused, agent.reason, agent.wrapup],
            "call_kind": state.call_kind.value,
            "observed_at": _time_out(state.observed_at),
            "dnd_ours": state.dnd_ours,
        }
    )


def _endpoint_in(text: str) -> EndpointState:
    data = json.loads(text)
    logged_in, paused, reason, wrapup = data["agent"]
    return EndpointState(
        line=LineState(data["line"]),
        dnd=Toggle(data["dnd"]),
        away=Toggle(data["away"]),
        agent=AgentState(bool(logged_in), bool(paused), reason, bool(wrapup)),
        call_kind=CallKind(data["call_kind"]),
        observed_at=_time_in(data["observed_at"]),
        restored=True,
        dnd_ours=bool(data.get("dnd_ours", False)),
    )
