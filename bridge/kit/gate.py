"""Our own accept loop: connection caps per listener and per source, and file descriptor headroom.

Why not ``loop.create_server``: asyncio's accept loop cannot be told "no more from this address"
or "leave room for Graph", and when accept fails with EMFILE it logs the error once per backlog
slot and schedules a restart per slot (CPython 3.11 ``_accept_connection``: the ``for`` loop goes
on after the failure), which wrote 232,465 ERROR lines in 23 s. uvicorn's ``limit_concurrency``
only answers 503 once a request arrived, so a connection that says nothing still holds its slot.

:class:`ConnectionGate` accepts one connection at a time (``loop.sock_accept``) and decides:

- from a source already holding ``max_connections_per_source``: refused (closed at once);
- listener full (``max_connections``), or the new descriptor within ``fd_headroom`` of the
  process's open-file limit: the oldest connection still *idle* (waiting for its request or
  login; the handler says which through :attr:`Lease.idle`) is dropped to make room, one that
  never completed a request before a client's kept-alive one (:attr:`Lease.proven`); with none
  idle, the newcomer is refused and accepting pauses until a connection ends (or a short while);
- accept itself failing for lack of resources (EMFILE...): counted, an idle connection dropped if
  there is one, accepting paused briefly.

The loop turns once after each admission, so that a connection dropped to make room has closed
(asyncio closes an aborted transport on the next turn) before the next one is accepted: a burst
waiting in the backlog is taken one for one, never past the headroom.

Every refusal and error is counted in ``counters`` and logged through one
:class:`~bridge.kit.ratelog.RateLimitedLog` (one line per interval per kind). The descriptor test
is O(1): Linux gives an accepted socket the lowest free number, so a number within the headroom
of the limit means at least that many are in use. The converse does not hold: once a connection
is dropped, its low number is the next one handed out, so from the moment descriptors ran short
the gate holds no more connections than it held then (its ceiling; lifted once half have gone).
Without that, every other newcomer got a freed low number and went in without a drop, and a
flood climbed one descriptor per two connections up to the limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import math
import resource
import socket
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, MutableMapping

from bridge.kit.clock import Clock, sleep_or_wake
from bridge.kit.listen_limits import ListenerLimits
from bridge.kit.ratelog import RateLimitedLog

log = logging.getLogger(__name__)

PAUSE_SECONDS = 0.25  # accepting waits this long (or until a connection ends) when out of room
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})

GATE_COUNTERS = (
    "conn_accepted",  # connections admitted
    "conn_refused_source",  # refused: their source address held its share already
    "conn_refused_full",  # refused: listener full (or descriptors short) and nobody idle to drop
    "conn_dropped_idle",  # idle connections dropped to make room for a new one
    "conn_accept_errors",  # accept() failures (EMFILE, ENFILE, ...)
)


def soft_fd_limit() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def raise_fd_limit() -> tuple[int, int]:
    """Raise the soft open-file limit to the hard one (at start, by the CLI); returns (before,
    after). Common soft limits of 1,024 are far below what a listener under attack plus Graph need;
    an unlimited hard limit is taken as 65,536 (Linux refuses an unlimited soft one)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = 65536 if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-file limit from %d to %d: %s", soft, target, exc)
            return soft, soft
        return soft, target
    return soft, soft


class Lease:
    """One admitted connection, as the gate and its handler share it.

    The handler sets :attr:`abort` (how to drop it) and keeps :attr:`idle` true while the client
    owes us its request or login, false while one is being served; it calls :meth:`release` when
    the connection ends (idempotent). :attr:`deadline` (on the gate's clock's ``monotonic``) is
    when the gate's sweep calls :attr:`expire` (a timeout of the handler's choosing: headers,
    body, login, idle); moving it is one assignment, so it costs nothing per request or line."""

    __slots__ = ("_gate", "abort", "deadline", "expire", "idle", "proven", "source")

    def __init__(self, gate: ConnectionGate, source: str) -> None:
        self._gate: ConnectionGate | None = gate
        self.source = source
        self.idle = True
        self.proven = False  # it has completed a request: a client's kept-alive connection
        self.abort: Callable[[], None] | None = None
        self.deadline = math.inf
        self.expire: Callable[[], None] | None = None

    @property
    def released(self) -> bool:
        return self._gate is None

    def release(self) -> None:
        gate, self._gate = self._gate, None
        if gate is not None:
            gate._release(self)


