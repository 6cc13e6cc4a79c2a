"""What the PBX may hold from us, computed from the documents alone (README "Default mapping,
Teams -> PBX", DESIGN 6), never from the bridge's code: the AMI chaos runs' expected values.

* :func:`routable` is README's table, first matching row wins (calls, then presenting, then Do not
  disturb; Busy/InAMeeting and everything else clear what we set).
* :func:`explained` is the loop rule: a Teams state our own session explains (same availability,
  DESIGN 6 "compare availability") is never reflected back.
* :class:`Watch` follows one person between quiescent points. When what Teams shows now is not
  explained by our session, the PBX must hold exactly its row. When it is, the bridge keeps what it
  had, so any row the person's own Teams showed since the last check (with any session of ours,
  or none, beside it: our session's timing is not the user's, and a PBX change may uncover their
  own Teams at any moment) is right, and so is the last one.
* PBX DND from Teams (people who opted in): never held while the row cannot be ``dnd``; required
  while it is and the person has not switched PBX DND themselves during that Teams DND. Switching
  it off (``*76``) during a Teams DND keeps it off until the next Teams change (README "No loops":
  "pressing ``*79`` during a Teams DND keeps PBX DND off until the next Teams change"): forbidden
  once a check has seen that Teams DND, the person switched it off after that check, and nothing
  their Teams could have shown since is anything but ``dnd`` (else the watcher may have seen the
  change). Otherwise, once they touched it, either is accepted until a check sees the DND over.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from bridge.presence import IN_A_CALL, PRESENTING, Pair
from tests.chaos.oracle import teams_shows

NONE = "none"
# README's rows in order (availability or activity "*" matches anything); the first match wins.
TEAMS_TO_PBX: tuple[tuple[str, str, str], ...] = (
    ("*", "InACall", "call"),
    ("*", "InAConferenceCall", "call"),
    ("*", "Presenting", "presenting"),
    ("DoNotDisturb", "*", "dnd"),
)
# Every availability a session of ours can have: none, Busy (both call pairs), DoNotDisturb.
OUR_SESSIONS: tuple[Pair | None, ...] = (None, IN_A_CALL, PRESENTING)


def routable(shown: Pair) -> str:
    for availability, activity, state in TEAMS_TO_PBX:
        if availability in ("*", shown.availability) and activity in ("*", shown.activity):
            return state
    return NONE


def explained(shown: Pair, ours: Pair | None) -> bool:
    return ours is not None and shown.availability == ours.availability


@dataclass
class Watch:
    """One person's Teams -> PBX expectations between quiescent points."""

    opted_in: bool = False
    last: str = NONE  # what the PBX held at the last check (or after a release)
    since: set[str] = field(default_factory=set)  # rows the person's own Teams showed since then
    dnd_touched: bool = False  # switched PBX DND themselves during this Teams DND
    own: tuple[tuple[Pair, ...], Pair | None] = ((), None)  # their own sessions and chosen status
    dnd_seen: bool = False  # the last check saw a Teams DND (the watcher had taken it in)
    switched_off: bool = False  # PBX DND switched off by the person since that check
    rows_since_off: set[str] = field(default_factory=set)  # every row Teams may have shown since

    def teams_changed(self, own: Iterable[Pair], preferred: Pair | None) -> None:
        """The person changed their own Teams: note every row it may show, whatever we hold."""
        own = tuple(own)
        self.own = (own, preferred)
        for ours in OUR_SESSIONS:
            sessions = [*own, *([ours] if ours is not None else [])]
            shown = teams_shows(sessions, preferred)
            if not explained(shown, ours):  # no session at all: Offline, "clear what we set"
                self.since.add(routable(shown))
            self.rows_since_off.add(routable(shown))  # with no session at all too: Offline

    def pbx_dnd_pressed(self, on: bool) -> None:
        self.dnd_touched = True
        self.switched_off = not on and self.dnd_seen
        self.rows_since_off = set()
        self.teams_changed(*self.own)

    def accepted(self, shown: Pair, ours: Pair | None) -> frozenset[str]:
        """The routable states the PBX may hold now."""
        if not explained(shown, ours):
            return frozenset({routable(shown)})
        return frozenset({self.last, *self.since})

    def dnd_allowed(self, accepted: frozenset[str]) -> bool:
        """Whether a PBX DND of ours may be on now."""
        return self.opted_in and "dnd" in accepted and not self.dnd_forbidden()

    def dnd_forbidden(self) -> bool:
        """The person switched PBX DND off during a Teams DND that has not changed since."""
        return self.switched_off and self.rows_since_off <= {"dnd"}

    def dnd_required(self, accepted: frozenset[str]) -> bool:
        return self.opted_in and accepted == {"dnd"} and not self.dnd_touched

    def checked(self, held: str, accepted: frozenset[str]) -> None:
        """A quiescent point saw the PBX hold ``held``; a Teams DND that ended starts afresh."""
        self.last = held
        self.since = set()
        self.teams_changed(*self.own)  # a PBX change may uncover their own Teams at any moment
        self.dnd_seen = accepted == {"dnd"}
        if "dnd" not in accepted:
            self.dnd_touched = self.switched_off = False

    def released(self) -> None:
        """``release`` cleared what we set; the next run starts from nothing sent (README)."""
        self.last = NONE
        self.since = set()
        self.teams_changed(*self.own)
        self.dnd_touched = self.dnd_seen = self.switched_off = False
