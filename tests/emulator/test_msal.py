"""Real msal against the emulator's identity platform: the traps it must reproduce faithfully."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import msal
import pytest

from bridge.teams.auth_http import MsalHttpClient
from tests.emulator.identity_server import (
    APP_CERT,
    CERT_APP,
    SECRET,
    SECRET_APP,
    TENANT,
    RunningIdentity,
    running_identity,
)

SCOPES = ["https://graph.microsoft.com/.default"]


@pytest.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[RunningIdentity]:
    async with running_identity(tmp_path) as running:
        yield running


def cert_credential() -> dict[str, str]:
    return {"private_key": APP_CERT.key_pem.decode(), "public_certificate": APP_CERT.cert_pem.decode()}


def trusting_httpx(emulator: RunningIdentity) -> httpx.Client:
    return httpx.Client(verify=ssl.create_default_context(cafile=str(emulator.ca_file)), trust_env=False)


async def test_plain_httpx_corrupts_the_certificate_assertion(emulator: RunningIdentity) -> None:
    def acquire(http_client: object) -> dict[str, object]:
        app = msal.ConfidentialClientApplication(
            CERT_APP, client_credential=cert_credential(), authority=f"{emulator.base_url}/{TENANT}",
            http_client=http_client, instance_discovery=False, azure_region=False,
        )
        return app.acquire_token_for_client(SCOPES)

    with trusting_httpx(emulator) as raw:
        broken = await asyncio.to_thread(acquire, raw)
    assert broken.get("error") == "invalid_client"  # the b'...' assertion is malformed
    assert broken.get("error_codes") == [50027]
    with trusting_httpx(emulator) as raw:
        fixed = await asyncio.to_thread(acquire, MsalHttpClient(raw))
    assert "access_token" in fixed


async def test_msal_instance_discovery_through_the_emulator(emulator: RunningIdentity) -> None:
    def acquire() -> dict[str, object]:
        with trusting_httpx(emulator) as raw:
            app = msal.ConfidentialClientApplication(
                SECRET_APP, client_credential=SECRET, authority=f"{emulator.base_url}/{TENANT}",
                http_client=MsalHttpClient(raw), azure_region=False,
                instance_discovery=f"{emulator.base_url}/common/discovery/instance",
            )
            return app.acquire_token_for_client(SCOPES)

    result = await asyncio.to_thread(acquire)
    assert "access_token" in result
    assert emulator.identity.principal(f"Bearer {result['access_token']}").client_id == SECRET_APP
