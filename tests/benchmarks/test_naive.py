"""The naive baseline does what the integrations it stands for do: a write per event, Available on hang-up."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from benchmarks.naive import NaiveBridge, fetch_token, router
from benchmarks.population import bridge_config, people, users
from bridge.emulator.app import Emulator, create_app
from bridge.emulator.config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, EmulatorConfig
from bridge.kit.clock import FakeClock
from bridge.model import LineState, StateChange, Toggle


async def test_naive_writes_once_per_event_and_available_on_hang_up() -> None:
    population = people(3)
    config = bridge_config(population)
    tenant = next(iter(config.tenants.values()))
    clock = FakeClock(datetime(2026, 11, 28, 10, 0, tzinfo=UTC))
    async with Emulator(EmulatorConfig(users=users(population), rate_limit=3), clock) as emu:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(emu))) as http:
            authority = f"{tenant.authority}/{tenant.tenant_id}"
            token = await fetch_token(http, authority, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
            naive = NaiveBridge(http, tenant.graph_url, token, DEFAULT_CLIENT_ID, router(config))
            desk = population[0].endpoints[0]
            await naive.handle(StateChange(desk, line=LineState.IN_CALL))
            await naive.handle(StateChange(desk, line=LineState.IN_CALL))
            await naive.handle(StateChange(desk, line=LineState.IDLE))
            shown = emu.state.describe(population[0].object_id, clock.now())["sessions"][DEFAULT_CLIENT_ID]
            assert (shown["availability"], shown["activity"]) == ("Available", "Available")
            naive.submit(StateChange(desk, dnd=Toggle.ON))
            await naive.drain()
    assert naive.counters["writes"] == 4
    assert naive.counters["ok"] == 3 and naive.counters["throttled"] == 1
