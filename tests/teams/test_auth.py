"""The bridge's msal token provider against the emulator, with real msal over HTTPS."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bridge.errors import ConfigError, GraphAuthError, GraphUnavailable
from bridge.teams.auth import MsalTokenProvider
from tests.emulator.identity_server import (
    APP_CERT,
    CERT_APP,
    READER_APP,
    SECRET,
    SECRET_APP,
    TENANT,
    RunningIdentity,
    running_identity,
)


@pytest.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[RunningIdentity]:
    async with running_identity(tmp_path) as running:
        yield running


def provider(emulator: RunningIdentity, **kwargs: object) -> MsalTokenProvider:
    options: dict[str, object] = {
        "tenant_id": TENANT,
        "client_id": SECRET_APP,
        "authority_base": emulator.base_url,
        "ca_file": str(emulator.ca_file),
    }
    if "certificate_pem" not in kwargs:
        options["secret"] = SECRET
    options.update(kwargs)
    return MsalTokenProvider(**options)  # type: ignore[arg-type]


async def test_secret_credential_gets_a_token_graph_accepts(emulator: RunningIdentity) -> None:
    tokens = provider(emulator)
    token = await tokens.token()
    principal = emulator.identity.principal(f"Bearer {token}")
    assert principal.client_id == SECRET_APP
    assert tokens.roles() == frozenset({"Presence.ReadWrite.All", "Presence.Read.All", "User.Read.All"})
    expires = tokens.expires_at()
    assert expires is not None
    assert abs(expires - (datetime.now(UTC) + timedelta(seconds=3599))) < timedelta(seconds=60)
    tokens.close()


async def test_certificate_credential_gets_a_token(emulator: RunningIdentity) -> None:
    tokens = provider(emulator, client_id=CERT_APP, certificate_pem=APP_CERT.combined_pem)
    token = await tokens.token()
    assert emulator.identity.principal(f"Bearer {token}").client_id == CERT_APP
    tokens.close()


async def test_check_sees_missing_roles(emulator: RunningIdentity) -> None:
    tokens = provider(emulator, client_id=READER_APP)
    await tokens.token()
    assert tokens.roles() == frozenset({"Presence.Read.All"})
    tokens.close()


async def test_token_is_reused_until_invalidated(emulator: RunningIdentity) -> None:
    tokens = provider(emulator)
    first = await tokens.token()
    second = await tokens.token()
    assert second == first
    assert emulator.token_requests == 1  # the second call never reached the identity platform
    tokens.invalidate()
    third = await tokens.token()
    assert third != first
    assert emulator.token_requests == 2
    assert tokens.stats() == {"token_requests": 2, "cache_hits": 1, "failures": 0}
    tokens.close()


async def test_wrong_secret_is_an_auth_error_without_the_secret(emulator: RunningIdentity) -> None:
    wrong = "not-the-" + SECRET
    tokens = provider(emulator, secret=wrong)
    with pytest.raises(GraphAuthError) as caught:
        await tokens.token()
    assert caught.value.code == "invalid_client"
    assert "AADSTS7000215" in str(caught.value)
    assert wrong not in str(caught.value) and wrong not in repr(tokens)
    tokens.close()


async def test_wrong_certificate_is_an_auth_error(emulator: RunningIdentity) -> None:
    from tests.emulator.client_certs import make_app_certificate

    tokens = provider(emulator, client_id=CERT_APP, certificate_pem=make_app_certificate().combined_pem)
    with pytest.raises(GraphAuthError) as caught:
        await tokens.token()
    assert caught.value.code == "invalid_client"
    tokens.close()


async def test_unknown_tenant_is_an_auth_error(emulator: RunningIdentity) -> None:
    tokens = provider(emulator, tenant_id="99999999-0000-0000-0000-000000000000")
    with pytest.raises(GraphAuthError, match="refused"):
        await tokens.token()
    tokens.close()


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_DIR"])
async def test_ca_bundle_environment_does_not_override_our_ca(
    emulator: RunningIdentity, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str
) -> None:
    bogus = tmp_path / "bogus-bundle.pem"
    bogus.write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    monkeypatch.setenv(variable, str(bogus))
    tokens = provider(emulator)
    assert await tokens.token()
    tokens.close()


async def test_environment_proxy_is_not_used(
    emulator: RunningIdentity, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # discard port: would fail if used
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    tokens = provider(emulator)
    assert await tokens.token()
    tokens.close()


async def test_untrusted_server_certificate_is_unavailable_not_accepted(emulator: RunningIdentity) -> None:
    tokens = provider(emulator, ca_file=None)  # system trust store does not know the emulator's CA
    with pytest.raises(GraphUnavailable, match="unreachable"):
        await tokens.token()
    tokens.close()


async def test_unreachable_identity_platform_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    tokens = MsalTokenProvider(
        tenant_id=TENANT, client_id=SECRET_APP, authority_base=f"https://127.0.0.1:{port}", secret=SECRET
    )
    with pytest.raises(GraphUnavailable):
        await tokens.token()
    tokens.close()


def test_exactly_one_credential_is_required() -> None:
    with pytest.raises(ConfigError):
        MsalTokenProvider(tenant_id=TENANT, client_id=SECRET_APP, authority_base="https://x")
    with pytest.raises(ConfigError):
        MsalTokenProvider(
            tenant_id=TENANT,
            client_id=SECRET_APP,
            authority_base="https://x",
            secret=SECRET,
            certificate_pem=APP_CERT.combined_pem,
        )


def test_certificate_without_private_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="private key"):
        MsalTokenProvider(
            tenant_id=TENANT,
            client_id=CERT_APP,
            authority_base="https://x",
            certificate_pem=APP_CERT.cert_pem,
        )


async def test_configured_proxy_is_used(emulator: RunningIdentity) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_proxy = f"http://127.0.0.1:{probe.getsockname()[1]}"
    tokens = provider(emulator, proxy=dead_proxy)  # nothing listens there: the request must fail
    with pytest.raises(GraphUnavailable):
        await tokens.token()
    tokens.close()
