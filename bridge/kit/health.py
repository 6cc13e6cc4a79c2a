"""One health vocabulary for every component (adapters, Graph tenants, listeners) and its tracker.

The words are mautrix's (STYLE.md), plus ``DEGRADED``: connected and working, but something the
configuration asks for does not (an AMI user without a ``manager.conf`` class, write-back refused
again and again); ``/healthz`` reads it as degraded. How ``/healthz`` reads each one is DESIGN 13. A
:class:`HealthTracker` is the one place a component's health changes: a transition is logged once
(at a level that fits it), a repeat only at DEBUG, a recovery once, and listeners hear each real
change exactly once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import StrEnum


class Health(StrEnum):
    STOPPED = "STOPPED"
    CONNECTING = "CONNECTING"
    CONNECTED = "CONNECTED"
    DEGRADED = "DEGRADED"  # connected, but part of what is configured does not work (detail says what)
    TRANSIENT_DISCONNECT = "TRANSIENT_DISCONNECT"
    BAD_CREDENTIALS = "BAD_CREDENTIALS"
    UNKNOWN_ERROR = "UNKNOWN_ERROR"


# How /healthz reports each state (DESIGN 13).
HEALTH_READINESS: dict[Health, str] = {
    Health.STOPPED: "failed",
    Health.CONNECTING: "degraded",
    Health.CONNECTED: "ok",
    Health.DEGRADED: "degraded",
    Health.TRANSIENT_DISCONNECT: "degraded",
    Health.BAD_CREDENTIALS: "failed",
    Health.UNKNOWN_ERROR: "failed",
}

_LEVEL: dict[Health, int] = {
    Health.STOPPED: logging.INFO,
    Health.CONNECTING: logging.INFO,
    Health.CONNECTED: logging.INFO,
    Health.DEGRADED: logging.WARNING,
    Health.TRANSIENT_DISCONNECT: logging.WARNING,
    Health.BAD_CREDENTIALS: logging.ERROR,
    Health.UNKNOWN_ERROR: logging.ERROR,
}

_TROUBLE = frozenset(
    {Health.DEGRADED, Health.TRANSIENT_DISCONNECT, Health.BAD_CREDENTIALS, Health.UNKNOWN_ERROR}
)

HealthListener = Callable[[Health, str], None]


class HealthTracker:
    """A component's current health; ``set`` logs and notifies only on a real change."""

    __slots__ = ("_detail", "_listeners", "_log", "_state", "component")

    def __init__(
        self,
        component: str,
        logger: logging.Logger,
        *,
        initial: Health = Health.STOPPED,
        on_change: HealthListener | None = None,
    ) -> None:
        self.component = component
        self._log = logger
        self._state = initial
        self._detail = ""
        self._listeners: list[HealthListener] = [] if on_change is None else [on_change]

    @property
    def state(self) -> Health:
        return self._state

    @property
    def detail(self) -> str:
        """The human line that came with the current state (never a secret)."""
        return self._detail

    @property
    def readiness(self) -> str:
        return HEALTH_READINESS[self._state]

    def subscribe(self, listener: HealthListener) -> None:
        self._listeners.append(listener)

    def set(self, health: Health, detail: str = "") -> bool:
        """Move to ``health``; True if that was a change (logged once, listeners told)."""
        if health is self._state:
            self._log.debug("%s: still %s: %s", self.component, health.value, detail)
            return False
        previous, self._state, self._detail = self._state, health, detail
        if health is Health.CONNECTED and previous in _TROUBLE:
            self._log.info("%s: recovered (%s): %s", self.component, previous.value, detail)
        else:
            self._log.log(_LEVEL[health], "%s: %s: %s", self.component, health.value, detail)
        for listener in self._listeners:
            listener(health, detail)
        return True
