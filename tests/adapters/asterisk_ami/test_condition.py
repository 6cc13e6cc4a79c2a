"""The rules of ``condition.py``, from the issue's words: a failed write-back degrades only after N in
a row, one success ends it; a missing manager.conf class is DEGRADED with an alarm naming it."""

from __future__ import annotations

import pytest

from adapters.asterisk_ami.condition import ALARM_WRITE_BACK, Condition
from adapters.asterisk_ami.permissions import Finding, Severity
from bridge.kit.health import Health

NO_SYSTEM = Finding("write=system", Severity.DEGRADED, "lacks write=system")


@pytest.mark.parametrize(
    ("steps", "health"),
    [
        pytest.param("", Health.CONNECTED, id="nothing-wrong"),
        pytest.param("FF", Health.CONNECTED, id="two-refusals-are-not-three"),
        pytest.param("FFF", Health.DEGRADED, id="three-in-a-row-degrade"),
        pytest.param("FFFS", Health.CONNECTED, id="one-success-recovers"),
        pytest.param("FFSFF", Health.CONNECTED, id="a-success-restarts-the-count"),
        pytest.param("FFSFFF", Health.DEGRADED, id="three-again"),
    ],
)
def test_write_back_streak(steps: str, health: Health) -> None:
    condition = Condition(alarm_after=3)
    for step in steps:
        condition.write_failed("Permission denied") if step == "F" else condition.write_succeeded()
    assert condition.health is health
    assert (ALARM_WRITE_BACK in condition.alarms) is (health is Health.DEGRADED)


def test_a_missing_class_is_degraded_with_an_alarm_naming_it_until_a_login_shows_it_fixed() -> None:
    condition = Condition(alarm_after=3)
    condition.permissions([NO_SYSTEM])
    assert condition.health is Health.DEGRADED and "lacks write=system" in condition.detail
    assert condition.alarms == {"manager_conf_lacks_write=system"}
    condition.permissions([])  # the next login found everything
    assert condition.health is Health.CONNECTED and condition.alarms == frozenset()


def test_both_problems_show_in_one_detail_line() -> None:
    condition = Condition(alarm_after=1)
    condition.permissions([NO_SYSTEM])
    condition.write_failed("DBPut refused: Permission denied")
    assert "lacks write=system" in condition.detail and "Permission denied" in condition.detail
    condition.write_succeeded()
    assert condition.health is Health.DEGRADED, "the missing class is still missing"
