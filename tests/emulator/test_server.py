"""The in-process server runner: HTTPS on a free loopback port, clean shutdown."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from bridge.emulator.config import EmulatorConfig
from bridge.emulator.identity import Identity
from bridge.emulator.server import EmulatorStartError, run_emulator, serve_asgi
from bridge.emulator.tls import ensure_tls_files
from bridge.kit.clock import FakeClock


def identity_app() -> Starlette:
    return Starlette(routes=Identity(EmulatorConfig(), FakeClock()).routes)


async def test_serves_https_on_a_free_loopback_port_trusted_via_the_ca(tmp_path: Path) -> None:
    tls = ensure_tls_files(tmp_path)
    tenant = EmulatorConfig().tenant_id
    async with serve_asgi(identity_app(), tls_files=tls) as served:
        assert served.base_url.startswith("https://127.0.0.1:")
        trust = ssl.create_default_context(cafile=str(tls.ca_file))
        async with httpx.AsyncClient(verify=trust, trust_env=False, timeout=5) as client:
            discovery = f"{served.base_url}/{tenant}/v2.0/.well-known/openid-configuration"
            doc = (await client.get(discovery)).json()
        assert doc["token_endpoint"] == f"{served.base_url}/{tenant}/oauth2/v2.0/token"
        async with httpx.AsyncClient(trust_env=False, timeout=5) as untrusting:
            with pytest.raises(httpx.ConnectError):
                await untrusting.get(served.base_url + "/")


async def test_port_is_released_on_exit(tmp_path: Path) -> None:
    async with serve_asgi(identity_app(), tls_files=None) as served:
        port = int(served.base_url.rsplit(":", 1)[1])
        assert served.base_url == f"http://127.0.0.1:{port}"
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient(trust_env=False, timeout=2) as client:
            await client.get(served.base_url + "/")
    with socket.socket() as probe:  # nothing left listening: the port can be bound again
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))


async def test_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(EmulatorStartError, match=f"127.0.0.1:{port}"):
            async with serve_asgi(identity_app(), tls_files=None, port=port):
                pass


async def test_run_emulator_yields_the_urls_a_bridge_needs() -> None:
    config = EmulatorConfig()
    async with run_emulator(config, clock=FakeClock()) as handle:
        assert handle.authority_url == f"{handle.base_url}/{config.tenant_id}"
        assert handle.graph_url == f"{handle.base_url}/v1.0"
        assert handle.admin_url == f"{handle.base_url}/_emulator"
        assert handle.ca_file is not None and handle.ca_file.exists()
        trust = ssl.create_default_context(cafile=str(handle.ca_file))
        async with httpx.AsyncClient(verify=trust, trust_env=False, timeout=5) as client:
            unauthenticated = await client.get(f"{handle.graph_url}/users/someone/presence")
        assert unauthenticated.status_code == 401
        assert unauthenticated.json()["error"]["code"] == "InvalidAuthenticationToken"
        ca_file = handle.ca_file
    assert not ca_file.exists()  # no state dir given: temporary TLS material is removed
