"""Small helpers for the Teams-side tests: token providers and driving a fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx

from bridge.kit.clock import FakeClock

T = TypeVar("T")

CLIENT_ID = "22553876-f5ab-4529-bffb-cfe50aa89f87"


class StaticTokenProvider:
    """Hands out ``token-<n>``; ``invalidate()`` moves to the next one (a fresh token)."""

    def __init__(self) -> None:
        self.generation = 1
        self.invalidations = 0

    async def token(self) -> str:
        return f"token-{self.generation}"

    def invalidate(self) -> None:
        self.invalidations += 1
        self.generation += 1


class EmulatorTokenProvider:
    """Client-credentials tokens from the emulator's token endpoint (no msal), cached until invalidated."""

    def __init__(self, http: httpx.AsyncClient, token_url: str, client_id: str, secret: str) -> None:
        self._http = http
        self._url = token_url
        self._form = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            "scope": "https://graph.microsoft.com/.default",
        }
        self._token: str | None = None
        self.fetches = 0

    async def token(self) -> str:
        if self._token is None:
            response = await self._http.post(self._url, data=self._form)
            response.raise_for_status()
            self._token = str(response.json()["access_token"])
            self.fetches += 1
        return self._token

    def invalidate(self) -> None:
        self._token = None


async def drive(
    clock: FakeClock, coro: Coroutine[Any, Any, T], *, step: float = 0.25, limit: float = 3600
) -> T:
    """Run ``coro`` while advancing the fake clock in steps until it finishes (or ``limit`` passes)."""
    task = asyncio.ensure_future(coro)
    waited = 0.0
    await clock.settle()
    while not task.done():
        if waited > limit:
            task.cancel()
            raise AssertionError(f"still running after {limit} simulated seconds")
        await clock.advance(step)
        waited += step
    return task.result()
