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

"No change" rows (``none``) and ``clear`` rows both fall through to the next layer. Each layer
uses the table of the adapter whose endpoint triggered it (``table_for(adapter)``; per-person
overrides are expected to be baked into that callable).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

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
_NEVER = float("-inf")
# Enum members bound once: class attribute access is a descriptor call on the hot path.
_PERSONAL = EndpointRole.PERSONAL
_PERSONAL_CALL = CallKind.PERSONAL
_ON = Toggle.ON
_UNKNOWN = LineState.UNKNOWN
_UNAVAILABLE = LineState.UNAVAILABLE
_RINGING = LineState.RINGING
_DIALING = LineState.DIALING
_IN_CONFERENCE = LineState.IN_CONFERENCE
_NONE = Directive.NONE


def merge(prev: EndpointState | None, change: StateChange, mono: float) -> EndpointState | None:
    """Apply a partial change to an endpoint's state; None when the change is stale.

    Stale: ``change.at`` is strictly older than the state's ``observed_at``. ``line_since``
    becomes ``mono`` when the line changes; a new endpoint whose line was never reported keeps
    ``line_since=None``, so the unknown grace (meant for adapter blips) does not hold anything.
    ``call_kind`` describes the current call: a line change without one resets it to personal.
    Any applied change confirms a restored state. Returns ``prev`` itself when nothing at all changed.
    """
    if prev is None:
        prev_line = _FRESH.line  # a line never reported stays unknown with no "since": no grace to keep
        base = _FRESH
    else:
        at = change.at
        if at is not None and prev.observed_at is not None and at < prev.observed_at:
            return None
        if _unchanged(prev, change):
            return prev
        prev_line = prev.line
        base = prev
    line = base.line if change.line is None else change.line
    line_changed = line is not prev_line
    if change.call_kind is not None:
        call_kind = change.call_kind
    elif line_changed:
        call_kind = _PERSONAL_CALL
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
        dnd_ours=base.dnd_ours if change.dnd is None else change.echo,
    )


def _unchanged(prev: EndpointState, change: StateChange) -> bool:
    return (
        not prev.restored
        and (change.line is None or change.line is prev.line)
        and (change.dnd is None or change.dnd is prev.dnd)
        and (change.away is None or change.away is prev.away)
        and (change.agent is None or change.agent == prev.agent)
        and (change.call_kind is None or change.call_kind is prev.call_kind)
        and (change.at is None or change.at == prev.observed_at)
    )


_FRESH = EndpointState()


@dataclass(frozen=True, slots=True)
class Decision:
    """What Teams should hold for one person, and when to ask again with no new event."""

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


def _session(previous: TeamsIntent | None, session: Pair | None, cause: str) -> TeamsIntent:
    """A session-only intent, reusing ``previous`` when it is the same (the common case)."""
    if (
        previous is not None
        and previous.session == session
        and previous.preferred is None
        and previous.reason == cause
    ):
        return previous
    return TeamsIntent(session=session, reason=cause)


def _earliest(a: float | None, b: float) -> float:
    return b if a is None or b < a else a


def decide(
    endpoints: Sequence[tuple[EndpointKey, EndpointRole, EndpointState]],
    table_for: Callable[[str], MappingTable],
    previous: TeamsIntent | None,
    mono: float,
    *,
    presenting_supported: bool = True,
) -> Decision:
    """Decide a person's Teams intent from all their endpoints (see the module docstring)."""
    busy_key: EndpointKey | None = None
    busy_state: EndpointState | None = None
    best = -1
    last_change = _NEVER
    unknown_since = _NEVER
    dnd_key: EndpointKey | None = None
    away_key: EndpointKey | None = None
    wrapup_key: EndpointKey | None = None
    for key, role, state in endpoints:
        if role is not _PERSONAL:
            continue
        # A line never reported (an endpoint that only carries dnd/away) ranks below every known one.
        rank = LINE_RANK[state.line] if state.line_since is not None or state.line is not _UNKNOWN else 0
        if rank > best:
            best, busy_key, busy_state = rank, key, state
        since = state.line_since
        if since is not None:
            if since > last_change:
                last_change = since
            if state.line is _UNKNOWN and since > unknown_since:
                unknown_since = since
        if dnd_key is None and state.dnd is _ON and not state.dnd_ours:
            dnd_key = key
        if away_key is None and state.away is _ON:
            away_key = key
        if wrapup_key is None and state.agent.wrapup:
            wrapup_key = key

    if busy_key is None or busy_state is None:
        cause = "no personal endpoint"
        return Decision(_session(previous, None, cause), None, _UNAVAILABLE, cause)
    line = busy_state.line
    where = describe(busy_key)

    # 1. dnd
    if dnd_key is not None:
        table = table_for(dnd_key.adapter)
        session = table.dnd
        if isinstance(session, Pair):
            cause = f"dnd on {describe(dnd_key)}"
            if session == PRESENTING and not presenting_supported:
                session = IN_A_CALL
                cause += " (Presenting not accepted: Busy/InACall)"
            if table.dnd_preferred:
                intent = TeamsIntent(session, PREFERRED_DND, table.dnd_preferred_expiry, cause)
            else:
                intent = _session(previous, session, cause)
            return Decision(intent, None, line, cause)

    table = table_for(busy_key.adapter)
    recheck: float | None = None

    # 2. unknown grace (with nothing to keep, the rest decides; the recheck keeps calls stable)
    if line is _UNKNOWN:
        until = unknown_since + table.unknown_grace
        if mono < until:
            if previous is not None:
                cause = f"unknown on {where}: keeping the last state for {table.unknown_grace:g} s"
                return Decision(previous, until, line, cause)
            recheck = until

    # 3. line
    if line is _RINGING:
        action = table.ringing_personal
        if not isinstance(action, Pair) or busy_state.call_kind is not _PERSONAL_CALL:
            action = table.line[line]
    else:
        action = table.line[line]
    if isinstance(action, Pair) and line is _DIALING:
        due = (busy_state.line_since if busy_state.line_since is not None else _NEVER) + table.dialing_delay
        if mono < due:
            action = _NONE
            recheck = due
    if isinstance(action, Pair):
        cause = f"{line.value} on {where}"
        if line is _IN_CONFERENCE and previous is not None:
            kept = previous.session
            if (
                kept is not None
                and kept != action
                and kept in table.call_pairs
                and kept.availability == action.availability
            ):
                cause += f": keeping {kept} for the ongoing call"
                action = kept
        return Decision(_session(previous, action, cause), recheck, line, cause)

    # 4. agent wrap-up
    if wrapup_key is not None:
        wrapup = table_for(wrapup_key.adapter).agent_wrapup
        if isinstance(wrapup, Pair):
            cause = f"agent wrap-up on {describe(wrapup_key)}"
            return Decision(_session(previous, wrapup, cause), recheck, line, cause)

    # 5. idle hold
    if (
        previous is not None
        and previous.session is not None
        and previous.session in table.call_pairs
        and line is not _UNAVAILABLE
        and line is not _UNKNOWN
    ):
        until = last_change + table.idle_hold
        if mono < until:
            cause = f"{line.value} on {where}: holding {previous.session} for {table.idle_hold:g} s"
            return Decision(previous, _earliest(recheck, until), line, cause)

    # 6. away
    if away_key is not None:
        away = table_for(away_key.adapter).away
        if isinstance(away, Pair):
            cause = f"away on {describe(away_key)}"
            return Decision(_session(previous, away, cause), recheck, line, cause)

    # 7. idle
    cause = f"{line.value} on {where}"
    return Decision(_session(previous, None, cause), recheck, line, cause)
