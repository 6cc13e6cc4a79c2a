"""A ``FakeClock`` that follows real time, for tests where a real PBX and the bridge run together.

The lab (Kamailio, pyVoIP phones) runs on real time; the bridge's timers (the SIP adapter's
retransmissions and refreshes, the idle hold, the Graph refresh) run on the ``FakeClock`` shared
with the emulator. ``following_real_time`` moves that clock forward by the real time that passed,
every few milliseconds, while its block runs: a 3 s idle hold then takes 3 real seconds, and a
SUBSCRIBE is never retransmitted before loopback could answer. Waits in the block are bounded
deadlines on real time (``until``), never sleeps chosen to let something happen.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from bridge.kit.clock import FakeClock

STEP = 0.005  # real seconds between clock moves: the resolution of every timer in the test


@contextlib.asynccontextmanager
async def following_real_time(clock: FakeClock) -> AsyncIterator[None]:
    async def follow() -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(STEP)
            now = loop.time()
            await clock.advance(now - last)
            last = now

    task = asyncio.create_task(follow(), name="real-time clock")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
