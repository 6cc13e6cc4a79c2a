"""Helpers for end-to-end tests: wait on the emulator's own change events, never on a timer."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from datetime import datetime

from adapters.base import Health
from bridge.emulator.app import Emulator
from bridge.kit.clock import FakeClock
from bridge.teams.publisher import Publisher

WAIT_LIMIT = 20.0  # real seconds; a bound, not a wait: the event normally arrives in milliseconds


async def eventually(predicate: Callable[[], bool], limit: float = WAIT_LIMIT) -> None:
    """A bound on real time for work already due on the fake clock (a task must run), not a wait."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError("the condition did not come true")
        await asyncio.sleep(0.01)


async def confirmed(publisher: Publisher, person_id: str, pair: object) -> None:
    """Until the bridge has Graph's answer to its write for ``person_id`` (the emulator changes
    state before the answer reaches us: a stop in between leaves the write unconfirmed, and the
    next start sends it again, which an exact write count would see)."""

    def answered() -> bool:
        view = publisher.view(person_id)
        return view.sent_session == pair and not view.pending

    await eventually(answered)


async def until(emulator: Emulator, predicate: Callable[[], bool], limit: float = WAIT_LIMIT) -> None:
    """Wait until ``predicate()`` holds, re-checking after every mutation of the emulator's state."""
    changed = asyncio.Event()
    emulator.state.add_schedule_listener(changed.set)
    async with asyncio.timeout(limit):
        while not predicate():
            changed.clear()
            await changed.wait()


def our_writes(emulator: Emulator, user_id: str) -> list[str]:
    """The presence writes the emulator received for one user, in order (path tails)."""
    writes = []
    for entry in emulator.journal.entries():
        path = str(entry["path"])
        if user_id in path and entry["method"] == "POST" and "/presence/" in path and entry["status"] == 200:
            writes.append(path.rsplit("/", 1)[-1])
    return writes


def our_session(emulator: Emulator, user_id: str, session_id: str, now: datetime) -> dict[str, object] | None:
    """Our session for a user as the emulator holds it (None: no session of ours)."""
    sessions = emulator.state.describe(user_id, now)["sessions"]
    return sessions.get(session_id) if isinstance(sessions, dict) else None


async def live_through(
    emulator: Emulator,
    clock: FakeClock,
    user_id: str,
    session_id: str,
    seconds: float,
    *,
    expiry: float = 900,
) -> int:
    """Advance the shared fake clock minute by minute for ``seconds``; after each minute, wait until
    our session has at least ``expiry - 300`` s left (a refresh due is in flight over real HTTP
    and takes real milliseconds). Fails if the session lapses. Returns how many refreshes came."""
    refreshes: set[str] = set()
    done = 0.0
    while done < seconds:
        await clock.advance(60)
        done += 60

        def fresh(elapsed: float = done) -> bool:
            session = our_session(emulator, user_id, session_id, clock.now())
            assert session is not None, f"our session lapsed after {elapsed:.0f} s"
            left = datetime.fromisoformat(str(session["expiresAt"])) - clock.now()
            refreshes.add(str(session["lastRefresh"]))
            return left.total_seconds() >= expiry - 300

        await until(emulator, fresh)
    return len(refreshes) - 1


async def health_becomes(publisher: Publisher, health: Health, limit: float = WAIT_LIMIT) -> None:
    """Wait for a publisher's health transition (its listener hook), bounded by ``limit``."""
    reached = asyncio.Event()
    publisher.health_listeners.append(lambda h: reached.set() if h is health else None)
    if publisher.health is not health:
        async with asyncio.timeout(limit):
            await reached.wait()


CLI_LIMIT = 90.0


async def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    base = {k: v for k, v in os.environ.items() if k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bridge.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**base, **(env or {})},
    )
    out, err = await asyncio.wait_for(proc.communicate(), CLI_LIMIT)
    return proc.returncode or 0, out.decode(), err.decode()
