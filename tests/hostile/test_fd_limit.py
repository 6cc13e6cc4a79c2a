"""The CTI listener in a child process with a small open-file limit, flooded past it.

What a user would notice if this broke: with the common limit of 1,024, a few more half-open
connections than that stopped good CTI posts and Graph writes and wrote 119 MB of
"socket.accept() out of system resource" in 23 s (issue 11). Here: limit 256, 300 attack
connections; good posts keep being answered fast and the child writes a handful of lines.
"""

from __future__ import annotations

from benchmarks.hostile_listener import scenario


async def test_good_posts_flow_and_the_log_stays_small_past_the_open_file_limit() -> None:
    latency, log_growth = await scenario("fd_256", 256, True, 300, 5, 50)
    assert latency.value < 500, latency.note  # ms; the benchmark's bar (100 ms) is for a quiet machine
    assert log_growth.value < 20_000, log_growth.note  # bytes
    assert latency.extra["conn_dropped_idle"] > 0, "the flood never reached the descriptor headroom"
