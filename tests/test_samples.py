"""Every samples/*.yaml loads with the real adapter registry, and builds its adapters.

An admin copies a sample and sets the environment variables it names; if a sample stopped loading
(a renamed key, a new required setting), that is the first thing they would hit.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from adapters.asterisk_ami.config import AmiConfig
from adapters.base import AdapterDeps, Health, available_kinds, get_factory
from bridge.config import BridgeConfig, load_config
from bridge.errors import ConfigError
from bridge.kit.clock import FakeClock
from bridge.model import EndpointKey, EndpointRole

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
ENV = {
    "GRAPH_CLIENT_SECRET": "sample-graph-secret-Zq81~x",
    "CTI_TOKEN": "sample-cti-token-0a9b8c7d",
    "AMI_SECRET": "sample-ami-secret-5f4e3d",
}
ALL = sorted(p.name for p in SAMPLES.glob("*.yaml"))


def _load(name: str) -> BridgeConfig:
    return load_config(SAMPLES / name, environ=ENV)


@pytest.mark.parametrize("name", ALL)
def test_every_sample_loads_and_builds_its_adapters_without_leaking_secrets(name: str) -> None:
    cfg = _load(name)
    assert cfg.tenants and cfg.people and cfg.adapters
    deps = AdapterDeps(FakeClock(), random.Random(1))
    for adapter_name, section in cfg.adapters.items():
        adapter = get_factory(section.kind).create(adapter_name, section.settings, deps)
        assert adapter.health is Health.STOPPED  # built, not started: no connection at load time
    for secret in ENV.values():
        assert secret not in repr(cfg)


@pytest.mark.parametrize("name", ALL)
def test_every_environment_variable_a_sample_names_is_reported_when_missing(name: str) -> None:
    values = "\n".join(line.split("#", 1)[0] for line in (SAMPLES / name).read_text().splitlines())
    wanted = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", values))
    assert wanted <= set(ENV), f"{name} needs {sorted(wanted - set(ENV))}: add them to ENV"
    with pytest.raises(ConfigError) as info:
        load_config(SAMPLES / name, environ={})
    for variable in wanted:
        assert any(f"environment variable {variable} is not set" in p for p in info.value.problems)


def test_there_is_a_sample_for_every_built_in_adapter_kind() -> None:
    kinds = {section.kind for name in ALL for section in _load(name).adapters.values()}
    assert set(available_kinds()) <= kinds
    assert {"freepbx.yaml", "asterisk.yaml"} <= set(ALL)


def test_freepbx_sample_follows_any_device_of_an_extension_and_keeps_reception_shared() -> None:
    cfg = _load("freepbx.yaml")
    settings = cfg.adapters["freepbx"].settings
    assert isinstance(settings, AmiConfig) and settings.freepbx
    alice = cfg.route(EndpointKey("freepbx", "1001", "", "PJSIP/1001"))
    hot_desk = cfg.route(EndpointKey("freepbx", "1001", "", "PJSIP/1101"))
    assert alice is not None and hot_desk is not None and alice[0] is hot_desk[0]
    reception = cfg.route(EndpointKey("freepbx", "1000", "", "PJSIP/1000"))
    assert reception is not None and reception[1] is EndpointRole.SHARED
    bob = next(p for p in cfg.people if p.upn == "bob@contoso.com")
    assert bob.pbx_dnd_from_teams and settings.freepbx_dnd_write
    # FreePBX's DND feature-code hints never count as anyone's line.
    assert cfg.route(EndpointKey("freepbx", "1001", "ext-dnd-hints")) is None


def test_asterisk_sample_binds_devices_statically_and_ignores_the_lobby_phone() -> None:
    cfg = _load("asterisk.yaml")
    settings = cfg.adapters["pbx"].settings
    assert isinstance(settings, AmiConfig) and not settings.freepbx and settings.auth == "md5"
    assert settings.devices["PJSIP/alice-soft"] == "1001"
    desk = cfg.route(EndpointKey("pbx", "1002", "", "PJSIP/bob-desk"))
    lobby = cfg.route(EndpointKey("pbx", "1002", "", "PJSIP/bob-lobby"))
    assert desk is not None and desk[1] is EndpointRole.PERSONAL
    assert lobby is not None and lobby[1] is EndpointRole.IGNORE


def test_the_freepbx_sample_watches_teams() -> None:
    assert _load("freepbx.yaml").tenants["contoso"].watch.enabled
