"""Helpers for end-to-end tests: wait on the emulator's own change events, never on a timer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from adapters.base import Health
from bridge.emulator.app import Emulator
from bridge.teams.publisher import Publisher

WAIT_LIMIT = 20.0  # real seconds; a bound, not a wait: the event normally arrives in milliseconds


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


def session_refreshed_at(emulator: Emulator, user_id: str, session_id: str, now: object) -> str | None:
    """When our session for a user was last written (None: no session of ours)."""
    sessions = emulator.state.describe(user_id, now)["sessions"]  # type: ignore[arg-type]
    session = sessions.get(session_id) if isinstance(sessions, dict) else None
    return str(session["lastRefresh"]) if session else None


async def live_through(
    emulator: Emulator, clock: object, user_id: str, session_id: str, seconds: float
) -> int:
    """Advance the shared fake clock by ``seconds`` one refresh at a time, waiting for each refresh
    to reach the emulator (real HTTP takes real milliseconds). Returns how many refreshes came."""
    step, done, refreshes = 60.0, 0.0, 0
    while done < seconds:
        before = session_refreshed_at(emulator, user_id, session_id, clock.now())  # type: ignore[attr-defined]
        await clock.advance(step)  # type: ignore[attr-defined]
        done += step
        if done % 240 == 0:  # the bridge refreshes every 4 minutes
            await until(
                emulator,
                lambda b=before: session_refreshed_at(emulator, user_id, session_id, clock.now()) != b,  # type: ignore[attr-defined]
            )
            refreshes += 1
    return refreshes


async def health_becomes(publisher: Publisher, health: Health, limit: float = WAIT_LIMIT) -> None:
    """Wait for a publisher's health transition (its listener hook), bounded by ``limit``."""
    reached = asyncio.Event()
    publisher.health_listeners.append(lambda h: reached.set() if h is health else None)
    if publisher.health is not health:
        async with asyncio.timeout(limit):
            await reached.wait()
