"""What is wrong with a connected AMI adapter right now, as one health and a set of alarms. Pure.

Two sources, each in one place:

* **permissions** (``permissions.py``): the DEGRADED findings of the last login's check, replaced
  at every login; a finding can clear during a session (a late ``FullyBooted`` shows read=system);
* **write-back**: each Teams -> PBX command the PBX refused adds to a streak; ``alarm_after``
  refusals in a row make the adapter DEGRADED with the ``write_back_failing`` alarm, and the next
  command that succeeds ends it (the health tracker logs the recovery once).

Health is CONNECTED while nothing is wrong, else DEGRADED with every problem in its detail line.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from adapters.asterisk_ami.permissions import Finding
from bridge.kit.health import Health

ALARM_WRITE_BACK: Final = "write_back_failing"
ALARM_PERMISSION_PREFIX: Final = "manager_conf_lacks_"  # + "write=system", "read=system", ...
_WRITE_BACK = "write-back"


class Condition:
    """The problems of one connected adapter (key -> one human line) and the alarms they raise."""

    def __init__(self, alarm_after: int) -> None:
        self._alarm_after = alarm_after
        self._problems: dict[str, str] = {}
        self._permission_keys: set[str] = set()
        self.streak = 0

    # --- permissions -------------------------------------------------------------------

    def permissions(self, findings: Iterable[Finding]) -> None:
        """The DEGRADED findings of a fresh check replace those of the last one."""
        for key in self._permission_keys:
            self._problems.pop(key, None)
        self._permission_keys = set()
        for finding in findings:
            self._problems[finding.key] = finding.detail
            self._permission_keys.add(finding.key)

    def resolved(self, key: str) -> bool:
        """A permission finding turned out fine after all; True if it was open."""
        if key not in self._permission_keys:
            return False
        self._permission_keys.discard(key)
        self._problems.pop(key, None)
        return True

    # --- write-back --------------------------------------------------------------------

    def write_failed(self, detail: str) -> None:
        self.streak += 1
        if self.streak >= self._alarm_after:
            self._problems[_WRITE_BACK] = f"{self.streak} write-back(s) in a row failed, last: {detail}"

    def write_succeeded(self) -> None:
        self.streak = 0
        self._problems.pop(_WRITE_BACK, None)

    # --- what it adds up to ------------------------------------------------------------

    @property
    def health(self) -> Health:
        return Health.DEGRADED if self._problems else Health.CONNECTED

    @property
    def detail(self) -> str:
        return "; ".join(self._problems.values())

    @property
    def alarms(self) -> frozenset[str]:
        raised = {ALARM_PERMISSION_PREFIX + key for key in self._permission_keys}
        if _WRITE_BACK in self._problems:
            raised.add(ALARM_WRITE_BACK)
        return frozenset(raised)
