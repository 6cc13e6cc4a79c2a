"""The page's event stream on a fake clock (issue 14): it opens with the whole table, then sends
only the rows that changed, and a header whose counts follow; a quiet table sends nothing but a
keep-alive comment now and then."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from bridge.demo import running_service
from bridge.presence import IN_A_CALL
from bridge.runtime.page_feed import KEEPALIVE_SECONDS, PageFeed
from tests.page.support import assert_nothing_secret
from tests.runtime.rig import ID, bridge_config, emulator, new_clock, send
from tests.runtime.support import until


def parse(chunk: str) -> tuple[str, object]:
    fields = dict(line.split(": ", 1) for line in chunk.strip().splitlines() if ": " in line)
    return fields["event"], json.loads(fields["data"])


async def test_the_stream_sends_the_table_then_only_what_changed(tmp_path: Path) -> None:
    clock = new_clock()
    async with emulator(tmp_path, clock) as handle:
        async with running_service(bridge_config(handle, tmp_path), clock) as service:
            stream = PageFeed(service).stream()
            kind, snapshot = parse(await anext(stream))
            assert kind == "snapshot" and isinstance(snapshot, dict)
            assert [row["person"] for row in snapshot["rows"]] == ["Alice", "Bob", "Carol", "Dave", "Erin"]
            assert snapshot["header"]["counts"] == {"call": 0, "dnd": 0, "problem": 0}

            await send(service.adapters["pbx"], "1001", line="in_call")
            await until(handle.emulator, lambda: handle.emulator.presence_of(ID["Alice"]) == IN_A_CALL)
            following = asyncio.ensure_future(anext(stream))
            await clock.advance(1.0)
            rows_event = await following
            header_event = await anext(stream)
            assert_nothing_secret(rows_event + header_event)

            quiet = asyncio.ensure_future(anext(stream))
            await clock.advance(KEEPALIVE_SECONDS + 1)
            keepalive = await quiet
            await stream.aclose()
    kind, rows = parse(rows_event)
    assert kind == "rows" and isinstance(rows, dict)
    assert list(rows) == ["0"]  # Alice's row only
    assert rows["0"]["pbx"] == "in_call" and rows["0"]["lamp"] == "busy" and rows["0"]["flags"] == ["call"]
    kind, header = parse(header_event)
    assert kind == "header" and isinstance(header, dict) and header["counts"]["call"] == 1
    assert keepalive.startswith(":")
