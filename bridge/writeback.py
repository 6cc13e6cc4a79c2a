"""Teams -> PBX policy (DESIGN sections 6 and 8): what Teams shows -> what the PBX should hold.

Pure: no asyncio, no httpx, no clock reads. The watcher (``bridge.teams.watcher``) polls Graph
and feeds each person's observation through ``observe``; the PBX reports the person's own DND
actions through ``pbx_dnd_event``.

Rules, each one place:

- ``TEAMS_TO_ROUTABLE`` maps (availability, activity) to a routable state, case-insensitively;
  ``outOfOfficeSettings.isOutOfOffice`` adds ``oof`` below every busier state (``ROUTABLE_RANK``).
- No loops, by cause: a Teams state our own session explains (same availability as the session we
  wrote) is ignored; so is every observation inside the hold-down after one of our writes.
- Entering DND needs two consecutive observations (debounce); leaving it takes one.
- PBX DND only for people who opted in; released when Teams leaves DND or after ``PBX_DND_MAX_HOLD``.
- The person's own PBX action wins: DND switched off by hand (ours or theirs) stays off until the
  next Teams DND transition; DND switched on by hand is theirs, we never switch it off.
- Only differences are sent.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Final

from bridge.model import RoutableState
from bridge.presence import Pair

ANY: Final = "*"
DND_DEBOUNCE: Final = 2  # consecutive DND observations before a DND action
PBX_DND_MAX_HOLD: Final = 8 * 3600.0  # seconds (DESIGN 6)

# (availability, activity) lower-cased, "*" a wildcard. Lookup: the exact row wins; otherwise the
# highest-ranked of (*, activity) and (availability, *); otherwise NONE ("clear what we set").
TEAMS_TO_ROUTABLE: Final = MappingProxyType(
    {
        (ANY, "inacall"): RoutableState.CALL,
        (ANY, "inaconferencecall"): RoutableState.CALL,
        (ANY, "presenting"): RoutableState.PRESENTING,
        ("donotdisturb", ANY): RoutableState.DND,  # DoNotDisturb, Focusing, UrgentInterruptionsOnly...
        (ANY, "outofoffice"): RoutableState.OOF,
        ("outofoffice", ANY): RoutableState.OOF,
        ("busy", "inameeting"): RoutableState.NONE,  # calendar-driven; see MEETING_ROWS
    }
)
# The ``meeting`` option (WatchConfig.meeting) overlays these rows.
MEETING_ROWS: Final = MappingProxyType({("busy", "inameeting"): RoutableState.MEETING})

# Busier first: when two rows (or a row and the out-of-office flag) apply, the higher rank wins.
ROUTABLE_RANK: Final = MappingProxyType(
    {
        RoutableState.CALL: 6,
        RoutableState.PRESENTING: 5,
        RoutableState.DND: 4,
        RoutableState.MEETING: 3,
        RoutableState.OOF: 2,
        RoutableState.NONE: 1,
    }
)
assert set(ROUTABLE_RANK) == set(RoutableState), "every RoutableState needs a rank"


def table(meeting: bool = False) -> MappingProxyType[tuple[str, str], RoutableState]:
    """The Teams -> routable table, with the meeting option applied."""
    return MappingProxyType({**TEAMS_TO_ROUTABLE, **MEETING_ROWS}) if meeting else TEAMS_TO_ROUTABLE


@dataclass(frozen=True, slots=True)
class Observation:
    """What Graph showed for one person: the aggregated pair and the out-of-office flag."""

    pair: Pair
    out_of_office: bool = False


def routable_for(
    observation: Observation, rows: MappingProxyType[tuple[str, str], RoutableState] = TEAMS_TO_ROUTABLE
) -> RoutableState:
    """The routable state a Teams observation maps to (``rows`` from ``table()``)."""
    availability = observation.pair.availability.lower()
    activity = observation.pair.activity.lower()
    found = rows.get((availability, activity))
    if found is None:
        candidates = [
            state for state in (rows.get((ANY, activity)), rows.get((availability, ANY))) if state is not None
        ]
        found = max(candidates, key=ROUTABLE_RANK.__getitem__, default=RoutableState.NONE)
    if observation.out_of_office:
        found = max(found, RoutableState.OOF, key=ROUTABLE_RANK.__getitem__)
    return found


def explained_by_ours(shown: Pair, ours: Pair | None) -> bool:
    """True when our own session explains what Teams shows (same availability): never reflect it."""
    return ours is not None and shown.availability.lower() == ours.availability.lower()


@dataclass(frozen=True, slots=True)
class PbxIntent:
    """What to change on the PBX for one person; None fields mean "leave as is"."""

    routable: RoutableState | None = None
    pbx_dnd: bool | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class WatchState:
    """One person's Teams -> PBX state. Start from ``WatchState()`` (nothing sent).

    ``sent_routable`` starts as NONE: at start-up nothing is written for people whose Teams state
    maps to nothing (no burst of clears to the PBX); anything else is written at the first reading.
    ``teams_dnd``: the debounced Teams DND; ``dnd_streak`` counts consecutive DND observations.
    ``pbx_dnd_ours``: PBX DND is on because we switched it (since ``pbx_dnd_since``).
    ``suppressed``: the person overrode us on the PBX; no PBX DND until the next Teams transition.
    ``pbx_dnd_theirs``: the person switched PBX DND on themselves; we neither take it over nor clear it.
    """

    sent_routable: RoutableState = RoutableState.NONE
    teams_dnd: bool = False
    dnd_streak: int = 0
    pbx_dnd_ours: bool = False
    pbx_dnd_since: float = 0.0
    suppressed: bool = False
    pbx_dnd_theirs: bool = False


def observe(
    state: WatchState,
    observation: Observation,
    ours: Pair | None,
    person_opted_pbx_dnd: bool,
    now: float,
    hold_down_until: float,
    *,
    meeting: bool = False,
) -> tuple[WatchState, list[PbxIntent]]:
    """Feed one observation; returns the new state and at most one intent (only differences)."""
    if now < hold_down_until:
        return _expire_hold(state, now)
    if explained_by_ours(observation.pair, ours):
        return _expire_hold(state, now)
    target = routable_for(observation, table(meeting))
    is_dnd = target is RoutableState.DND
    streak = state.dnd_streak + 1 if is_dnd else 0
    teams_dnd = state.teams_dnd
    if is_dnd and streak < DND_DEBOUNCE and not state.teams_dnd:
        # first sighting of DND: wait for the second, touch nothing
        return _expire_hold(replace(state, dnd_streak=streak), now)
    new = replace(state, dnd_streak=streak, teams_dnd=is_dnd)
    transition = is_dnd != teams_dnd
    if transition:
        new = replace(new, suppressed=False)
    want_pbx_dnd = is_dnd and person_opted_pbx_dnd and not new.suppressed and not new.pbx_dnd_theirs
    routable = target if target != state.sent_routable else None
    pbx_dnd: bool | None = None
    if want_pbx_dnd and not state.pbx_dnd_ours:
        pbx_dnd = True
        new = replace(new, pbx_dnd_ours=True, pbx_dnd_since=now)
    elif not want_pbx_dnd and state.pbx_dnd_ours:
        pbx_dnd = False
        new = replace(new, pbx_dnd_ours=False)
    new, held = _expire_hold(new, now)
    if held:
        pbx_dnd = held[0].pbx_dnd
    new = replace(new, sent_routable=target)
    if routable is None and pbx_dnd is None:
        return new, []
    return new, [PbxIntent(routable=routable, pbx_dnd=pbx_dnd, reason=f"teams {observation.pair}")]


def _expire_hold(state: WatchState, now: float) -> tuple[WatchState, list[PbxIntent]]:
    """PBX DND we set is held at most ``PBX_DND_MAX_HOLD``; then released until the next transition."""
    if state.pbx_dnd_ours and now - state.pbx_dnd_since >= PBX_DND_MAX_HOLD:
        released = replace(state, pbx_dnd_ours=False, suppressed=True)
        return released, [PbxIntent(pbx_dnd=False, reason="pbx dnd held for the maximum time")]
    return state, []


def pbx_dnd_event(state: WatchState, on: bool, by_us: bool) -> WatchState:
    """The PBX reported its DND for this person; ``by_us`` when it is the echo of our own write.

    The person's own action wins: off by hand (ours or their own) -> we stay off until the next
    Teams DND transition (README: "pressing *79 during a Teams DND keeps PBX DND off until the next
    Teams change"); on by hand -> it is theirs, we will not switch it off.
    """
    if by_us or (on and state.pbx_dnd_ours):
        return state  # our own write coming back (or "on" while we hold it on: no news)
    if on:
        return replace(state, pbx_dnd_ours=False, pbx_dnd_theirs=True)
    return replace(state, pbx_dnd_ours=False, pbx_dnd_theirs=False, suppressed=True)


def release(state: WatchState) -> tuple[WatchState, list[PbxIntent]]:
    """Undo everything we set for this person (``presence-bridge release``)."""
    routable = RoutableState.NONE if state.sent_routable is not RoutableState.NONE else None
    pbx_dnd = False if state.pbx_dnd_ours else None
    new = replace(state, sent_routable=RoutableState.NONE, pbx_dnd_ours=False)
    if routable is None and pbx_dnd is None:
        return new, []
    return new, [PbxIntent(routable=routable, pbx_dnd=pbx_dnd, reason="release")]
