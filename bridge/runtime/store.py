"""The state store: SQLite (WAL) holding what we set in Teams and on the PBX, and endpoint state.

Tables (schema version in ``schema_version``, migrations applied in order at ``open()``):

- ``teams_published``: per person, the session we last wrote (pair, expiry) and the preferred
  presence we own (pair, expiry), each with a ``confirmed`` flag (schema 2): 0 while the write
  is about to be sent or was never answered, 1 once Graph confirmed it. A row exists only while
  we own something.
- ``endpoints``: the last canonical state of every endpoint (loaded back with ``restored=True``).
- ``pbx_owned``: generic write-back ownership (adapter, extension, what, value, expires_at).

A second process on the same file gets ``StoreError`` (an exclusive ``flock`` on ``<path>.lock``,
where ``<path>`` is the store's resolved real path: the same file through a symlink or
``./x/../state.db`` is the same lock).
``":memory:"`` works for tests.

**Failures are health, not silence.** A write that fails (disk full, read-only file system) turns
``health`` to TRANSIENT_DISCONNECT with the ``store_write_failed`` alarm until a write succeeds
again (logged once each way); callers still get ``StoreError`` and go on. ``check()`` (run every
``CHECK_INTERVAL`` seconds by ``watch``) notices a database file that vanished or was replaced
while open: SQLite would go on writing into the unlinked file and the next start would find
nothing. The open connection still holds every row, so it is copied back to the path (SQLite's
backup API); the ``store_file_vanished`` alarm stays raised for the rest of the run (someone or
something removed our state: worth a look), and health is degraded until the copy succeeds.
``connect`` (a constructor argument) opens the SQLite connection: tests pass one that fails.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Final

from bridge.errors import StoreError
from bridge.kit.clock import Clock
from bridge.kit.health import Health
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
    # version 2, Teams side (issue 10): what we were about to send apart from what Graph confirmed.
    # Rows written by schema 1 were confirmed writes or new-session write-aheads it could not tell
    # apart; they keep schema 1's reading (confirmed).
    (
        "ALTER TABLE teams_published ADD COLUMN session_confirmed INTEGER NOT NULL DEFAULT 1",
        "ALTER TABLE teams_published ADD COLUMN preferred_confirmed INTEGER NOT NULL DEFAULT 1",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)

ALARM_WRITE_FAILED: Final = "store_write_failed"
ALARM_FILE_VANISHED: Final = "store_file_vanished"
CHECK_INTERVAL: Final = 5.0  # seconds between looks at the database file

Connect = Callable[[str], sqlite3.Connection]


def connect_sqlite(path: str) -> sqlite3.Connection:
    """The default ``connect``: autocommit, transactions are explicit (``batch``)."""
    return sqlite3.connect(path, isolation_level=None)


@dataclass(frozen=True, slots=True)
class OwnedValue:
    """A PBX value we wrote (write-back) and must be able to undo."""

    adapter: str
    extension: str
    what: str
    value: str
    expires_at: datetime | None = None


class StateStore:
    def __init__(self, path: Path | str, *, connect: Connect = connect_sqlite) -> None:
        self._path = str(path)
        self._connect = connect
        self._db: sqlite3.Connection | None = None
        self._lock_file: IO[bytes] | None = None
        self._lock_path: str | None = None
        self._batch_depth = 0
        self._file_id: tuple[int, int] | None = None  # (device, inode) of the file we opened
        self._write_failing = False
        self._file_missing = False
        self.alarms: set[str] = set()
        self.counters: dict[str, int] = {"write_errors": 0, "file_rewrites": 0}

    @property
    def health(self) -> Health:
        """CONNECTED, or TRANSIENT_DISCONNECT while writes fail or the file is gone."""
        failing = self._write_failing or self._file_missing
        return Health.TRANSIENT_DISCONNECT if failing else Health.CONNECTED

    def __repr__(self) -> str:
        return f"StateStore({self._path!r}, open={self._db is not None})"

    # --- lifecycle -------------------------------------------------------------------------

    def open(self) -> StateStore:
        if self._db is not None:
            return self
        if self._path != MEMORY:
            self._lock()
        try:
            self._db = self._open_connection()
            self._migrate()
            self._file_id = self._stat()
        except sqlite3.Error as exc:
            self.close()
            raise StoreError(f"state store {self._path} is unusable: {exc}") from exc
        except StoreError:
            self.close()
            raise
        return self

    def _open_connection(self) -> sqlite3.Connection:
        db = self._connect(self._path)
        if self._path != MEMORY:
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                db.close()
                raise StoreError(f"state store {self._path}: WAL mode refused ({mode})")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=2000")
        return db

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
        """Hold ``<real path>.lock``: symlinks and ``..`` resolved (once, at the first lock), so every
        spelling of one store takes the same lock."""
        try:
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
            if self._lock_path is None:
                self._lock_path = os.path.realpath(self._path) + ".lock"
            lock_path = self._lock_path
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

    def _write(self, sql: str, args: tuple[object, ...] = ()) -> None:
        """A statement that changes the file: its failure and its recovery are health."""
        try:
            self._conn().execute(sql, args)
        except sqlite3.Error as exc:
            self.counters["write_errors"] += 1
            if not self._write_failing:
                self._write_failing = True
                self.alarms.add(ALARM_WRITE_FAILED)
                log.warning("state store %s: writes fail (%s); going on without persisting", self._path, exc)
            else:
                log.debug("state store %s: write failed again: %s", self._path, exc)
            raise StoreError(f"state store {self._path}: {exc}") from exc
        if self._write_failing:
            self._write_failing = False
            self.alarms.discard(ALARM_WRITE_FAILED)
            log.warning("state store %s: writes work again", self._path)

    # --- the file under us --------------------------------------------------------------------

    def _stat(self) -> tuple[int, int] | None:
        if self._path == MEMORY:
            return None
        try:
            st = os.stat(self._path)
        except OSError:
            return None
        return st.st_dev, st.st_ino

    def check(self) -> bool:
        """Is the file we write still the one at our path? If not, copy the open database back
        there (see the module docstring); returns True when the file is (again) in place."""
        if self._db is None or self._path == MEMORY or self._batch_depth:
            return True
        if self._file_id is not None and self._stat() == self._file_id:
            return True
        if ALARM_FILE_VANISHED not in self.alarms:
            self.alarms.add(ALARM_FILE_VANISHED)
            log.warning("state store %s: the database file vanished while open; rewriting it", self._path)
        try:
            self._rewrite()
        except (OSError, sqlite3.Error, StoreError) as exc:
            level = logging.DEBUG if self._file_missing else logging.WARNING  # once per outage
            self._file_missing = True
            log.log(level, "state store %s: cannot rewrite the database file: %s", self._path, exc)
            return False
        self._file_missing = False
        self.counters["file_rewrites"] += 1
        log.warning("state store %s: database file rewritten from the open connection", self._path)
        return True

    def _rewrite(self) -> None:
        """Copy the open database to a new file at our path and continue on that file."""
        db = self._conn()
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        fresh = self._path + ".rewrite"
        with contextlib.suppress(FileNotFoundError):
            os.remove(fresh)
        target = self._connect(fresh)
        try:
            db.backup(target)
        finally:
            target.close()
        if self._lock_path is not None and not os.path.exists(self._lock_path):
            old, self._lock_file = self._lock_file, None
            self._lock()
            if old is not None:
                old.close()
        db.close()
        self._db = None
        os.replace(fresh, self._path)
        self._db = self._open_connection()
        self._file_id = self._stat()

    async def watch(self, clock: Clock, interval: float = CHECK_INTERVAL) -> None:
        """``check()`` every ``interval`` seconds until cancelled (a supervised task of the service)."""
        while True:
            self.check()
            await clock.sleep(interval)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Group many writes in one transaction (nested batches join the outer one)."""
        outer = self._batch_depth == 0
        if outer:
            self._write("BEGIN")
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
            self._write("COMMIT")

    # --- Teams ownership --------------------------------------------------------------------

    def save_published(self, record: PublishedRecord, updated_at: datetime) -> None:
        """Remember what we own for a person; a record owning nothing deletes the row."""
        if not record.owns_anything:
            self.forget_published(record.person_id)
            return
        self._write(
            "INSERT OR REPLACE INTO teams_published (person_id, tenant, session_pair,"
            " session_expires_at, preferred_pair, preferred_expires_at, updated_at,"
            " session_confirmed, preferred_confirmed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.person_id,
                record.tenant,
                _pair_out(record.session),
                _time_out(record.session_expires_at),
                _pair_out(record.preferred),
                _time_out(record.preferred_expires_at),
                updated_at.isoformat(),
                int(record.session_confirmed),
                int(record.preferred_confirmed),
            ),
        )

    def forget_published(self, person_id: str) -> None:
        self._write("DELETE FROM teams_published WHERE person_id = ?", (person_id,))

    def load_published(self, tenant: str | None = None) -> dict[str, PublishedRecord]:
        sql = (
            "SELECT person_id, tenant, session_pair, session_expires_at, preferred_pair,"
            " preferred_expires_at, session_confirmed, preferred_confirmed FROM teams_published"
        )
        rows = self._exec(sql + " WHERE tenant = ?", (tenant,)) if tenant is not None else self._exec(sql)
        return {
            row[0]: PublishedRecord(
                row[0],
                row[1],
                _pair_in(row[2]),
                _time_in(row[3]),
                _pair_in(row[4]),
                _time_in(row[5]),
                session_confirmed=bool(row[6]),
                preferred_confirmed=bool(row[7]),
            )
            for row in rows.fetchall()
        }

    # --- endpoints ----------------------------------------------------------------------------

    def save_endpoint(self, key: EndpointKey, state: EndpointState) -> None:
        self._write(
            "INSERT OR REPLACE INTO endpoints VALUES (?, ?, ?, ?, ?)",
            (key.adapter, key.context, key.extension, key.device, _endpoint_out(state)),
        )

    def forget_endpoint(self, key: EndpointKey) -> None:
        self._write(
            "DELETE FROM endpoints WHERE adapter = ? AND context = ? AND extension = ? AND device = ?",
            (key.adapter, key.context, key.extension, key.device),
        )

    def forget_endpoints(self) -> None:
        """Forget every stored endpoint state (after ``release``: the next start decides afresh)."""
        self._write("DELETE FROM endpoints")

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
        self._write(
            "INSERT OR REPLACE INTO pbx_owned VALUES (?, ?, ?, ?, ?)",
            (owned.adapter, owned.extension, owned.what, owned.value, _time_out(owned.expires_at)),
        )

    def forget_owned(self, adapter: str, extension: str, what: str) -> None:
        self._write(
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
