"""A publisher wired to the fake Graph (or any transport), the fake clock and an in-memory store."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import httpx

from bridge.kit.clock import FakeClock
from bridge.runtime.store import StateStore
from bridge.teams.budget import Budget
from bridge.teams.graph import GraphClient, TokenProvider
from bridge.teams.publisher import Publisher

from .fake_graph import FakeGraph
from .helpers import CLIENT_ID, StaticTokenProvider

TENANT = "contoso"


@dataclass
class Rig:
    clock: FakeClock
    fake: FakeGraph
    graph: GraphClient
    budget: Budget
    store: StateStore
    pub: Publisher
    tokens: TokenProvider

    async def settle(self, seconds: float = 1.0, step: float = 0.5) -> None:
        for _ in range(max(1, int(seconds / step))):
            await self.clock.advance(step)


def build(
    clock: FakeClock,
    store: StateStore,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    fake: FakeGraph | None = None,
    tokens: TokenProvider | None = None,
    base_url: str = "https://graph.test/v1.0",
    budget_requests: int = 1200,
    refresh_share: float = 0.25,
    **publisher_kw: object,
) -> Rig:
    fake = fake or FakeGraph(clock)
    tokens = tokens or StaticTokenProvider()
    budget = Budget(clock, requests=budget_requests, refresh_share=refresh_share, refresh_interval=240.0)
    http = httpx.AsyncClient(transport=transport or fake.transport())
    graph = GraphClient(
        base_url,
        tokens,
        http,
        clock,
        random.Random(7),
        on_throttle=budget.throttled,
        before_retry=budget.acquire_retry,
    )
    pub = Publisher(
        tenant=TENANT,
        client_id=CLIENT_ID,
        graph=graph,
        budget=budget,
        store=store,
        clock=clock,
        session_expiry=timedelta(minutes=15),
        refresh_interval=240.0,
        **publisher_kw,  # type: ignore[arg-type]
    )
    return Rig(clock, fake, graph, budget, store, pub, tokens)


@contextlib.asynccontextmanager
async def running(rig: Rig) -> AsyncIterator[Rig]:
    task = asyncio.create_task(rig.pub.run())
    await rig.clock.settle()
    try:
        yield rig
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def started(**kw: object) -> AsyncIterator[Rig]:
    clock = FakeClock()
    with StateStore(":memory:") as store:
        async with running(build(clock, store, **kw)) as rig:  # type: ignore[arg-type]
            yield rig
