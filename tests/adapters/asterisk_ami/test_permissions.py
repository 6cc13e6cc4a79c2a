"""An AMI user without the manager.conf classes we need is never reported healthy (issue 10, defect 5).

The fake server plays the user's ``read =`` / ``write =`` lines (``fake_ami.ManagerUser``): the
synthesized ``ListCommands`` of Asterisk 22's ``action_listcommands``, the recorded ``Permission
denied``, ``FullyBooted`` only with read=system, ``DeviceStateChange`` only with read=call.
Expected classes come from reference asterisk-ami.md section 6 (its table of needs), not from
``permissions.WRITE_NEEDS``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.asterisk_ami.config import AmiConfig
from adapters.asterisk_ami.frames import FrameParser
from adapters.asterisk_ami.permissions import events_mask_has, missing_writes, permitted_actions
from adapters.base import Health, HealthChange
from tests.adapters.asterisk_ami.fake_ami import FREEPBX_REPLIES, LOGIN_OK, FakeAmi, ManagerUser
from tests.adapters.asterisk_ami.harness import Run

RECOMMENDED = (
    ManagerUser()
)  # docs/asterisk.md: read = call,system,agent / write = call,reporting,system,agent


def _permitted(write: set[str]) -> frozenset[str]:
    (reply,) = list(FrameParser().feed(ManagerUser(write=frozenset(write)).list_commands()))
    return permitted_actions(reply)


def _config(**overrides: Any) -> AmiConfig:
    return AmiConfig(username="bridge", secret="s3cret-long-enough", **overrides)


# Reference section 6: lists need write call|reporting, DBGetTree system|reporting, DBPut/DBDel
# system, Setvar call, QueuePause agent.
@pytest.mark.parametrize(
    ("write", "settings", "missing"),
    [
        pytest.param({"call", "reporting", "system", "agent"}, {}, set(), id="recommended-user"),
        pytest.param({"call", "reporting"}, {}, {"write=system"}, id="no-system-no-astdb-writes"),
        pytest.param(
            {"call", "reporting"}, {"write_back": False}, set(), id="read-only-bridge-needs-no-system"
        ),
        pytest.param({"reporting", "system"}, {}, {"write=call"}, id="no-call-no-lamps"),
        pytest.param({"system"}, {}, {"write=call|reporting", "write=call"}, id="no-lists-no-lamps"),
        pytest.param(
            {"call"}, {"freepbx": True}, {"write=system|reporting", "write=system"}, id="freepbx-astdb-reads"
        ),
        pytest.param({"call"}, {"freepbx": False, "write_back": False}, set(), id="plain-asterisk-read-only"),
        pytest.param(
            {"call", "system"}, {"queue_pause_write": True}, {"write=agent"}, id="queue-pause-needs-agent"
        ),
        pytest.param({"call", "system"}, {}, set(), id="queue-pause-off-needs-no-agent"),
    ],
)
def test_missing_write_classes_for_what_is_configured(
    write: set[str], settings: dict[str, Any], missing: set[str]
) -> None:
    findings = missing_writes(_config(**settings), _permitted(write))
    assert {f.key for f in findings} == missing
    for finding in findings:
        assert "manager.conf user 'bridge' lacks" in finding.detail and "manager reload" in finding.detail


@pytest.mark.parametrize(
    ("events", "cls", "asked"),
    [
        pytest.param("call,system,agent", "call", True, id="list-has-it"),
        pytest.param("call,agent", "system", False, id="list-lacks-it"),
        pytest.param("on", "system", True, id="on-is-everything"),
        pytest.param("all", "call", True, id="all-is-everything"),
        pytest.param("off", "call", False, id="off-is-nothing"),
        pytest.param("67", "call", None, id="numeric-mask-unknown"),
    ],
)
def test_what_our_events_mask_asks_for(events: str, cls: str, asked: bool | None) -> None:
    assert events_mask_has(events, cls) is asked


@pytest.fixture
async def stop_fakes() -> AsyncIterator[list[FakeAmi]]:
    fakes: list[FakeAmi] = []
    yield fakes
    for fake in fakes:
        await fake.close()


async def _pbx(fakes: list[FakeAmi], user: ManagerUser) -> FakeAmi:
    fake = FakeAmi(FREEPBX_REPLIES, user=user)
    await fake.start()
    fakes.append(fake)
    return fake


def _last_detail(run: Run) -> str:
    return [e for e in run.seen if isinstance(e, HealthChange)][-1].detail


async def test_without_read_call_the_adapter_fails_naming_the_class(stop_fakes: list[FakeAmi]) -> None:
    pbx = await _pbx(stop_fakes, ManagerUser(read=frozenset({"system", "agent"})))
    async with Run(pbx, ping_interval=86400.0) as run:
        await pbx.until_actions("Setvar", 2)  # the probe: Custom:TEAMS-probe INUSE, then NOT_INUSE
        await run.clock.advance(3.0)  # read_probe_timeout: no DeviceStateChange came back
        await run.until_health(Health.BAD_CREDENTIALS)
        assert Health.CONNECTED not in run.healths, "calls would never reach Teams: never healthy"
        assert "lacks read=call" in _last_detail(run) and "manager reload" in _last_detail(run)
        probe = pbx.actions_named("Setvar")[0]
        assert probe.get("Variable") == "DEVICE_STATE(Custom:TEAMS-probe)"
        logins = len(pbx.actions_named("Login"))
        await run.clock.advance(299.0)
        assert len(pbx.actions_named("Login")) == logins, "retried only after auth_failure_backoff"


async def test_the_recommended_user_is_connected_without_alarms(stop_fakes: list[FakeAmi]) -> None:
    pbx = await _pbx(stop_fakes, RECOMMENDED)
    async with Run(pbx, ping_interval=86400.0) as run:
        await run.until_health(Health.CONNECTED)
        assert run.healths == [Health.CONNECTING, Health.CONNECTED]
        assert run.adapter.alarms == frozenset()  # type: ignore[attr-defined]


async def test_without_write_system_write_back_is_degraded_and_named(stop_fakes: list[FakeAmi]) -> None:
    pbx = await _pbx(stop_fakes, ManagerUser(write=frozenset({"call", "reporting", "agent"})))
    async with Run(pbx, ping_interval=86400.0) as run:
        await run.until_health(Health.DEGRADED)
        assert Health.CONNECTED not in run.healths
        assert "lacks write=system" in _last_detail(run) and "DBPut" in _last_detail(run)
        assert "manager_conf_lacks_write=system" in run.adapter.alarms  # type: ignore[attr-defined]


async def test_without_read_system_degraded_until_a_late_fully_booted_shows_it(
    stop_fakes: list[FakeAmi], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    pbx = await _pbx(stop_fakes, ManagerUser(read=frozenset({"call", "agent"})))
    async with Run(pbx, ping_interval=86400.0) as run:
        await run.until_health(Health.DEGRADED)
        assert "lacks read=system" in _last_detail(run)
        await pbx.push(LOGIN_OK[1])  # recorded FullyBooted: Asterisk had not finished booting
        await run.until_health(Health.CONNECTED)
        assert run.adapter.alarms == frozenset()  # type: ignore[attr-defined]
        assert sum("recovered" in r.getMessage() for r in caplog.records) == 1
