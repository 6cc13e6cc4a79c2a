"""The documented configurations load, and the registry finds this adapter."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from adapters.asterisk_ami.adapter import FACTORY, AmiAdapter
from adapters.asterisk_ami.config import AmiConfig
from adapters.base import AdapterDeps, Health, get_factory
from bridge.kit.clock import FakeClock

DOC = Path(__file__).resolve().parents[3] / "docs" / "asterisk.md"


def _yaml_blocks() -> list[dict[str, object]]:
    text = DOC.read_text(encoding="utf-8").replace("${AMI_SECRET}", "s3cret-from-env")
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", text, re.S)]


@pytest.mark.parametrize("index", [0, 1], ids=["freepbx", "plain-asterisk"])
def test_documented_adapter_blocks_load(index: int) -> None:
    block = _yaml_blocks()[index]["adapters"]["pbx"]  # type: ignore[index]
    kind = block.pop("kind")
    assert get_factory(kind) is FACTORY
    config = FACTORY.config_model.model_validate(block)
    assert isinstance(config, AmiConfig) and config.username == "presence-bridge"
    assert "s3cret" not in repr(config)


def test_factory_builds_a_stopped_adapter() -> None:
    config = AmiConfig(username="bridge", secret="x-secret")  # type: ignore[arg-type]
    adapter = FACTORY.create("pbx", config, AdapterDeps(FakeClock()))
    assert isinstance(adapter, AmiAdapter) and adapter.health is Health.STOPPED
    assert FACTORY.kind == "asterisk_ami" and adapter.supports_write_back


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        ({"secret": "changeme"}, "secret"),
        ({"colour": "blue"}, "colour"),
        ({"backoff_initial": 10, "backoff_max": 1}, "backoff_max"),
        ({"ignore_exten_patterns": ["(unclosed"]}, "regular expression"),
        ({"teams_family": "TEAMS/x"}, "teams_family"),
    ],
)
def test_bad_settings_are_refused_naming_the_key(overrides: dict[str, object], names: str) -> None:
    values: dict[str, object] = {"username": "bridge", "secret": "x-secret", **overrides}
    with pytest.raises(ValidationError, match=re.escape(names)):
        AmiConfig.model_validate(values)
