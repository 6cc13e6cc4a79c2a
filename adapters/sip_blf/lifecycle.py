"""What a subscription is doing and what one of its moves produces, shared by ``subscription``
(which moves) and ``watcher`` (which sends, routes, schedules and sums the health).

``Phase`` is the subscription's honest status: the watcher's health adds the phases up
(``LIVE_PHASES`` count as connected, ``LOST_PHASES`` as degraded). ``Timings`` are the adapter
config's seconds. ``Step`` is one move's output: messages to send, facts, counter names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from adapters.sip_blf.message import SipMessage
from bridge.model import StateChange


class Phase(StrEnum):
    IDLE = "idle"  # not started
    SUBSCRIBING = "subscribing"  # a fresh SUBSCRIBE in flight
    ACTIVE = "active"
    PENDING = "pending"  # accepted, waiting for the PBX's authorization
    WAITING = "waiting"  # lost; a fresh subscription after a backoff
    REFUSED = "refused"  # the PBX refused it as configured; retried after the long pause
    BAD_CREDENTIALS = "bad_credentials"
    ENDED = "ended"  # unsubscribed by us


LIVE_PHASES = frozenset({Phase.ACTIVE, Phase.PENDING})
LOST_PHASES = frozenset({Phase.WAITING, Phase.REFUSED, Phase.BAD_CREDENTIALS})


@dataclass(frozen=True, slots=True)
class Timings:
    """Seconds; the adapter's config fills these in."""

    expires: int = 3600
    refresh_from: float = 0.5  # refresh between these fractions of the granted Expires
    refresh_to: float = 0.8
    backoff_initial: float = 1.0
    backoff_max: float = 300.0
    auth_pause: float = 300.0  # after BAD_CREDENTIALS
    refused_pause: float = 600.0  # after a refusal (403, 404, 489...)
    max_retry_after: float = 3600.0
    max_auth_rounds: int = 3  # challenges answered in a row before the password counts as wrong
    quick_resubscribe_after: float = 30.0  # terminated;reason=timeout after this long: resubscribe at once


DEFAULT_TIMINGS = Timings()


@dataclass(slots=True)
class Step:
    send: list[SipMessage] = field(default_factory=list)
    changes: list[StateChange] = field(default_factory=list)
    counts: list[str] = field(default_factory=list)
