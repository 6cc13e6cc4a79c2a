"""The adapter registry is the ``presence_bridge.adapters`` entry-point group, built-ins included.

What a user would notice: a third-party adapter installed with ``pip`` is found by ``kind:`` in the
YAML exactly as ours are, and a typo in ``kind:`` names the kinds that exist.
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from adapters.asterisk_ami.adapter import FACTORY as AMI_FACTORY
from adapters.base import ENTRY_POINT_GROUP, available_kinds, get_factory
from adapters.generic_cti.adapter import FACTORY as CTI_FACTORY

THIRD_PARTY = """\
from pydantic import BaseModel


class Settings(BaseModel):
    pass


class Factory:
    kind = "acme_pbx"
    config_model = Settings

    def create(self, name, config, deps):
        raise NotImplementedError


FACTORY = Factory()
"""


@pytest.fixture
def third_party(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An installed distribution that registers kind ``acme_pbx`` (a dist-info on ``sys.path``)."""
    (tmp_path / "acme_pbx_adapter.py").write_text(THIRD_PARTY)
    info = tmp_path / "acme_pbx_adapter-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-pbx-adapter\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nacme_pbx = acme_pbx_adapter:FACTORY\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "acme_pbx_adapter", raising=False)
    return "acme_pbx"


@pytest.mark.parametrize(
    ("kind", "factory"),
    [("generic_cti", CTI_FACTORY), ("asterisk_ami", AMI_FACTORY)],
    ids=["generic_cti", "asterisk_ami"],
)
def test_built_ins_register_through_the_entry_point_group(kind: str, factory: object) -> None:
    registered = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    assert kind in registered, "built-ins are declared in pyproject.toml (pip install -e .)"
    assert get_factory(kind) is factory
    assert kind in available_kinds()


def test_an_installed_third_party_adapter_is_found_like_a_built_in(third_party: str) -> None:
    assert third_party in available_kinds()
    factory = get_factory(third_party)
    assert factory.kind == third_party
    assert {"generic_cti", "asterisk_ami"} <= set(available_kinds())


def test_unknown_kind_names_every_known_kind(third_party: str) -> None:
    with pytest.raises(KeyError) as info:
        get_factory("avaya")
    message = str(info.value.args[0])
    prefix = "unknown adapter kind 'avaya'; known: "
    assert message.startswith(prefix)
    known = message.removeprefix(prefix).split(", ")
    assert {"acme_pbx", "asterisk_ami", "generic_cti"} <= set(known) and known == sorted(known)
