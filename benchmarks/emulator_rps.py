"""How many presence requests per second the Graph emulator serves over real HTTPS on loopback.

The emulator runs in a child process (its own interpreter and core); this process drives it
with keep-alive connections and a few concurrent workers, first with ``GET /users/{id}/presence``
then with ``setPresence``. The emulator's rate limit is raised so the number measures the
service, not its throttle. Run: ``python -m benchmarks.emulator_rps`` (about 10 s).
uvicorn serves with its pure-Python h11 parser (httptools/uvloop are not dependencies), so the
figure is a floor for the machine, not a ceiling of the design.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.connection
import os
import ssl
import time
from typing import Any

import httpx

from benchmarks.naive import fetch_token
from bridge.emulator.config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, EmulatorConfig, UserRecord

USER_ID = "0b4e4a4e-1a7c-4d2b-9a83-2f5b8e0d1c01"
WORKERS = 16
DURATION_SECONDS = 3.0
WARMUP_SECONDS = 0.5


def _config() -> EmulatorConfig:
    return EmulatorConfig(
        users=(UserRecord(USER_ID, "bench@contoso.test", "Bench"),),
        rate_limit=1_000_000_000,
    )


def _serve(conn: multiprocessing.connection.Connection) -> None:
    from bridge.emulator.server import run_emulator
    from bridge.kit.clock import SystemClock

    async def main() -> None:
        async with run_emulator(_config(), clock=SystemClock()) as handle:
            conn.send((handle.base_url, str(handle.ca_file)))
            await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # until told to stop

    asyncio.run(main())


async def _hammer(client: httpx.AsyncClient, send: Any, duration: float) -> tuple[float, int, int]:
    """Requests/second over ``duration`` seconds (after a warm-up), and the count of non-2xx answers."""
    counts = {"ok": 0, "bad": 0}
    measuring = False

    async def worker(stop_at: float) -> None:
        while time.perf_counter() < stop_at:
            response = await send(client)
            if measuring:
                counts["ok" if response.status_code < 300 else "bad"] += 1

    start = time.perf_counter()
    tasks = [asyncio.create_task(worker(start + WARMUP_SECONDS + duration)) for _ in range(WORKERS)]
    await asyncio.sleep(WARMUP_SECONDS)
    measuring = True
    began = time.perf_counter()
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - began
    return (counts["ok"] + counts["bad"]) / elapsed, counts["ok"], counts["bad"]


async def _measure(base_url: str, ca_file: str, duration: float) -> dict[str, float]:
    trust = ssl.create_default_context(cafile=ca_file)
    limits = httpx.Limits(max_connections=WORKERS, max_keepalive_connections=WORKERS)
    async with httpx.AsyncClient(verify=trust, trust_env=False, limits=limits, timeout=10) as client:
        token = await fetch_token(
            client, f"{base_url}/{EmulatorConfig().tenant_id}", DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
        )
        headers = {"Authorization": f"Bearer {token}"}
        presence = f"{base_url}/v1.0/users/{USER_ID}/presence"
        body = {
            "sessionId": DEFAULT_CLIENT_ID,
            "availability": "Busy",
            "activity": "InACall",
            "expirationDuration": "PT15M",
        }

        async def get(c: httpx.AsyncClient) -> httpx.Response:
            return await c.get(presence, headers=headers)

        async def post(c: httpx.AsyncClient) -> httpx.Response:
            return await c.post(f"{presence}/setPresence", headers=headers, json=body)

        get_rps, _, get_bad = await _hammer(client, get, duration)
        set_rps, _, set_bad = await _hammer(client, post, duration)
    return {
        "get_presence_rps": round(get_rps, 1),
        "set_presence_rps": round(set_rps, 1),
        "errors": float(get_bad + set_bad),
        "workers": float(WORKERS),
        "cpus": float(os.cpu_count() or 1),
    }


def main(quick: bool = False) -> dict[str, float]:
    """Measure (``quick``: 0.5 s per request kind instead of 3 s) and print one line."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    server = context.Process(target=_serve, args=(child,), daemon=True)
    server.start()
    try:
        if not parent.poll(30):
            raise RuntimeError("emulator did not start within 30 s")
        base_url, ca_file = parent.recv()
        result = asyncio.run(_measure(base_url, ca_file, 0.5 if quick else DURATION_SECONDS))
    finally:
        parent.send("stop")
        server.join(10)
        if server.is_alive():
            server.terminate()
            server.join(5)
    print(
        f"emulator_rps: GET presence {result['get_presence_rps']:.0f} req/s, "
        f"setPresence {result['set_presence_rps']:.0f} req/s over HTTPS loopback "
        f"({WORKERS} keep-alive connections, {result['cpus']:.0f} CPUs shared with the client, "
        f"{result['errors']:.0f} errors)"
    )
    return result


if __name__ == "__main__":
    main()
