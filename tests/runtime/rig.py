"""A Graph emulator over HTTPS plus a bridge configuration pointing at it (the demo's people)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bridge.config import BridgeConfig, load_config_text
from bridge.demo import PEOPLE, demo_yaml, setup_teams
from bridge.emulator.config import EmulatorConfig, UserRecord
from bridge.emulator.server import EmulatorHandle, run_emulator
from bridge.kit.clock import FakeClock

TOKEN = "rig-cti-token-0123456789"
USERS = tuple(UserRecord(p.object_id, f"{p.name.lower()}@demo.example", p.name) for p in PEOPLE)
ID = {p.name: p.object_id for p in PEOPLE}


def new_clock() -> FakeClock:
    return FakeClock(datetime.now(UTC))


@contextlib.asynccontextmanager
async def emulator(tmp: Path, clock: FakeClock, **config: object) -> AsyncIterator[EmulatorHandle]:
    async with run_emulator(
        EmulatorConfig(users=USERS, **config),  # type: ignore[arg-type]
        clock=clock,
        state_dir=tmp / "emu",
    ) as handle:
        await setup_teams(handle)
        yield handle


def bridge_yaml(handle: EmulatorHandle, tmp: Path) -> str:
    return demo_yaml(handle, TOKEN, tmp / "state.db")


def bridge_config(handle: EmulatorHandle, tmp: Path) -> BridgeConfig:
    return load_config_text(bridge_yaml(handle, tmp), "<rig>", environ={})


async def send(service_adapter: object, extension: str, **fields: object) -> None:
    host, port = service_adapter.http_address  # type: ignore[attr-defined]
    async with httpx.AsyncClient(trust_env=False) as client:
        response = await client.post(
            f"http://{host}:{port}/cti/events",
            json={"extension": extension, **fields},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        response.raise_for_status()


async def post(adapter: object, body: object) -> httpx.Response:
    """POST a CTI body to a running generic CTI adapter's HTTP listener, with the rig's token."""
    host, port = adapter.http_address  # type: ignore[attr-defined]
    async with httpx.AsyncClient(trust_env=False, timeout=5) as client:
        return await client.post(
            f"http://{host}:{port}/cti/events", json=body, headers={"Authorization": f"Bearer {TOKEN}"}
        )
