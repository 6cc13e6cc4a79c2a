"""The policy's fast path: ``bridge.policy``'s rules, hand-tuned for CPython; what the engine runs.

``bridge.policy`` is the reference (each rule once, plainly); this module must agree with it on
every input, which ``tests/core/test_policy_fast_path.py`` checks on random event sequences
(several endpoints per person, every line state, dnd, away, agent, call kinds, timers, tables with
overrides). Change a rule there first, then here, and let that test say whether they still agree.

Every trick below exists because the policy throughput benchmark (>= 100,000 events/s, one core,
10,000 people; docs/benchmarks.md, "Engine and policy") measured it:

- ``fast_merge`` unpacks the state tuple once and builds the new ``EndpointState`` with
  ``tuple.__new__`` (what ``EndpointState(...)`` does, minus its Python-level ``__new__`` frame);
- enum members are bound to module constants (``_ON`` ...): on CPython 3.11 reading ``Toggle.ON``
  goes through the enum metaclass (~65 ns), a module global is one dict read (~5 ns);
- ``fast_decide`` walks the endpoints once, unpacking each state in C, and accepts the engine's
  mutable ``[key, role, state]`` cells (``Cell``) as well as tuples;
- a session-only intent is the previous one when nothing changed, and otherwise built by
  ``_session_intent``, which fills the frozen ``TeamsIntent``'s slots directly (0.26 us instead of
  0.6 us through its generated ``__init__``). It checks the one thing ``__post_init__`` would (the
  pair is a setPresence pair) and leaves any failure to the real constructor, so errors are the
  same. This replaced a module-wide cache of intents per (session, cause): kept per engine, as
  caches should be, it starts cold in every engine (about 42,000 distinct outcomes per 150,000
  benchmark events), and building directly measured faster than the cache's lookups and misses.

Nothing here keeps state between calls: there is no cache to own, bound or share.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import fields
from typing import Any

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
from bridge.policy import (
    NEVER,
    NO_AWAY,
    PREFERRED_AWAY,
    PREFERRED_DND,
    AwayPreference,
    Decision,
    describe,
    holding,
    shows_dnd,
)
from bridge.presence import IN_A_CALL, PRESENTING, SESSION_PAIRS, Pair, TeamsIntent

# One endpoint as the engine keeps it: [key, role, state], mutable so an event replaces the state in
# place and the engine's route cache and the person's endpoint dict share it (one lookup per event).
# The state is None until the endpoint's first event; ``fast_decide`` only sees cells with one.
Cell = list[Any]

_PERSONAL = EndpointRole.PERSONAL
_PERSONAL_CALL = CallKind.PERSONAL
_ON = Toggle.ON
_TOGGLE_UNKNOWN = Toggle.UNKNOWN
_UNKNOWN = LineState.UNKNOWN
_UNAVAILABLE = LineState.UNAVAILABLE
_RINGING = LineState.RINGING
_DIALING = LineState.DIALING
_IN_CONFERENCE = LineState.IN_CONFERENCE
_NONE = Directive.NONE
_FRESH = EndpointState()
_new_state = tuple.__new__
_new_intent = object.__new__
_intent_slots: Any = TeamsIntent  # its slot descriptors, which set a field past the frozen guard
_set_session = _intent_slots.session.__set__
_set_preferred = _intent_slots.preferred.__set__
_set_expiry = _intent_slots.preferred_expiry.__set__
_set_reason = _intent_slots.reason.__set__
assert [f.name for f in fields(TeamsIntent)] == ["session", "preferred", "preferred_expiry", "reason"], (
    "_session_intent sets every TeamsIntent field"
)
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
), "fast_merge builds EndpointState positionally"


def fast_merge(prev: EndpointState | None, change: StateChange, mono: float) -> EndpointState | None:
    """``bridge.policy.merge``, fast: same result on every input (``prev`` itself when nothing changed)."""
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
            prev_ours if dnd is None else (prev_ours or change.echo) if dnd is prev_dnd else change.echo,
        ),
    )


def _session_intent(previous: TeamsIntent | None, session: Pair | None, cause: str) -> TeamsIntent:
    """``TeamsIntent(session=session, reason=cause)``, reusing ``previous`` when it is the same."""
    if (
        previous is not None
        and previous.session == session
        and previous.preferred is None
        and previous.reason == cause
    ):
        return previous
    if session is not None and session not in SESSION_PAIRS:
        return TeamsIntent(session=session, reason=cause)  # raises the constructor's own error
    intent = _new_intent(TeamsIntent)
    _set_session(intent, session)
    _set_preferred(intent, None)
    _set_expiry(intent, None)
    _set_reason(intent, cause)
    return intent


def _away_decision(
    previous: TeamsIntent | None,
    session: Pair | None,
    recheck: float | None,
    line: LineState,
    cause: str,
    away: AwayPreference,
) -> Decision:
    """A decision whose intent also carries the preferred Away (off the hot path: opt-in only)."""
    if (
        previous is not None
        and previous.session == session
        and previous.preferred == away.preferred
        and previous.preferred_expiry == away.expiry
        and previous.reason == cause
    ):
        return Decision(previous, recheck, line, cause)
    return Decision(TeamsIntent(session, away.preferred, away.expiry, cause), recheck, line, cause)


def fast_decide(
    endpoints: Iterable[tuple[EndpointKey, EndpointRole, EndpointState] | Cell],
    table_for: Callable[[str], MappingTable],
    previous: TeamsIntent | None,
    mono: float,
    *,
    presenting_supported: bool = True,
) -> Decision:
    """``bridge.policy.decide``, fast: an equal ``Decision`` on every input."""
    busy_key: EndpointKey | None = None
    busy_state: EndpointState | None = None
    best = -1
    last_change = NEVER
    unknown_since = NEVER
    dnd_key: EndpointKey | None = None
    dnd_unknown = False
    away_key: EndpointKey | None = None
    away_unknown = False
    wrapup_key: EndpointKey | None = None
    rank_of = LINE_RANK
    for key, role, state in endpoints:
        if role is not _PERSONAL:
            continue
        s_line, s_dnd, s_away, s_agent, _, _, since, _, s_ours = state
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
        if s_dnd is _ON:
            if dnd_key is None and not s_ours:
                dnd_key = key
        elif s_dnd is _TOGGLE_UNKNOWN:
            dnd_unknown = True
        if s_away is _ON:
            if away_key is None:
                away_key = key
        elif s_away is _TOGGLE_UNKNOWN:
            away_unknown = True
        if wrapup_key is None and s_agent.wrapup:
            wrapup_key = key

    if busy_key is None or busy_state is None:
        cause = "no personal endpoint"
        return Decision(_session_intent(previous, None, cause), None, _UNAVAILABLE, cause)
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
                intent = _session_intent(previous, session, cause)
            return Decision(intent, None, line, cause)

    table = table_for(busy_key.adapter)
    recheck: float | None = None
    away = NO_AWAY
    away_table: MappingTable | None = None
    if away_key is not None:
        away_table = table_for(away_key.adapter)
        if away_table.away_preferred:
            tail = f"; preferred Away: away on {describe(away_key)}"
            away = AwayPreference(PREFERRED_AWAY, away_table.away_preferred_expiry, tail)

    # 2. unknown grace
    if line is _UNKNOWN:
        until = unknown_since + table.unknown_grace
        if mono < until:
            if previous is not None and (dnd_unknown or not shows_dnd(previous, table)):
                cause = f"unknown on {where}: keeping the last state for {table.unknown_grace:g} s"
                if previous.preferred is not None or away is not NO_AWAY:
                    previous = holding(previous, table, away, not away_unknown)
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
        since = busy_state.line_since
        due = (since if since is not None else NEVER) + table.dialing_delay
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
        if away is not NO_AWAY:
            return _away_decision(previous, action, recheck, line, cause + away.tail, away)
        return Decision(_session_intent(previous, action, cause), recheck, line, cause)

    # 4. agent wrap-up
    if wrapup_key is not None:
        wrapup = table_for(wrapup_key.adapter).agent_wrapup
        if isinstance(wrapup, Pair):
            cause = f"agent wrap-up on {describe(wrapup_key)}"
            if away is not NO_AWAY:
                return _away_decision(previous, wrapup, recheck, line, cause + away.tail, away)
            return Decision(_session_intent(previous, wrapup, cause), recheck, line, cause)

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
            if previous.preferred is not None or away is not NO_AWAY:
                previous = holding(previous, table, away, not away_unknown)
            return Decision(previous, until if recheck is None or until < recheck else recheck, line, cause)

    # 6. away
    if away_key is not None and away_table is not None:
        session = away_table.away
        if isinstance(session, Pair):
            cause = f"away on {describe(away_key)}"
            if away is not NO_AWAY:
                return _away_decision(previous, session, recheck, line, cause, away)
            return Decision(_session_intent(previous, session, cause), recheck, line, cause)
        if away is not NO_AWAY:
            return _away_decision(previous, None, recheck, line, f"away on {describe(away_key)}", away)

    # 7. idle
    cause = f"{line} on {where}"
    return Decision(_session_intent(previous, None, cause), recheck, line, cause)
