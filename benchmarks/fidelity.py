"""Fidelity: what Teams shows a person, next to what their desktop says and what our mapping wants.

Each emulated user gets a Teams desktop client session (``DESKTOP_SESSION``, created as the
admin API does: it never fades). What Teams *should* show is the emulator's own aggregation of
that desktop session and the session our mapping wants for the person's PBX state (none when it
wants none); what it *does* show is the emulator's aggregate at the sample. Two shares count:

- ``available_over_away``: Teams shows availability Available while the person's desktop is Away
  (the naive bridge's Available-on-hang-up hides that the person walked away);
- ``off_mapping``: Teams shows anything other than what it should (stale, lost or wrong writes).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bridge.emulator.state import PresenceState
from bridge.kit.clock import FakeClock
from bridge.presence import ACTIVITY_RANK, AVAILABILITY_RANK, AVAILABLE, AWAY, OFFLINE, Pair

DESKTOP_SESSION = "teams-desktop-client"


def give_desktops(
    state: PresenceState,
    user_ids: Iterable[str],
    clock: FakeClock,
    rng: random.Random,
    mix: Mapping[Pair | None, float],
) -> dict[str, Pair | None]:
    """A desktop session per user drawn from ``mix`` (None: no desktop signed in); returns user -> pair."""
    choices, weights = list(mix), list(mix.values())
    desktops = {user: rng.choices(choices, weights)[0] for user in user_ids}
    place_desktops(state, desktops, clock)
    return desktops


def place_desktops(state: PresenceState, desktops: Mapping[str, Pair | None], clock: FakeClock) -> None:
    """Sign each user's desktop client in with the given pair (None: leave them without one)."""
    now = clock.now()
    for user, pair in desktops.items():
        if pair is not None:
            state.set_session(user, DESKTOP_SESSION, pair, now, expires_in=None, fades=False)


def away_share_mix(away_share: float) -> dict[Pair | None, float]:
    """Desktops either Away (``away_share``) or Available."""
    return {AWAY: away_share, AVAILABLE: 1.0 - away_share}


def _rank(pair: Pair) -> tuple[int, int]:
    return AVAILABILITY_RANK.get(pair.availability, 0), ACTIVITY_RANK.get(pair.activity, 0)


def should_show(desktop: Pair | None, wanted: Pair | None) -> Pair:
    """The aggregate of the desktop session and the session our mapping wants (neither fades)."""
    sessions = [p for p in (desktop, wanted) if p is not None]
    return max(sessions, key=_rank) if sessions else OFFLINE


@dataclass
class Fidelity:
    """Counts over (user, sample) pairs."""

    samples: int = 0
    available_over_away: int = 0
    off_mapping: int = 0

    def sample(
        self,
        state: PresenceState,
        clock: FakeClock,
        desktops: Mapping[str, Pair | None],
        wanted: Mapping[str, Pair | None],
    ) -> None:
        now = clock.now()
        for user, desktop in desktops.items():
            shown = state.presence(user, now).pair
            self.samples += 1
            if desktop == AWAY and shown.availability == "Available":
                self.available_over_away += 1
            if shown != should_show(desktop, wanted.get(user)):
                self.off_mapping += 1

    def share(self, count: int) -> float:
        return count / self.samples if self.samples else 0.0


def wrong_now(
    state: PresenceState,
    clock: FakeClock,
    desktops: Mapping[str, Pair | None],
    wanted: Mapping[str, Pair | None],
) -> int:
    """People whose Teams shows something other than the desktop + wanted aggregate right now."""
    now = clock.now()
    return sum(
        state.presence(user, now).pair != should_show(desktop, wanted.get(user))
        for user, desktop in desktops.items()
    )


def our_session(state: PresenceState, clock: FakeClock, user: str, session_id: str) -> Pair | None:
    """The session ``session_id`` holds for ``user`` in the emulator now (None: none live)."""
    sessions = state.describe(user, clock.now())["sessions"]
    ours = sessions.get(session_id) if isinstance(sessions, dict) else None
    return Pair(ours["availability"], ours["activity"]) if ours else None
