"""A large batch goes to the core in slices, so another client's small request gets in meanwhile.

What a user would notice if this broke: one 256 KiB body of 6,166 valid events held every other
request back (the PBX's next call, ``/healthz``) for up to 4 s while the core digested it
(issue 11). Here one client posts 5,000 events; once the core has the first of them, a second
client (another address) finishes its small request, whose first bytes were already sent. Its
event must reach the core while the big batch is still being handed on, its answer must come
quickly, and the big batch must arrive whole and in order around it. Handing the batch on in
one piece puts the small event after all 5,000.
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx

from bridge.kit.clock import FakeClock
from bridge.model import StateChange
from tests.adapters.generic_cti.harness import TOKEN, make_adapter, url
from tests.hostile.rig import until

BATCH = 5000  # about 200 KiB: under the default body limit (256 KiB)
SMALL = "4242"
ANSWER_SECONDS = 1.0  # generous for a loaded 2-core machine


async def test_a_small_request_gets_in_while_a_big_batch_is_handed_on() -> None:
    adapter = make_adapter(FakeClock(), tcp_listen=None)
    await adapter.start()
    big = [str(100000 + n) for n in range(BATCH)]
    seen: list[str] = []  # extensions in the order the core receives them
    first = asyncio.Event()

    async def core() -> None:
        async for item in adapter.events():
            if isinstance(item, StateChange):
                seen.append(item.endpoint.extension)
                first.set()

    consumer = asyncio.create_task(core())
    try:
        await until(lambda: adapter.http_address is not None, "the listener bound")
        host, port = adapter.http_address or ("", 0)
        body = json.dumps({"extension": SMALL, "line": "in_call"}).encode()
        head = (
            f"POST /cti/events HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        reader, writer = await asyncio.open_connection(host, port, local_addr=("127.0.0.2", 0))
        writer.write(head + body[:-1])  # the small request, all but its last byte
        await writer.drain()

        events = [{"extension": extension, "line": "in_call"} for extension in big]
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(timeout=10) as client:
            posting = asyncio.create_task(client.post(url(adapter), json=events, headers=headers))
            await asyncio.wait_for(first.wait(), 10)
            writer.write(body[-1:])  # the core has the batch's first event: finish the small one
            started = time.perf_counter()
            status_line = await asyncio.wait_for(reader.readline(), 5)
            answered = time.perf_counter() - started
            response = await posting
        writer.close()

        assert status_line.startswith(b"HTTP/1.1 202"), status_line
        assert answered < ANSWER_SECONDS
        assert response.status_code == 202 and response.json()["accepted"] == BATCH
        await until(lambda: len(seen) == BATCH + 1, "every event at the core")
        assert [extension for extension in seen if extension != SMALL] == big  # whole, in order
        # in the first half of the batch (here: after 7 slices of 256); in one piece, after all of it
        assert seen.index(SMALL) < BATCH // 2, f"the small event came after {seen.index(SMALL)} of the batch"
    finally:
        await adapter.stop()
        await asyncio.wait_for(consumer, 5)
