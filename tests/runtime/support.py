"""Helpers for end-to-end tests: wait on the emulator's own change events, never on a timer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bridge.emulator.app import Emulator

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
