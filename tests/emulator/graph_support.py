"""Shared set-up for the Graph endpoint tests: an emulator on a FakeClock, an httpx client over
ASGI, and bearer tokens fetched from the emulator's own token endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import httpx

from bridge.emulator.app import Emulator, create_app
from bridge.emulator.config import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    ROLE_READ,
    AppRegistration,
    EmulatorConfig,
    UserRecord,
)
from bridge.kit.clock import FakeClock

ADELE = "fa8bf3dc-eca7-46b7-bad1-db199b62afc3"
BOB = "66825e03-7ef5-42da-9069-724602c31f6b"
READER = "11111111-2222-3333-4444-555555555555"
NOBODY = "99999999-aaaa-bbbb-cccc-dddddddddddd"  # roles: none
WRITER = DEFAULT_CLIENT_ID
SECRETS = {WRITER: DEFAULT_CLIENT_SECRET, READER: "reader-secret", NOBODY: "nobody-secret"}
BASE = "https://graph.test"


def make_config(**changes: Any) -> EmulatorConfig:
    config = EmulatorConfig(
        apps=(
            AppRegistration(WRITER, secret=SECRETS[WRITER]),
            AppRegistration(READER, secret=SECRETS[READER], roles=frozenset({ROLE_READ})),
            AppRegistration(NOBODY, secret=SECRETS[NOBODY], roles=frozenset()),
        ),
        users=(
            UserRecord(ADELE, "adele@contoso.test", "Adele Vance", ("+1 425 555 0109",)),
            UserRecord(BOB, "bob@contoso.test", "Bob Kelly"),
        ),
    )
    return replace(config, **changes)


@dataclass
class Harness:
    emu: Emulator
    clock: FakeClock
    client: httpx.AsyncClient
    _tokens: dict[str, str]

    async def token(self, app: str = WRITER) -> str:
        if app not in self._tokens:
            tenant = self.emu.config.tenant_id
            response = await self.client.post(
                f"/{tenant}/oauth2/v2.0/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": app,
                    "client_secret": SECRETS[app],
                    "scope": "https://graph.microsoft.com/.default",
                },
            )
            assert response.status_code == 200, response.text
            self._tokens[app] = response.json()["access_token"]
        return self._tokens[app]

    async def call(self, method: str, path: str, body: Any = None, *, app: str = WRITER) -> httpx.Response:
        headers = {"Authorization": f"Bearer {await self.token(app)}"}
        return await self.client.request(method, f"/v1.0{path}", json=body, headers=headers)

    async def set_presence(
        self, user: str, availability: str, activity: str, duration: str | None = None, *, app: str = WRITER
    ) -> httpx.Response:
        body = {"sessionId": app, "availability": availability, "activity": activity}
        if duration:
            body["expirationDuration"] = duration
        return await self.call("POST", f"/users/{user}/presence/setPresence", body, app=app)

    async def shown(self, user: str) -> str:
        response = await self.call("GET", f"/users/{user}/presence")
        assert response.status_code == 200, response.text
        return f"{response.json()['availability']}/{response.json()['activity']}"

    async def admin(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return await self.client.request(method, f"/_emulator{path}", json=body)


@asynccontextmanager
async def harness(
    config: EmulatorConfig | None = None, *, http: httpx.AsyncClient | None = None, ticker: bool = False
) -> AsyncIterator[Harness]:
    clock = FakeClock()
    emu = Emulator(config or make_config(), clock, http=http)
    transport = httpx.ASGITransport(app=create_app(emu))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        if ticker:
            await emu.start()
        try:
            yield Harness(emu, clock, client, {})
        finally:
            await emu.aclose()