Admit = Callable[[socket.socket, Lease], Awaitable[None]]


class ConnectionGate:
    """Accepts on ``sock`` until cancelled and hands each admitted connection to ``admit``.

    ``admit(conn, lease)`` runs as a task the gate owns (cancelled by :meth:`close`); it owns
    ``conn`` and must call ``lease.release()`` when the connection ends."""

    def __init__(
        self,
        name: str,
        limits: ListenerLimits,
        clock: Clock,
        *,
        counters: MutableMapping[str, int] | None = None,
        summaries: RateLimitedLog | None = None,
        fd_limit: Callable[[], int] = soft_fd_limit,
    ) -> None:
        self.name = name
        self.limits = limits
        self._clock = clock
        self.counters: MutableMapping[str, int] = counters if counters is not None else {}
        for key in GATE_COUNTERS:
            self.counters.setdefault(key, 0)
        self.summaries = summaries or RateLimitedLog(log, clock.monotonic)
        self._fd_limit = fd_limit
        self._leases: dict[Lease, None] = {}  # insertion order: oldest first
        self._ceiling: float = math.inf  # connections the descriptors allow, learnt when they ran short
        self._per_source: Counter[str] = Counter()
        self._released = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def connections(self) -> int:
        return len(self._leases)

    def from_source(self, source: str) -> int:
        return self._per_source[source]

    @property
    def sweep_seconds(self) -> float:
        """How often deadlines are checked: a quarter of the shortest timeout, within 50 ms..1 s."""
        limits = self.limits
        shortest = min(
            limits.header_timeout_seconds, limits.body_timeout_seconds, limits.idle_timeout_seconds
        )
        return min(1.0, max(0.05, shortest / 4))

    async def serve(self, sock: socket.socket, admit: Admit) -> None:
        sweeper = asyncio.create_task(self._sweep(), name=f"{self.name}:sweep")
        try:
            await self._accept(sock, admit)
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper

    async def _sweep(self) -> None:
        """Expire connections past their deadline; summarise rate-limited log kinds now quiet."""
        while True:
            await self._clock.sleep(self.sweep_seconds)
            now = self._clock.monotonic()
            for lease in [lease for lease in self._leases if lease.deadline <= now]:
                lease.deadline = math.inf
                if lease.expire is not None:
                    try:
                        lease.expire()
                    except Exception:
                        log.exception("%s: closing a timed-out connection failed", self.name)
            self.summaries.tick()

    async def _accept(self, sock: socket.socket, admit: Admit) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, addr = await loop.sock_accept(sock)
            except OSError as exc:
                if not self._accept_failed(exc):
                    raise
                if self._drop_idle():
                    await asyncio.sleep(0)  # the dropped connection's descriptor is closed next turn
                else:
                    await self._pause()
                continue
            source = str(addr[0]) if isinstance(addr, tuple) else "?"
            lease = self._admission(conn, source)
            if lease is None:
                short = self._short_of_room(conn)
                conn.close()
                if short:
                    await self._pause()
                continue
            self._count("conn_accepted")
            task = asyncio.create_task(self._run(admit, conn, lease), name=f"{self.name}:{source}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            # One turn of the loop per admission: with a full backlog ``sock_accept`` returns at once,
            # and an idle connection dropped for this one (aborted: closed on the next turn) would
            # otherwise still hold its descriptor while the next is accepted, up to the limit.
            await asyncio.sleep(0)

    async def close(self) -> None:
        """Cancel admission tasks still running (the connections themselves are their owner's)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.summaries.flush()

    # --- decisions ---------------------------------------------------------------------------

    def _admission(self, conn: socket.socket, source: str) -> Lease | None:
        limits = self.limits
        if self._per_source[source] >= limits.max_connections_per_source:
            self._count("conn_refused_source")
            self.summaries.note(
                f"source cap {source}",
                "%s: refused connections from %s: it holds %d already (max_connections_per_source)",
                self.name,
                source,
                self._per_source[source],
            )
            return None
        crowded = len(self._leases) >= min(limits.max_connections, self._ceiling) or self._short_of_room(conn)
        if crowded and not self._drop_idle():
            self._count("conn_refused_full")
            self.summaries.note(
                "full",
                "%s: refused a connection from %s: %d open, none idle to drop (max_connections %d, "
                "file descriptors left %d)",
                self.name,
                source,
                len(self._leases),
                limits.max_connections,
                max(0, self._fd_limit() - conn.fileno() - 1),
            )
            return None
        lease = Lease(self, source)
        self._leases[lease] = None
        self._per_source[source] += 1
        return lease

    def _short_of_room(self, conn: socket.socket) -> bool:
        fileno = conn.fileno()
        if fileno < 0 or fileno + self.limits.fd_headroom < self._fd_limit():
            return False
        self._ceiling = min(self._ceiling, len(self._leases))
        return True

    def _drop_idle(self) -> bool:
        """Drop the oldest idle connection that never completed a request; only when there is none,
        the oldest kept-alive one (a PBX's keep-alive between two posts looks idle too, but a
        half-open flood must not cost it its connection: seen as a lost post under load)."""
        victim = next((lease for lease in self._idle() if not lease.proven), None)
        victim = victim or next(self._idle(), None)
        if victim is None or victim.abort is None:
            return False
        abort = victim.abort
        victim.release()
        abort()
        self._count("conn_dropped_idle")
        self.summaries.note(
            "dropped idle",
            "%s: dropped idle connections to make room (oldest first; latest from %s)",
            self.name,
            victim.source,
            level=logging.INFO,
        )
        return True

    def _idle(self) -> Iterator[Lease]:
        return (lease for lease in self._leases if lease.idle and lease.abort is not None)

    def _accept_failed(self, exc: OSError) -> bool:
        if exc.errno not in _OUT_OF_RESOURCES and exc.errno not in (errno.ECONNABORTED, errno.EPROTO):
            return False
        self._count("conn_accept_errors")
        self.summaries.note(
            f"accept {exc.errno}",
            "%s: accept failed: %s (%d connections open here)",
            self.name,
            exc.strerror or exc,
            len(self._leases),
        )
        return exc.errno in _OUT_OF_RESOURCES

    async def _pause(self) -> None:
        self._released.clear()
        await sleep_or_wake(self._clock, PAUSE_SECONDS, self._released)

    # --- bookkeeping -------------------------------------------------------------------------

    async def _run(self, admit: Admit, conn: socket.socket, lease: Lease) -> None:
        try:
            await admit(conn, lease)
        except Exception:
            log.exception("%s: connection from %s failed", self.name, lease.source)
        finally:
            if lease.abort is None:  # the handler never took the socket over
                conn.close()
                lease.release()

    def _release(self, lease: Lease) -> None:
        if self._leases.pop(lease, 0) is None:
            left = self._per_source[lease.source] - 1
            if left > 0:
                self._per_source[lease.source] = left
            else:
                del self._per_source[lease.source]
            if len(self._leases) <= self._ceiling / 2:
                self._ceiling = math.inf  # the flood is over: the descriptor test alone again
        self._released.set()

    def _count(self, key: str) -> None:
        self.counters[key] = self.counters.get(key, 0) + 1


async def admit_stream(conn: socket.socket, limit: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """An accepted socket as asyncio streams (for line protocols behind a gate)."""
    with contextlib.suppress(OSError):
        conn.setblocking(False)
    return await asyncio.open_connection(sock=conn, limit=limit)
