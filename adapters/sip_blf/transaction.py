"""RFC 3261 17.1.2 non-INVITE client transaction timers, on the caller's clock. Pure.

A SUBSCRIBE (or PUBLISH) we sent is one ``ClientTransaction``. Over UDP it is sent again when
Timer E fires: first after T1, then doubling up to T2, and after a provisional response every T2
(17.1.2.2). Over TCP/TLS nothing is retransmitted (the transport is reliable). Whatever the
transport, Timer F (64 x T1) ends the transaction as a timeout when no final response came.

``due(now)`` says what is due at ``now``: ``RETRANSMIT`` (send the request again), ``TIMEOUT`` (give
up: the caller treats it as a 408) or nothing; ``next_deadline`` is when to ask again. A final
response ends the transaction (``finish``); the caller matches responses by ``branch`` and drops
retransmitted finals, so the Completed state's absorbing of duplicates (Timer K) is not modelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

T1 = 0.5  # RTT estimate, seconds (RFC 3261 17.1.1.1)
T2 = 4.0  # the cap on non-INVITE retransmit intervals
TIMER_F = 64 * T1  # non-INVITE transaction timeout


class Due(StrEnum):
    RETRANSMIT = "retransmit"
    TIMEOUT = "timeout"


@dataclass(slots=True)
class ClientTransaction:
    """One non-INVITE request in flight: its branch and timers (the caller keeps the request)."""

    branch: str
    started: float
    reliable: bool
    t1: float = T1
    t2: float = T2
    interval: float = 0.0
    next_retransmit: float | None = None
    timeout_at: float = 0.0
    proceeding: bool = False
    finished: bool = False
    retransmits: int = 0

    def __post_init__(self) -> None:
        self.interval = self.t1
        self.timeout_at = self.started + 64 * self.t1
        self.next_retransmit = None if self.reliable else self.started + self.t1

    @property
    def next_deadline(self) -> float | None:
        if self.finished:
            return None
        if self.next_retransmit is None:
            return self.timeout_at
        return min(self.next_retransmit, self.timeout_at)

    def provisional(self, now: float) -> None:
        """A 1xx arrived: Proceeding, retransmissions (UDP) continue every T2 (17.1.2.2)."""
        if self.finished or self.proceeding:
            return
        self.proceeding = True
        if self.next_retransmit is not None:
            self.interval = self.t2
            self.next_retransmit = now + self.t2

    def finish(self) -> None:
        self.finished = True
        self.next_retransmit = None

    def due(self, now: float) -> Due | None:
        """What is due at ``now``; a retransmission moves Timer E on, a timeout ends it."""
        if self.finished:
            return None
        if now >= self.timeout_at:
            self.finish()
            return Due.TIMEOUT
        if self.next_retransmit is not None and now >= self.next_retransmit:
            if not self.proceeding:
                self.interval = min(2 * self.interval, self.t2)
            self.next_retransmit = now + self.interval
            self.retransmits += 1
            return Due.RETRANSMIT
        return None
