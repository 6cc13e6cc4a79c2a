"""``release``: clear what we own, retrying the people Graph would not clear, then say what is left.

Used by ``presence-bridge release`` (decommissioning, the panic button). Each round sends every
pending person's clears (the publisher's ``release_one``); people that still own something after it
are retried after a jittered backoff until ``retry_for`` seconds are spent. The answer names what is
still set per person, so the command can list it and exit non-zero.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from bridge.kit.backoff import Backoff
from bridge.kit.clock import Clock
from bridge.teams.ownership import PublishedRecord

log = logging.getLogger(__name__)

RELEASE_RETRY_FOR = 60.0  # seconds `release` keeps retrying the people it could not clear
RELEASE_BACKOFF = (1.0, 15.0)  # seconds: first ceiling and cap between release rounds


@dataclass(frozen=True, slots=True)
class Released:
    """What ``release`` did: clears Graph confirmed, and per person what is still set (the
    person's object id -> e.g. ``session Busy/InACall, preferred DoNotDisturb/DoNotDisturb``)."""

    cleared: int
    still_set: dict[str, str] = field(default_factory=dict)


def owned_text(record: PublishedRecord) -> str:
    parts = [f"session {record.session}"] if record.session is not None else []
    if record.preferred is not None:
        parts.append(f"preferred {record.preferred}")
    return ", ".join(parts)


async def release_rounds(
    tenant: str,
    pending: Iterable[str],
    release_one: Callable[[str], Awaitable[int]],
    current: Callable[[str], PublishedRecord],
    clock: Clock,
    rng: random.Random,
    retry_for: float,
) -> Released:
    """Rounds of ``release_one`` over the pending people until none owns anything or time is up."""
    deadline = clock.monotonic() + max(0.0, retry_for)
    backoff = Backoff(*RELEASE_BACKOFF, rng=rng)
    left, sent = list(pending), 0
    while True:
        still = []
        for person_id in left:
            sent += await release_one(person_id)
            if current(person_id).owns_anything:
                still.append(person_id)
        left = still
        pause = backoff.next()
        if not left or clock.monotonic() + pause > deadline:
            break
        log.info("tenant %s: %d people still set; retrying the release in %.1f s", tenant, len(left), pause)
        await clock.sleep(pause)
    return Released(sent, {person_id: owned_text(current(person_id)) for person_id in left})
