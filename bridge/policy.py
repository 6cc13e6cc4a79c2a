"""Pure decisions: merge partial endpoint updates, and decide what Teams should hold for a person.

No asyncio, no clock reads: the caller passes ``mono`` (its clock's monotonic seconds). The runtime
calls ``decide`` on every event of a person and again at ``recheck_at``; the result depends only
on the arguments, and feeding a decision's intent back as ``previous`` at the same ``mono`` gives
the same intent again (a fixpoint), so repeated calls never flap.

Layers, highest precedence first (DESIGN section 5: dnd > call states > away > idle):

1. **dnd** on any personal endpoint: the table's ``dnd`` session (DoNotDisturb/Presenting; Busy/InACall
   when the tenant does not accept Presenting), plus preferred DoNotDisturb/DoNotDisturb with its
   expiry when ``dnd_preferred``. ``dnd: none`` skips this layer.
2. **unknown grace**: when the busiest personal line is ``unknown``, the previous intent stands
   until ``unknown_grace`` after the latest endpoint went unknown; then the ``unknown`` row applies.
   The grace keeps what is unknown, not what the PBX has just said: a previous intent showing the
   ``dnd`` row is not kept once every personal endpoint's dnd is known and none is on (a fresh
   explicit "DND off" beats the grace for that field; the rest of the layers decide at once); and
   the preferred Away of a kept intent follows away as the PBX reports it now (rule *away
   preferred* below; while away is unknown, one already shown is kept).
3. **line**: the busiest personal endpoint's row (``bridge.model.LINE_RANK``), with three rules:
   ``dialing`` shows only once it has lasted ``dialing_delay``; ``ringing`` shows ``ringing_personal``
   only for personal calls; and a conference never switches a call mid-way: when the row says the
   in_conference pair and the previous session is another call pair of the same availability
   (typically Busy/InACall), the previous session stands until the call ends.
4. **agent wrap-up** (``agent_wrapup``) on any personal endpoint.
5. **idle hold**: when the line shows nothing (idle, ringing without a pair, dialing not yet due)
   and the previous session was a call pair, it stands until ``idle_hold`` after the latest line
   change of any personal endpoint (bridges transfers and call waiting). ``unavailable`` and an
   expired ``unknown`` are not held.
6. **away** (``away``) on any personal endpoint.
7. otherwise: clear our session.

**Away preferred** (``away_preferred``, in the table of the first personal endpoint whose away is
on): when layer 1 does not decide, the intent also carries the user's preferred Away/Away with
``away_preferred_expiry``, whichever of layers 2-7 decides our session. Preferred presence beats
every session in Teams (reference section 4), so a call during it still sets Busy/InACall on our
session (precedence unchanged: the PBX's DND beats calls beats away), while Teams keeps showing
Away until away goes off. The DND layer never carries it: DND beats away.

"No change" rows (``none``) and ``clear`` rows both fall through to the next layer. Each layer
uses the table of the adapter whose endpoint triggered it (``table_for(adapter)``; per-person
overrides are expected to be baked into that callable).

This module is the **reference**: each rule written once, plainly, for reading and for tests.
The engine runs ``bridge.policy_fast`` instead (the same rules, hand-tuned for CPython);
``tests/core/test_policy_fast_path.py`` feeds random event sequences to both and requires
identical states and decisions at every step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import NamedTuple

from bridge.mapping import Directive, MappingTable
from bridge.model import (
    LINE_RANK,
    CallKind,
    EndpointKey,
    EndpointRole,
    EndpointState,
    LineState,
    StateChange,
    Toggle,
)
from bridge.presence import IN_A_CALL, PRESENTING, Pair, TeamsIntent

PREFERRED_DND = Pair("DoNotDisturb", "DoNotDisturb")
PREFERRED_AWAY = Pair("Away", "Away")
NEVER = float("-inf")  # "no such moment": earlier than any monotonic reading


class Decision(NamedTuple):
    """What Teams should hold for one person, and when to ask again with no new event.

    A NamedTuple (immutable): one is built per decision on the hot path, and tuple construction
    is several times cheaper than a frozen dataclass's.
    """

    intent: TeamsIntent
    recheck_at: float | None  # monotonic seconds; None: nothing pending
    line: LineState  # the person's line (busiest personal endpoint)
    cause: str  # short human reason, e.g. "in_call on pbx/1001"


def describe(key: EndpointKey) -> str:
    """``adapter/extension[@context][#device]``, as causes and logs name an endpoint."""
    text = f"{key.adapter}/{key.extension}"
    if key.context:
        text += f"@{key.context}"
    if key.device:
        text += f"#{key.device}"
    return text


# --- merge ---------------------------------------------------------------------------------


def merge(prev: EndpointState | None, change: StateChange, mono: float) -> EndpointState | None:
    """Apply a partial change to an endpoint's state; None when the change is stale.

    Stale: ``change.at`` is strictly older than the state's ``observed_at``. ``line_since``
    becomes ``mono`` when the line changes; a new endpoint whose line was never reported keeps
    ``line_since=None``, so the unknown grace (meant for adapter blips) does not hold anything.
    ``call_kind`` describes the current call: a line change without one resets it to personal.
    Any applied change confirms a restored state. Returns ``prev`` itself when nothing at all changed
    (the engine then knows the decision cannot change either). ``dnd_ours`` (see ``_dnd_ours``):
    a new DND value takes the change's ``echo``; a repeated one keeps its owner.
    """
    if prev is None:
        base = EndpointState()
    elif _is_stale(prev, change):
        return None
    elif _changes_nothing(prev, change):
        return prev
    else:
        base = prev
    line = base.line if change.line is None else change.line
    line_changed = line != base.line
    if change.call_kind is not None:
        call_kind = change.call_kind
    elif line_changed:
        call_kind = CallKind.PERSONAL
    else:
        call_kind = base.call_kind
    return EndpointState(
        line=line,
        dnd=base.dnd if change.dnd is None else change.dnd,
        away=base.away if change.away is None else change.away,
        agent=base.agent if change.agent is None else change.agent,
        call_kind=call_kind,
        observed_at=base.observed_at if change.at is None else change.at,
        line_since=mono if line_changed else base.line_since,
        restored=False,
        dnd_ours=_dnd_ours(base, change),
    )


def _dnd_ours(base: EndpointState, change: StateChange) -> bool:
    """Whether the DND now on the endpoint is the echo of our own write-back.

    A changed value is ours only when the adapter recognised it as our echo. A repeated value (a
    resync re-reports everything, with a new line or ``at`` beside it) is no action by anyone: it
    keeps its owner, or becomes ours when the adapter says it is our echo (ownership restored).
    """
    if change.dnd is None:
        return base.dnd_ours
    if change.dnd is base.dnd:
        return base.dnd_ours or change.echo
    return change.echo


def _is_stale(prev: EndpointState, change: StateChange) -> bool:
    return change.at is not None and prev.observed_at is not None and change.at < prev.observed_at


def _changes_nothing(prev: EndpointState, change: StateChange) -> bool:
    """Every reported field equals what is known, and there is no restored state to confirm."""
    reported = (
        (change.line, prev.line),
        (change.dnd, prev.dnd),
        (change.away, prev.away),
        (change.agent, prev.agent),
        (change.call_kind, prev.call_kind),
        (change.at, prev.observed_at),
    )
    return not prev.restored and all(new is None or new == old for new, old in reported)


# --- decide --------------------------------------------------------------------------------


def decide(
    endpoints: Iterable[tuple[EndpointKey, EndpointRole, EndpointState]],
    table_for: Callable[[str], MappingTable],
    previous: TeamsIntent | None,
    mono: float,
    *,
    presenting_supported: bool = True,
) -> Decision:
    """Decide a person's Teams intent from all their endpoints (see the module docstring)."""
    personal = [(key, state) for key, role, state in endpoints if role is EndpointRole.PERSONAL]
    if not personal:
        return _show(None, None, LineState.UNAVAILABLE, "no personal endpoint")
    busy_key, busy = max(personal, key=lambda pair: _busyness(pair[1]))  # the first of equals
    line = busy.line
    where = describe(busy_key)

    # 1. dnd
    dnd_key = _first(personal, lambda s: s.dnd is Toggle.ON and not s.dnd_ours)
    if dnd_key is not None:
        table = table_for(dnd_key.adapter)
        if isinstance(table.dnd, Pair):
            session, cause = table.dnd, f"dnd on {describe(dnd_key)}"
            if session == PRESENTING and not presenting_supported:
                session = IN_A_CALL
                cause += " (Presenting not accepted: Busy/InACall)"
            if table.dnd_preferred:
                intent = TeamsIntent(session, PREFERRED_DND, table.dnd_preferred_expiry, cause)
                return Decision(intent, None, line, cause)
            return _show(session, None, line, cause)

    table = table_for(busy_key.adapter)
    recheck: float | None = None
    away_key = _first(personal, lambda s: s.away is Toggle.ON)
    away_table = table_for(away_key.adapter) if away_key is not None else None
    away = NO_AWAY
    if away_key is not None and away_table is not None and away_table.away_preferred:
        away = AwayPreference(
            PREFERRED_AWAY,
            away_table.away_preferred_expiry,
            f"; preferred Away: away on {describe(away_key)}",
        )
    away_known = all(s.away is not Toggle.UNKNOWN for _, s in personal)

    # 2. unknown grace (with nothing to keep, the rest decides; the recheck keeps calls stable)
    if line is LineState.UNKNOWN:
        went_unknown = _latest(s.line_since for _, s in personal if s.line is LineState.UNKNOWN)
        until = went_unknown + table.unknown_grace
        if mono < until:
            dnd_known = all(s.dnd is not Toggle.UNKNOWN for _, s in personal)
            if previous is not None and not (dnd_known and shows_dnd(previous, table)):
                cause = f"unknown on {where}: keeping the last state for {table.unknown_grace:g} s"
                return Decision(holding(previous, table, away, away_known), until, line, cause)
            recheck = until

    # 3. line
    action = table.line[line]
    personal_ringing = line is LineState.RINGING and busy.call_kind is CallKind.PERSONAL
    if personal_ringing and isinstance(table.ringing_personal, Pair):
        action = table.ringing_personal
    if line is LineState.DIALING and isinstance(action, Pair):
        due = (NEVER if busy.line_since is None else busy.line_since) + table.dialing_delay
        if mono < due:
            action, recheck = Directive.NONE, due  # not shown yet: the lower layers decide until then
    if isinstance(action, Pair):
        cause = f"{line} on {where}"
        kept = previous.session if previous is not None else None
        if (
            line is LineState.IN_CONFERENCE
            and kept is not None
            and kept != action
            and kept in table.call_pairs
            and kept.availability == action.availability
        ):
            cause += f": keeping {kept} for the ongoing call"
            action = kept
        return _show(action, recheck, line, cause, away)

    # 4. agent wrap-up
    wrapup_key = _first(personal, lambda s: s.agent.wrapup)
    if wrapup_key is not None:
        wrapup = table_for(wrapup_key.adapter).agent_wrapup
        if isinstance(wrapup, Pair):
            return _show(wrapup, recheck, line, f"agent wrap-up on {describe(wrapup_key)}", away)

    # 5. idle hold
    held = previous.session if previous is not None else None
    if (
        previous is not None
        and held is not None
        and held in table.call_pairs
        and line not in (LineState.UNAVAILABLE, LineState.UNKNOWN)
    ):
        until = _latest(s.line_since for _, s in personal) + table.idle_hold
        if mono < until:
            cause = f"{line} on {where}: holding {held} for {table.idle_hold:g} s"
            intent = holding(previous, table, away, away_known)
            return Decision(intent, until if recheck is None else min(recheck, until), line, cause)

    # 6. away
    if away_key is not None and away_table is not None:
        away_session = away_table.away if isinstance(away_table.away, Pair) else None
        if away_session is not None or away.preferred is not None:
            return _show(away_session, recheck, line, f"away on {describe(away_key)}", away, tail=False)

    # 7. idle
    return _show(None, recheck, line, f"{line} on {where}")


def shows_dnd(intent: TeamsIntent, table: MappingTable) -> bool:
    """Whether ``intent`` is the dnd layer's: the preferred DND, or the ``dnd`` row's session when
    no call row shows the same pair (a call pair may be a call: the grace keeps it)."""
    if intent.preferred == PREFERRED_DND:
        return True
    dnd = table.dnd
    return isinstance(dnd, Pair) and intent.session == dnd and dnd not in table.call_pairs


class AwayPreference(NamedTuple):
    """The preferred Away the PBX's away asks for now (``preferred`` None: none), and the words
    a cause gets for it."""

    preferred: Pair | None
    expiry: timedelta | None
    tail: str


NO_AWAY = AwayPreference(None, None, "")  # away asks for no preferred Away


def holding(
    previous: TeamsIntent, table: MappingTable, away: AwayPreference, away_known: bool
) -> TeamsIntent:
    """``previous`` as a holding layer (unknown grace, idle hold) keeps it: its session, with the
    preferred Away the PBX's away asks for now (one already shown stays while away is unknown); an
    intent of the dnd layer stands whole (DND beats away). ``previous`` itself when nothing differs."""
    if shows_dnd(previous, table):
        return previous
    preferred, expiry = away.preferred, away.expiry
    if preferred is None and not away_known and previous.preferred == PREFERRED_AWAY:
        preferred, expiry = previous.preferred, previous.preferred_expiry
    if previous.preferred == preferred and previous.preferred_expiry == expiry:
        return previous
    return TeamsIntent(previous.session, preferred, expiry, previous.reason)


def _busyness(state: EndpointState) -> int:
    """``LINE_RANK``, except that a line never reported (an endpoint that only carries dnd/away)
    ranks below every known one."""
    if state.line_since is None and state.line is LineState.UNKNOWN:
        return 0
    return LINE_RANK[state.line]


def _first(
    personal: list[tuple[EndpointKey, EndpointState]], test: Callable[[EndpointState], bool]
) -> EndpointKey | None:
    """The first endpoint (in the caller's order) whose state passes ``test``."""
    return next((key for key, state in personal if test(state)), None)


def _latest(moments: Iterable[float | None]) -> float:
    """The latest known moment; ``NEVER`` when none is known."""
    return max((m for m in moments if m is not None), default=NEVER)


def _show(
    session: Pair | None,
    recheck: float | None,
    line: LineState,
    cause: str,
    away: AwayPreference = NO_AWAY,
    *,
    tail: bool = True,
) -> Decision:
    """A decision for our session (None: clear it), with the preferred Away ``away`` asks for
    (its words appended to the cause when ``tail``)."""
    if away.preferred is None:
        return Decision(TeamsIntent(session=session, reason=cause), recheck, line, cause)
    if tail:
        cause += away.tail
    return Decision(TeamsIntent(session, away.preferred, away.expiry, cause), recheck, line, cause)
