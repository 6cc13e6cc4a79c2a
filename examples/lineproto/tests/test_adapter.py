"""What the example adapter adds to the contract: blind lines after a drop, config rules, the entry point.

``fake_clock`` is the fixture of presence-bridge's pytest plugin (adapters.testing.plugin).
"""

import random
import tomllib
from importlib import import_module, metadata
from pathlib import Path

import pytest
from adapters.base import AdapterDeps, Health, get_factory
from adapters.testing import FakeClock, Recorder
from bridge.model import EndpointKey, LineState, StateChange, Toggle
from pydantic import SecretStr, ValidationError

from fake_pbx import SECRET, USER, FakePbx
from lineproto import FACTORY, LineProtoAdapter, LineProtoConfig

HERE = Path(__file__).resolve().parent.parent


@pytest.mark.asyncio
async def test_a_drop_makes_every_reported_line_unknown_until_the_pbx_repeats_it(
    fake_clock: FakeClock,
) -> None:
    pbx, clock = FakePbx(), fake_clock
    await pbx.start()
    config = LineProtoConfig(host="127.0.0.1", port=pbx.port, user=USER, secret=SecretStr(SECRET))
    adapter = LineProtoAdapter("pbx", config, AdapterDeps(clock, random.Random(1)))
    events = Recorder(adapter, clock)
    await adapter.start()
    await events.wait_health(Health.CONNECTED)
    await pbx.say("EXT 1001 INUSE\nDND 1002 ON\n")
    await events.wait(lambda: len(events.canonical) == 2, "two facts")
    await pbx.refuse()
    await pbx.start()  # a PBX restart: the connection drops, the port answers again
    await events.wait_health(Health.TRANSIENT_DISCONNECT)
    blind = {
        StateChange(EndpointKey("pbx", e), line=LineState.UNKNOWN, dnd=Toggle.UNKNOWN)
        for e in ("1001", "1002")
    }
    assert set(events.canonical[2:4]) == blind
    await events.wait_health(Health.CONNECTED, advance=1.0, simulated_limit=60)
    await events.wait(lambda: len(events.canonical) == 6, "the PBX's repeat after login")
    assert events.canonical[4:] == [
        StateChange(EndpointKey("pbx", "1001"), line=LineState.IN_CALL),
        StateChange(EndpointKey("pbx", "1002"), dnd=Toggle.ON),
    ]
    await adapter.stop()
    await events.finished()
    await pbx.close()


@pytest.mark.asyncio
async def test_a_refused_login_names_the_user_never_the_secret(fake_clock: FakeClock) -> None:
    pbx, clock = FakePbx(), fake_clock
    await pbx.start()
    config = LineProtoConfig(host="127.0.0.1", port=pbx.port, user=USER, secret=SecretStr("hunter2-wrong"))
    adapter = LineProtoAdapter("pbx", config, AdapterDeps(clock, random.Random(1)))
    events = Recorder(adapter, clock)
    await adapter.start()
    await events.wait_health(Health.BAD_CREDENTIALS)
    detail = events.items[-1]
    assert USER in repr(detail) and "hunter2" not in repr(detail)
    assert "hunter2" not in repr(config)
    await adapter.stop()
    await events.finished()
    await pbx.close()


@pytest.mark.parametrize(
    "settings",
    [
        {"host": "pbx", "user": "bridge", "secret": "s", "passwd": "s"},  # a typo is refused, not ignored
        {"host": "pbx", "user": "bridge"},  # no secret
        {"host": "pbx", "user": "", "secret": "s"},
        {"host": "pbx", "user": "bridge", "secret": "s", "port": 70000},
    ],
)
def test_config_mistakes_are_refused(settings: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        LineProtoConfig.model_validate(settings)


def test_the_entry_point_names_the_factory() -> None:
    project = tomllib.loads((HERE / "pyproject.toml").read_text())
    target = project["project"]["entry-points"]["presence_bridge.adapters"]["lineproto"]
    module, _, attribute = target.partition(":")
    assert getattr(import_module(module), attribute) is FACTORY
    assert FACTORY.kind == "lineproto"


def test_the_bridge_finds_it_when_installed() -> None:
    try:
        metadata.distribution("presence-bridge-lineproto")
    except metadata.PackageNotFoundError:
        pytest.skip("not installed: pip install -e examples/lineproto")
    assert get_factory("lineproto") is FACTORY
