"""What Teams must show, computed from the documents alone (README "Default mapping, PBX -> Teams"
and "Teams' rules"), never from the bridge's code: the chaos suite's expected values.

Two pure pieces:

* :class:`Line` follows one person's desk phone through time and says which session of ours the
  mapping wants: DND > call states > idle; ``dialing`` shows after 2 s; ``ringing`` has no pair of
  its own; a conference keeps a call already shown as Busy/InACall until the call ends; a call
  pair stands for the 3 s idle hold after the line goes quiet (not for ``unavailable``).
* :func:`teams_shows` aggregates what Teams shows: no session at all is Offline; a status the user
  chose by hand beats every session; otherwise the strongest session, DoNotDisturb > Busy >
  Available > Away (below Away: BeRightBack, Offline), ties InAConferenceCall > InACall >
  InAMeeting > Busy (DESIGN 13).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from bridge.presence import IN_A_CALL, IN_A_CONFERENCE_CALL, OFFLINE, PRESENTING, Pair

DIALING_DELAY = 2.0  # README: "dialing: Busy / InACall after 2 s"
IDLE_HOLD = 3.0  # README: "idle: clear our session after a 3 s hold"

# README's PBX -> Teams rows for line states that name a pair ("at once").
LINE_TO_SESSION: dict[str, Pair] = {
    "in_call": IN_A_CALL,
    "on_hold": IN_A_CALL,
    "busy": IN_A_CALL,
    "dialing": IN_A_CALL,
    "in_conference": IN_A_CONFERENCE_CALL,
}
CALL_PAIRS = frozenset({IN_A_CALL, IN_A_CONFERENCE_CALL})
NOT_HELD = frozenset({"unavailable"})  # "an unplugged desk phone says nothing about the person"

# Teams' precedence (README, from Microsoft's documentation; ties and the tail from DESIGN 13).
AVAILABILITY_ORDER = ("Offline", "BeRightBack", "Away", "Available", "Busy", "DoNotDisturb")
ACTIVITY_ORDER = ("Busy", "InAMeeting", "InACall", "InAConferenceCall")


@dataclass
class Line:
    """One person's PBX state as delivered to the bridge, and the session of ours it calls for."""

    line: str | None = None  # None: the PBX never said anything about this phone
    since: float = 0.0  # when the line last changed (monotonic seconds)
    dnd: bool = False
    session: Pair | None = None  # the session as of the last event (``wanted`` gives it now)
    uncertain_conference: bool = False  # a restart cut what the bridge held: either call pair is right
    changes: int = 0  # how often the wanted session changed (the write-count bound's base)
    _counted: Pair | None = field(default=None, repr=False)

    def wanted(self, now: float) -> Pair | None:
        """The session of ours the mapping wants at ``now`` (timers of the last event applied)."""
        return self._decide(now, self.session)

    def accepted(self, now: float) -> frozenset[Pair | None]:
        """Every session that is right at ``now`` (one, unless a restart made the conference rule
        depend on what the bridge held when it was cut off)."""
        wanted = self.wanted(now)
        if (
            self.uncertain_conference
            and wanted in CALL_PAIRS
            and self.line == "in_conference"
            and not self.dnd
        ):
            return frozenset(CALL_PAIRS)
        return frozenset({wanted})

    def report(self, now: float, *, line: str | None = None, dnd: bool | None = None) -> None:
        """The bridge was told ``line`` and/or ``dnd`` at ``now``."""
        previous = self.wanted(now)
        self.count(now)  # a timer of the last event (idle hold, dialing delay) may have changed it
        if line is not None and line != self.line:
            self.line, self.since = line, now
            if line not in LINE_TO_SESSION or line == "dialing":
                self.uncertain_conference = False  # the call ended (or has not been shown yet)
        if dnd is not None:
            self.dnd = dnd
        self.session = self._decide(now, previous)
        self.count(now)

    def restarted(self) -> None:
        """The bridge restarted (or was released): what it held may not be what we last wanted.

        A kill can cut a write off in flight (a hang-up's clear, say): the restarted bridge then
        holds the call pair Teams may still show, and a conference the snapshot reports keeps it
        (README: "a call already shown as InACall stays so"). Both call pairs are Busy; either is
        right until the line next rests."""
        self.uncertain_conference = True

    def settled(self, now: float) -> None:
        """A quiescent point checked the bridge: with nothing wanted, it holds nothing either, so
        the conference rule is exact again."""
        if self.wanted(now) is None:
            self.uncertain_conference = False

    def released(self, now: float) -> None:
        """``release`` cleared our session and forgot the stored PBX states: nothing held, nothing
        known of the line; the next run decides from what the PBX reports afresh (README)."""
        self.session = None
        self.line, self.dnd = None, False
        self.restarted()
        self.count(now)

    def count(self, now: float) -> None:
        wanted = self.wanted(now)
        if wanted != self._counted:
            self.changes += 1
            self._counted = wanted

    def _decide(self, now: float, previous: Pair | None) -> Pair | None:
        if self.dnd:
            return PRESENTING
        line = self.line
        if line is None:
            return None
        row = LINE_TO_SESSION.get(line)
        if line == "dialing" and now < self.since + DIALING_DELAY:
            row = None  # not shown yet: the lower rows decide
        if row is not None:
            if line == "in_conference" and previous == IN_A_CALL:
                return IN_A_CALL  # the call already shown as InACall stays so until it ends
            return row
        if previous in CALL_PAIRS and line not in NOT_HELD and now < self.since + IDLE_HOLD:
            return previous
        return None


def _rank(pair: Pair) -> tuple[int, int]:
    availability = (
        AVAILABILITY_ORDER.index(pair.availability) if pair.availability in AVAILABILITY_ORDER else -1
    )
    activity = ACTIVITY_ORDER.index(pair.activity) if pair.activity in ACTIVITY_ORDER else -1
    return availability, activity


def teams_shows(sessions: Iterable[Pair], preferred: Pair | None) -> Pair:
    """What Teams shows for a user with these live sessions and this status chosen by hand."""
    live = list(sessions)
    if not live:
        return OFFLINE  # "Sessions only show while the user has at least one session"
    if preferred is not None:
        return preferred  # "A status the user chose by hand beats every session"
    return max(live, key=_rank)
