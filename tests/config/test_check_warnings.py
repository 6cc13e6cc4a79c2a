"""``check`` warns about what the configuration exposes beyond this host (issue 11): secrets allowed
in the file, and every adapter listener not on loopback; it refuses a status listener not on
loopback without ``http.auth`` (issue 14)."""

from __future__ import annotations

import io

import pytest

from bridge.config import BridgeConfig, load_config_text
from bridge.runtime.check import check_tenants, config_refusals, config_warnings

ENV = {"GRAPH_SECRET": "graph-secret-value-1", "CTI_TOKEN": "cti-token-value-0123"}


def config(http: str = "127.0.0.1:9108", cti: str = "127.0.0.1:8089", tcp: str | None = None) -> BridgeConfig:
    tcp_line = f', tcp_listen: "{tcp}"' if tcp else ""
    text = (
        "tenants:\n  t1:\n    tenant_id: 3f2b9c7e-1d4a-4e8b-9a61-5c0d2e7f8a10\n"
        "    client_id: 6a1e0b52-8c3d-4f79-b2e4-0d9c7a5f1e38\n    client_secret: ${GRAPH_SECRET}\n"
        f'adapters:\n  pbx: {{kind: generic_cti, token: "${{CTI_TOKEN}}", http_listen: "{cti}"{tcp_line}}}\n'
        f'http:\n  listen: "{http}"\n'
    )
    return load_config_text(text, "bridge.yaml", environ=ENV)


# (listen address, warned?): loopback is 127.0.0.0/8, ::1 and the name localhost; anything else
# (the wildcards, a LAN address, another host name) reaches beyond this host.
ADDRESSES = [
    ("127.0.0.1:9108", False),
    ("127.8.9.10:9108", False),
    ("[::1]:9108", False),
    ("localhost:9108", False),
    ("0.0.0.0:9108", True),
    ("[::]:9108", True),
    ("192.168.1.20:9108", True),
    ("[fe80::1]:9108", True),
    ("bridge.example.com:9108", True),
]


@pytest.mark.parametrize(("listen", "warned"), ADDRESSES, ids=[a for a, _ in ADDRESSES])
def test_the_status_listener_without_auth_is_refused_when_not_on_loopback(listen: str, warned: bool) -> None:
    exposed = config(http=listen)
    found = config_refusals(exposed)
    assert bool(found) is warned, found
    assert config_warnings(exposed) == []
    if warned:
        assert found[0].startswith(f"http.listen {listen} is not loopback")
        assert "/status" in found[0] and "http.auth is not set" in found[0]


@pytest.mark.parametrize(("listen", "warned"), ADDRESSES, ids=[a for a, _ in ADDRESSES])
def test_an_adapter_listener_is_warned_when_not_on_loopback(listen: str, warned: bool) -> None:
    found = config_warnings(config(cti="127.0.0.1:8089", tcp=listen))
    assert bool(found) is warned, found
    if warned:
        assert found == [
            f"adapters.pbx.tcp_listen {listen} is not loopback: any host that can reach it can talk to "
            "adapter pbx (generic_cti); bind the address the PBX uses and firewall it to the PBX"
        ]


def test_allow_inline_secrets_is_warned_and_the_secret_never_printed() -> None:
    text = (
        "allow_inline_secrets: true\n"
        "tenants:\n  t1:\n    tenant_id: 3f2b9c7e-1d4a-4e8b-9a61-5c0d2e7f8a10\n"
        "    client_id: 6a1e0b52-8c3d-4f79-b2e4-0d9c7a5f1e38\n    client_secret: written-in-the-file-1\n"
    )
    found = config_warnings(load_config_text(text, "bridge.yaml", environ={}))
    assert len(found) == 1 and found[0].startswith("allow_inline_secrets is true")
    assert "written-in-the-file-1" not in found[0]


def test_a_loopback_configuration_has_no_warning() -> None:
    assert config_warnings(config()) == []


async def test_check_prints_the_warnings_before_talking_to_graph() -> None:
    out = io.StringIO()
    exposed = config(http="0.0.0.0:9108", cti="192.168.1.20:8089")
    exposed = exposed.model_copy(update={"tenants": {}, "adapters": {}})  # nothing to contact
    assert await check_tenants(exposed, out) is False
    assert "FAIL http.listen 0.0.0.0:9108 is not loopback" in out.getvalue()
