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

from collections.abc import Callable, Iterable
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
    # The hot path of every event: fields read once, no helper calls, the tuple built directly.
    line, dnd, away, agent, call_kind, at = (
        change.line,
        change.dnd,
        change.away,
        change.agent,
        change.call_kind,
        change.at,
    )
    if prev is None:
        prev = _FRESH
    else:
        observed_at = prev.observed_at
        if at is not None and observed_at is not None and at < observed_at:
            return None
        if (  # nothing at all changed (and nothing restored to confirm)
            not prev.restored
            and (line is None or line is prev.line)
            and (dnd is None or dnd is prev.dnd)
            and (away is None or away is prev.away)
            and (agent is None or agent == prev.agent)
            and (call_kind is None or call_kind is prev.call_kind)
            and (at is None or at == observed_at)
        ):
            return prev
    # A fresh endpoint's line stays unknown with no "since": no grace to keep.
    prev_line, prev_dnd, prev_away, prev_agent, prev_kind, prev_at, prev_since, _, prev_ours = prev
    if line is None:
        line = prev_line
    line_changed = line is not prev_line
    if call_kind is None:
        call_kind = _PERSONAL_CALL if line_changed else prev_kind
    return _new_state(
        EndpointState,
        (
            line,
            prev_dnd if dnd is None else dnd,
            prev_away if away is None else away,
            prev_agent if agent is None else agent,
            call_kind,
            prev_at if at is None else at,
            mono if line_changed else prev_since,
            False,
            prev_ours if dnd is None else change.echo,
        ),
    )


_new_state = tuple.__new__  # what EndpointState(...) does, without its Python-level __new__ frame
assert EndpointState._fields == (
    "line",
    "dnd",
    "away",
    "agent",
    "call_kind",
    "observed_at",
    "line_since",
    "restored",
    "dnd_ours",
), "merge builds EndpointState positionally"
_FRESH = EndpointState()


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


# Session-only intents by (session, cause): immutable, so one object serves every decision that
# reaches the same outcome (building and validating a frozen dataclass per decision cost ~6 % of
# the policy's throughput). Bounded: cleared when full (causes name endpoints, so it stays small).
_INTENTS: dict[tuple[Pair | None, str], TeamsIntent] = {}
_INTENTS_MAX = 1 << 17


def _session(previous: TeamsIntent | None, session: Pair | None, cause: str) -> TeamsIntent:
    """A session-only intent, reusing ``previous`` when it is the same (the common case)."""
    if (
        previous is not None
        and previous.session == session
        and previous.preferred is None
        and previous.reason == cause
    ):
        return previous
    key = (session, cause)
    intent = _INTENTS.get(key)
    if intent is None:
        if len(_INTENTS) >= _INTENTS_MAX:
            _INTENTS.clear()
        intent = _INTENTS[key] = TeamsIntent(session=session, reason=cause)
    return intent


def _earliest(a: float | None, b: float) -> float:
    return b if a is None or b < a else a


def decide(
    endpoints: Iterable[tuple[EndpointKey, EndpointRole, EndpointState]],
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
    rank_of = LINE_RANK
    for key, role, state in endpoints:
        if role is not _PERSONAL:
            continue
        # One C-level unpack instead of an attribute call per field (the hot loop of every event).
        s_line, s_dnd, s_away, s_agent, _, _, since, _, s_ours = state
        # A line never reported (an endpoint that only carries dnd/away) ranks below every known one.
        if since is not None:
            rank = rank_of[s_line]
            if since > last_change:
                last_change = since
            if s_line is _UNKNOWN and since > unknown_since:
                unknown_since = since
        else:
            rank = rank_of[s_line] if s_line is not _UNKNOWN else 0
        if rank > best:
            best, busy_key, busy_state = rank, key, state
        if s_dnd is _ON and dnd_key is None and not s_ours:
            dnd_key = key
        if s_away is _ON and away_key is None:
            away_key = key
        if wrapup_key is None and s_agent.wrapup:
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
        cause = f"{line} on {where}"
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
            cause = f"{line} on {where}: holding {previous.session} for {table.idle_hold:g} s"
            return Decision(previous, _earliest(recheck, until), line, cause)

    # 6. away
    if away_key is not None:
        away = table_for(away_key.adapter).away
        if isinstance(away, Pair):
            cause = f"away on {describe(away_key)}"
            return Decision(_session(previous, away, cause), recheck, line, cause)

    # 7. idle
    cause = f"{line} on {where}"
    return Decision(_session(previous, None, cause), recheck, line, cause)
