"""A refused write-back is counted as failed, and a streak of them is DEGRADED with an alarm.

The refusal is the recorded ``Permission denied`` of Asterisk 22.10.1 (``13_originate_denied``,
action 13-2), given here to ``DBPut`` as a user without write=system gets it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from adapters.asterisk_ami.condition import ALARM_WRITE_BACK
from adapters.base import Health, HealthChange, RoutableState, WriteBack
from bridge.errors import AdapterError
from tests.adapters.asterisk_ami.fake_ami import FREEPBX_REPLIES, FakeAmi, recorded
from tests.adapters.asterisk_ami.harness import Run

DENIED = recorded("13_originate_denied", "13-2")
CALL = WriteBack("1001", routable=RoutableState.CALL)


@pytest.fixture
async def freepbx() -> AsyncIterator[FakeAmi]:
    server = FakeAmi(FREEPBX_REPLIES)
    await server.start()
    yield server
    await server.close()


async def _refused(run: Run) -> None:
    with pytest.raises(AdapterError, match="Permission denied"):
        await run.adapter.write_back(CALL)


async def test_refused_write_backs_count_as_failures_and_three_in_a_row_degrade(
    freepbx: FakeAmi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    answer = freepbx.replies["dbput"]
    freepbx.replies["dbput"] = DENIED
    async with Run(freepbx, ping_interval=86400.0) as run:
        await run.until_health(Health.CONNECTED)
        await _refused(run)
        await _refused(run)
        assert run.adapter.health is Health.CONNECTED, "two refusals are not yet an outage"
        assert run.adapter.counters["write_backs"] == 0
        assert run.adapter.counters["write_back_failures"] == 2
        await _refused(run)
        await run.until_health(Health.DEGRADED)
        assert ALARM_WRITE_BACK in run.adapter.alarms  # type: ignore[attr-defined]
        detail = [e for e in run.seen if isinstance(e, HealthChange)][-1].detail
        assert "3 write-back(s) in a row failed" in detail and "Permission denied" in detail
        await _refused(run)  # still degraded: no second transition, no second WARNING line
        assert run.healths.count(Health.DEGRADED) == 1
        freepbx.replies["dbput"] = answer  # the admin added write = system
        await run.adapter.write_back(CALL)
        await run.until_health(Health.CONNECTED, count=2)
        assert run.adapter.alarms == frozenset()  # type: ignore[attr-defined]
        assert run.adapter.counters["write_backs"] == 1
        assert run.adapter.counters["write_back_failures"] == 4
        assert sum("recovered" in r.getMessage() for r in caplog.records) == 1


async def test_the_streak_length_is_configurable(freepbx: FakeAmi) -> None:
    freepbx.replies["dbput"] = DENIED
    async with Run(freepbx, ping_interval=86400.0, write_failure_alarm=1) as run:
        await run.until_health(Health.CONNECTED)
        await _refused(run)
        await run.until_health(Health.DEGRADED)


async def test_a_success_between_refusals_starts_the_streak_over(freepbx: FakeAmi) -> None:
    answer = freepbx.replies["dbput"]
    async with Run(freepbx, ping_interval=86400.0) as run:
        await run.until_health(Health.CONNECTED)
        freepbx.replies["dbput"] = DENIED
        await _refused(run)
        await _refused(run)
        freepbx.replies["dbput"] = answer
        await run.adapter.write_back(CALL)
        freepbx.replies["dbput"] = DENIED
        await _refused(run)
        await _refused(run)
        assert run.adapter.health is Health.CONNECTED
