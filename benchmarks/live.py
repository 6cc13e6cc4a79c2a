"""A live bridge for the end-to-end benchmarks: the Graph emulator over HTTPS on loopback, real msal,
the bridge service, and the generic CTI ingress over HTTP, all in this process and event loop.

Waits are on the emulator's own change events (bounded in real time), never on a timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks.population import Person, config_yaml, users
from bridge.config import load_config_text
from bridge.demo import running_service
from bridge.emulator.app import Emulator
from bridge.emulator.config import EmulatorConfig
from bridge.emulator.server import EmulatorHandle, run_emulator
from bridge.errors import BridgeError
from bridge.kit.clock import Clock
from bridge.runtime.service import BridgeService

CTI_TOKEN = "bench-cti-token-0123456789"
WAIT_LIMIT = 20.0  # real seconds: a bound, not a wait


class BenchmarkError(BridgeError):
    """A benchmark could not run (the bridge did not do what the scenario needs in time)."""


@dataclass
class Live:
    handle: EmulatorHandle
    service: BridgeService
    cti: httpx.AsyncClient
    cti_url: str

    @property
    def emulator(self) -> Emulator:
        return self.handle.emulator

    async def send(self, extension: str, **fields: Any) -> None:
        """POST one CTI event and wait (bounded) until the engine has handled it."""
        handled = self.service.engine.counters["events"]
        await self.post(extension, **fields)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_LIMIT
        while self.service.engine.counters["events"] <= handled:
            if loop.time() > deadline:
                raise BenchmarkError(f"the engine never handled the event for {extension}")
            await asyncio.sleep(0)

    async def post(self, extension: str, **fields: Any) -> None:
        """POST one CTI event; returns once the ingress accepted it."""
        response = await self.cti.post(self.cti_url, json={"extension": extension, **fields})
        response.raise_for_status()

    def writes(self, user_id: str) -> list[str]:
        """Presence writes the emulator accepted for one user, in order (path tails)."""
        return [
            str(e["path"]).rsplit("/", 1)[-1]
            for e in self.emulator.journal.entries()
            if f"/users/{user_id}/" in str(e["path"]) and e["method"] == "POST" and e["status"] == 200
        ]

    async def until(self, predicate: Callable[[], bool], what: str, limit: float = WAIT_LIMIT) -> None:
        """Wait until ``predicate()`` holds, re-checking after every change of the emulator's state."""
        changed = asyncio.Event()
        self.emulator.state.add_schedule_listener(changed.set)
        try:
            async with asyncio.timeout(limit):
                while not predicate():
                    changed.clear()
                    await changed.wait()
        except TimeoutError as exc:
            raise BenchmarkError(f"timed out after {limit:.0f} s waiting for {what}") from exc

    async def until_idle(self, limit: float = WAIT_LIMIT) -> None:
        """Wait (bounded, polling the loop) until no Graph work is pending in the bridge."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while not self.service.idle():
            if loop.time() > deadline:
                raise BenchmarkError("the bridge still had Graph work pending")
            await asyncio.sleep(0.001)


@contextlib.asynccontextmanager
async def live_bridge(
    population: tuple[Person, ...],
    clock: Clock,
    *,
    budget_requests: int = 1200,
    emulator_limit: int = 1500,
    mapping: str = "",
) -> AsyncIterator[Live]:
    """``mapping``: a top-level ``mapping:`` section added to the bridge's YAML, as written."""
    config_emu = EmulatorConfig(users=users(population), rate_limit=emulator_limit)
    with tempfile.TemporaryDirectory(prefix="presence-bridge-bench-") as tmp:
        async with run_emulator(config_emu, clock=clock, state_dir=Path(tmp)) as handle:
            text = (
                config_yaml(
                    population,
                    authority=handle.base_url,
                    graph_url=handle.graph_url,
                    ca_file=handle.ca_file,
                    budget_requests=budget_requests,
                    state_path=str(Path(tmp) / "state.db"),
                    cti_token=CTI_TOKEN,
                )
                + mapping
            )
            config = load_config_text(text, "<benchmark>", environ={})
            async with running_service(config, clock) as service:
                host, port = service.adapters["pbx"].http_address  # type: ignore[attr-defined]
                headers = {"Authorization": f"Bearer {CTI_TOKEN}"}
                async with httpx.AsyncClient(trust_env=False, headers=headers, timeout=10.0) as cti:
                    yield Live(handle, service, cti, f"http://{host}:{port}/cti/events")
