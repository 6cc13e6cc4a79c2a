"""Pure policy: merging partial updates and deciding what Teams shows for a person."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bridge.config_mapping import MappingConfig, MappingOverrides, TableCache
from bridge.mapping import DEFAULT_TABLE, MappingTable
from bridge.model import (
    AgentState,
    CallKind,
    EndpointKey,
    EndpointRole,
    EndpointState,
    LineState,
    StateChange,
    Toggle,
)
from bridge.policy import PREFERRED_DND, Decision, decide, merge
from bridge.presence import AWAY, IN_A_CALL, IN_A_CONFERENCE_CALL, PRESENTING, Pair, TeamsIntent

T0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
DESK = EndpointKey("pbx", "1001")
SOFT = EndpointKey("pbx", "1001", device="softphone")
DECT = EndpointKey("dect", "1001")

Row = tuple[EndpointKey, EndpointRole, EndpointState]


def ep(
    key: EndpointKey = DESK,
    line: LineState = LineState.IDLE,
    since: float = 0.0,
    role: EndpointRole = EndpointRole.PERSONAL,
    **fields: object,
) -> Row:
    return key, role, EndpointState(line=line, line_since=since, **fields)  # type: ignore[arg-type]


def default_tables(_adapter: str) -> MappingTable:
    return DEFAULT_TABLE


def run(rows: list[Row], mono: float = 100.0, previous: TeamsIntent | None = None, **kw: object) -> Decision:
    return decide(rows, kw.pop("tables", default_tables), previous, mono, **kw)  # type: ignore[arg-type]


def tables(doc: dict, person: dict | None = None):  # type: ignore[no-untyped-def]
    cache = TableCache(MappingConfig.model_validate(doc))
    overrides = MappingOverrides.model_validate(person) if person else None
    return lambda adapter: cache.get(adapter, overrides)


# --- every default row, settled (no timers pending) ------------------------------------

SETTLED = {
    LineState.IN_CALL: IN_A_CALL,
    LineState.ON_HOLD: IN_A_CALL,
    LineState.BUSY: IN_A_CALL,
    LineState.DIALING: IN_A_CALL,
    LineState.IN_CONFERENCE: IN_A_CONFERENCE_CALL,
    LineState.RINGING: None,
    LineState.IDLE: None,
    LineState.UNAVAILABLE: None,
    LineState.UNKNOWN: None,
}


@pytest.mark.parametrize("line", list(LineState), ids=lambda s: s.value)
def test_each_row_settled(line: LineState) -> None:
    previous = None if line is LineState.IN_CONFERENCE else TeamsIntent(session=IN_A_CALL)
    d = run([ep(line=line, since=0.0)], mono=1000.0, previous=previous)
    assert d.intent.session == SETTLED[line]
    assert d.intent.preferred is None
    assert d.recheck_at is None
    assert d.line is line
    assert d.cause.startswith(f"{line.value} on pbx/1001")


@pytest.mark.parametrize(
    "line", [LineState.IN_CALL, LineState.ON_HOLD, LineState.BUSY, LineState.IN_CONFERENCE]
)
def test_call_states_show_at_once(line: LineState) -> None:
    d = run([ep(line=line, since=100.0)], mono=100.0, previous=None)
    assert d.intent.session == SETTLED[line]
    assert d.recheck_at is None


# --- precedence -----------------------------------------------------------------------


def test_dnd_beats_a_call_and_away() -> None:
    d = run([ep(line=LineState.IN_CALL, dnd=Toggle.ON, away=Toggle.ON)], tables=tables({"away": "Away/Away"}))
    assert d.intent.session == PRESENTING
    assert d.cause == "dnd on pbx/1001"
    assert d.line is LineState.IN_CALL


def test_call_beats_away_and_away_beats_idle_when_configured() -> None:
    t = tables({"away": "Away/Away"})
    assert run([ep(line=LineState.IN_CALL, away=Toggle.ON)], tables=t).intent.session == IN_A_CALL
    assert run([ep(away=Toggle.ON)], tables=t).intent.session == AWAY


def test_away_is_no_change_by_default() -> None:
    assert run([ep(away=Toggle.ON)]).intent.session is None


def test_dnd_unknown_counts_as_off() -> None:
    assert run([ep(line=LineState.IN_CALL, dnd=Toggle.UNKNOWN)]).intent.session == IN_A_CALL


# --- DND options ------------------------------------------------------------------------


def test_dnd_falls_back_to_busy_when_presenting_is_not_accepted() -> None:
    d = run([ep(dnd=Toggle.ON)], presenting_supported=False)
    assert d.intent.session == IN_A_CALL
    assert "Presenting not accepted" in d.cause


def test_dnd_preferred_sets_preferred_dnd_with_expiry() -> None:
    d = run([ep(dnd=Toggle.ON)], tables=tables({"dnd_preferred": True, "dnd_preferred_expiry": "PT8H"}))
    assert d.intent.session == PRESENTING
    assert d.intent.preferred == PREFERRED_DND
    assert d.intent.preferred_expiry == timedelta(hours=8)


def test_dnd_none_ignores_pbx_dnd() -> None:
    d = run([ep(line=LineState.IN_CALL, dnd=Toggle.ON)], tables=tables({"dnd": "none"}))
    assert d.intent.session == IN_A_CALL


# --- multi-endpoint busiest rule ---------------------------------------------------------


def test_busiest_personal_endpoint_wins() -> None:
    rows = [ep(DESK, LineState.IDLE), ep(SOFT, LineState.IN_CONFERENCE), ep(DECT, LineState.ON_HOLD)]
    d = run(rows, mono=1000.0)
    assert d.line is LineState.IN_CONFERENCE
    assert d.cause == "in_conference on pbx/1001#softphone"


@pytest.mark.parametrize("role", [EndpointRole.SHARED, EndpointRole.IGNORE])
def test_shared_and_ignored_endpoints_do_not_count(role: EndpointRole) -> None:
    rows = [
        ep(DESK, LineState.IDLE),
        ep(EndpointKey("pbx", "1000"), LineState.IN_CALL, role=role, dnd=Toggle.ON),
    ]
    d = run(rows, mono=1000.0)
    assert d.intent.session is None
    assert d.line is LineState.IDLE


def test_no_personal_endpoint_clears() -> None:
    d = run([ep(line=LineState.IN_CALL, role=EndpointRole.SHARED)])
    assert d.intent.session is None and d.cause == "no personal endpoint"


def test_unavailable_desk_phone_does_not_hide_a_softphone_call() -> None:
    rows = [ep(DESK, LineState.UNAVAILABLE), ep(SOFT, LineState.IN_CALL)]
    assert run(rows).intent.session == IN_A_CALL


# --- timers -------------------------------------------------------------------------------


def test_dialing_shows_only_after_the_delay() -> None:
    rows = [ep(line=LineState.DIALING, since=100.0)]
    early = run(rows, mono=101.0, previous=TeamsIntent())
    assert early.intent.session is None
    assert early.recheck_at == 102.0
    due = run(rows, mono=early.recheck_at, previous=early.intent)
    assert due.intent.session == IN_A_CALL and due.recheck_at is None


def test_misdial_shorter_than_delay_never_shows() -> None:
    prev = run([ep(line=LineState.DIALING, since=100.0)], mono=100.0, previous=TeamsIntent()).intent
    d = run([ep(line=LineState.IDLE, since=101.0)], mono=101.0, previous=prev)
    assert d.intent.session is None and d.recheck_at is None


def test_idle_hold_bridges_a_transfer_gap() -> None:
    busy = run([ep(line=LineState.IN_CALL, since=100.0)], mono=100.0).intent
    gap = run([ep(line=LineState.IDLE, since=200.0)], mono=201.0, previous=busy)
    assert gap.intent.session == IN_A_CALL
    assert gap.recheck_at == 203.0
    back = run([ep(line=LineState.IN_CALL, since=202.0)], mono=202.0, previous=gap.intent)
    assert back.intent.same_target(busy)
    ended = run([ep(line=LineState.IDLE, since=200.0)], mono=203.0, previous=gap.intent)
    assert ended.intent.session is None and ended.recheck_at is None


def test_idle_hold_counts_from_the_last_endpoint_going_idle() -> None:
    busy = TeamsIntent(session=IN_A_CALL)
    rows = [ep(DESK, LineState.IDLE, since=200.0), ep(SOFT, LineState.IDLE, since=202.0)]
    d = run(rows, mono=204.0, previous=busy)
    assert d.intent.session == IN_A_CALL and d.recheck_at == 205.0


def test_call_waiting_ring_during_hold_keeps_busy_and_dialing_shows_at_its_delay() -> None:
    busy = TeamsIntent(session=IN_A_CALL)
    d = run([ep(line=LineState.DIALING, since=200.0)], mono=200.5, previous=busy)
    assert d.intent.session == IN_A_CALL
    assert d.recheck_at == 202.0


def test_unavailable_is_not_held() -> None:
    d = run(
        [ep(line=LineState.UNAVAILABLE, since=200.0)], mono=200.5, previous=TeamsIntent(session=IN_A_CALL)
    )
    assert d.intent.session is None


def test_hold_does_not_keep_a_non_call_state() -> None:
    d = run([ep(line=LineState.IDLE, since=200.0)], mono=200.5, previous=TeamsIntent(session=PRESENTING))
    assert d.intent.session is None


def test_unknown_keeps_the_last_state_for_the_grace_then_clears() -> None:
    busy = TeamsIntent(session=IN_A_CALL, reason="in_call on pbx/1001")
    rows = [ep(line=LineState.UNKNOWN, since=200.0)]
    blip = run(rows, mono=250.0, previous=busy)
    assert blip.intent is busy
    assert blip.recheck_at == 320.0
    assert "keeping the last state" in blip.cause
    after = run(rows, mono=320.0, previous=busy)
    assert after.intent.session is None and after.recheck_at is None


def test_unknown_at_start_without_previous_clears() -> None:
    d = run([ep(line=LineState.UNKNOWN, since=100.0)], mono=100.0)
    assert d.intent.session is None and d.recheck_at == 220.0


def test_unknown_grace_is_configurable_per_adapter() -> None:
    t = tables({"adapters": {"pbx": {"unknown_grace": 10}}})
    d = run(
        [ep(line=LineState.UNKNOWN, since=200.0)],
        mono=205.0,
        previous=TeamsIntent(session=IN_A_CALL),
        tables=t,
    )
    assert d.recheck_at == 210.0


# --- options --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "expected"),
    [(CallKind.PERSONAL, IN_A_CALL), (CallKind.GROUP, None), (CallKind.QUEUE, None)],
    ids=lambda v: str(v),
)
def test_ringing_personal_option_only_for_personal_calls(kind: CallKind, expected: Pair | None) -> None:
    d = run([ep(line=LineState.RINGING, call_kind=kind)], tables=tables({"ringing_personal": "Busy/InACall"}))
    assert d.intent.session == expected


def test_agent_wrapup_option() -> None:
    rows = [ep(agent=AgentState(logged_in=True, wrapup=True))]
    assert run(rows).intent.session is None
    assert run(rows, tables=tables({"agent_wrapup": "Busy/InACall"})).intent.session == IN_A_CALL


def test_agent_paused_is_no_change() -> None:
    rows = [ep(agent=AgentState(logged_in=True, paused=True, reason="lunch"))]
    assert run(rows, tables=tables({"agent_wrapup": "Busy/InACall"})).intent.session is None


def test_per_person_override_beats_adapter() -> None:
    t = tables({"adapters": {"pbx": {"away": "Away/Away"}}}, person={"away": "none"})
    assert run([ep(away=Toggle.ON)], tables=t).intent.session is None
    t = tables({}, person={"line": {"on_hold": "Away/Away"}})
    assert run([ep(line=LineState.ON_HOLD)], tables=t).intent.session == AWAY


def test_each_endpoint_uses_its_own_adapters_table() -> None:
    t = tables({"adapters": {"dect": {"line": {"in_call": "Busy/InAConferenceCall"}}}})
    rows = [ep(DESK, LineState.IDLE), ep(DECT, LineState.IN_CALL)]
    assert run(rows, tables=t).intent.session == IN_A_CONFERENCE_CALL


# --- in_conference does not switch a call mid-way ---------------------------------------------


def test_conference_growing_out_of_a_call_keeps_in_a_call() -> None:
    prev = TeamsIntent(session=IN_A_CALL)
    d = run([ep(line=LineState.IN_CONFERENCE)], previous=prev)
    assert d.intent.session == IN_A_CALL
    assert "ongoing call" in d.cause


def test_conference_from_idle_shows_conference() -> None:
    assert (
        run([ep(line=LineState.IN_CONFERENCE)], previous=TeamsIntent()).intent.session == IN_A_CONFERENCE_CALL
    )


def test_conference_over_dnd_session_switches() -> None:
    prev = TeamsIntent(session=PRESENTING)
    assert run([ep(line=LineState.IN_CONFERENCE)], previous=prev).intent.session == IN_A_CONFERENCE_CALL


# --- stability ----------------------------------------------------------------------------------

SCENARIOS = [
    [ep(line=LineState.IN_CONFERENCE)],
    [ep(line=LineState.DIALING, since=99.5)],
    [ep(line=LineState.IDLE, since=99.0)],
    [ep(line=LineState.UNKNOWN, since=99.0)],
    [ep(line=LineState.RINGING, since=99.0), ep(SOFT, LineState.IDLE, away=Toggle.ON)],
    [ep(dnd=Toggle.ON)],
]
PREVIOUS = [None, TeamsIntent(), TeamsIntent(session=IN_A_CALL), TeamsIntent(session=PRESENTING)]


@pytest.mark.parametrize("rows", SCENARIOS)
@pytest.mark.parametrize("previous", PREVIOUS)
def test_decisions_are_a_fixpoint(rows: list[Row], previous: TeamsIntent | None) -> None:
    first = run(rows, mono=100.0, previous=previous)
    assert run(rows, mono=100.0, previous=previous) == first
    again = run(rows, mono=100.0, previous=first.intent)
    assert again.intent.same_target(first.intent)
    assert again.recheck_at == first.recheck_at


# --- merge ----------------------------------------------------------------------------------------


def change(**fields: object) -> StateChange:
    return StateChange(endpoint=DESK, **fields)  # type: ignore[arg-type]


def test_merge_new_endpoint_and_partial_update() -> None:
    s = merge(None, change(line=LineState.IN_CALL, at=T0), 10.0)
    assert s is not None
    assert (s.line, s.dnd, s.line_since, s.observed_at) == (LineState.IN_CALL, Toggle.UNKNOWN, 10.0, T0)
    s2 = merge(s, change(dnd=Toggle.ON, at=T0 + timedelta(seconds=1)), 11.0)
    assert s2 is not None
    assert (s2.line, s2.dnd, s2.line_since) == (LineState.IN_CALL, Toggle.ON, 10.0)


def test_merge_sets_line_since_only_when_line_changes() -> None:
    s = merge(None, change(line=LineState.IN_CALL), 10.0)
    assert s is not None
    same = merge(s, change(line=LineState.IN_CALL), 20.0)
    assert same is s
    moved = merge(s, change(line=LineState.ON_HOLD), 30.0)
    assert moved is not None and moved.line_since == 30.0


def test_merge_drops_stale_changes() -> None:
    s = merge(None, change(line=LineState.IDLE, at=T0), 10.0)
    assert merge(s, change(line=LineState.IN_CALL, at=T0 - timedelta(seconds=1)), 11.0) is None
    assert merge(s, change(line=LineState.IN_CALL, at=T0), 11.0) is not None
    assert merge(s, change(line=LineState.IN_CALL), 11.0) is not None  # no timestamp: not stale


def test_merge_resets_call_kind_on_a_new_call_and_confirms_restored() -> None:
    restored = EndpointState(line=LineState.RINGING, call_kind=CallKind.QUEUE, line_since=1.0, restored=True)
    s = merge(restored, change(line=LineState.IDLE), 5.0)
    assert s is not None and s.call_kind is CallKind.PERSONAL and not s.restored
    q = merge(s, change(line=LineState.RINGING, call_kind=CallKind.QUEUE), 6.0)
    assert q is not None and q.call_kind is CallKind.QUEUE
    assert merge(q, change(dnd=Toggle.OFF), 7.0).call_kind is CallKind.QUEUE  # type: ignore[union-attr]


def test_answered_held_resumed_hung_up_is_two_intents() -> None:
    """A call that rings, is answered, held, resumed and hung up changes the intent exactly twice."""
    state: EndpointState | None = None
    intent: TeamsIntent | None = None
    targets = []
    mono = 100.0
    for line in (LineState.RINGING, LineState.IN_CALL, LineState.ON_HOLD, LineState.IN_CALL, LineState.IDLE):
        state = merge(state, change(line=line), mono)
        assert state is not None
        d = decide([(DESK, EndpointRole.PERSONAL, state)], default_tables, intent, mono)
        if d.recheck_at is not None:
            mono = d.recheck_at
            d = decide([(DESK, EndpointRole.PERSONAL, state)], default_tables, d.intent, mono)
        if not d.intent.same_target(intent):
            targets.append(d.intent.session)
        intent = d.intent
        mono += 10.0
    assert targets == [None, IN_A_CALL, None]  # initial clear, then Busy, then clear


def test_dnd_off_on_an_endpoint_whose_line_was_never_reported_clears_at_once() -> None:
    """A push-only PBX may report only DND: switching it off must not be held as an 'adapter blip'."""
    on = merge(None, StateChange(DESK, dnd=Toggle.ON), 10.0)
    assert on is not None and on.line is LineState.UNKNOWN and on.line_since is None
    busy = run([(DESK, EndpointRole.PERSONAL, on)], mono=10.0)
    assert busy.intent.session == PRESENTING
    off = merge(on, StateChange(DESK, dnd=Toggle.OFF), 11.0)
    assert off is not None
    cleared = run([(DESK, EndpointRole.PERSONAL, off)], mono=11.0, previous=busy.intent)
    assert cleared.intent.session is None


def test_an_endpoint_that_never_reported_a_line_does_not_mask_the_idle_hold() -> None:
    """dnd/away-only endpoints (e.g. the AMI extension key) must not outrank a phone that just hung up."""
    ext_only = merge(None, StateChange(EndpointKey("pbx", "1001"), dnd=Toggle.OFF), 1.0)
    assert ext_only is not None and ext_only.line_since is None
    phone = (SOFT, EndpointRole.PERSONAL, EndpointState(line=LineState.IDLE, line_since=99.0))
    held = run([phone, (DESK, EndpointRole.PERSONAL, ext_only)], mono=100.0, previous=TeamsIntent(IN_A_CALL))
    assert held.line is LineState.IDLE
    assert held.intent.session == IN_A_CALL and held.recheck_at == 102.0


def test_pbx_dnd_we_set_from_teams_is_never_published_back_to_teams() -> None:
    """Teams DND -> our PBX DND (echo) must not become a DoNotDisturb/Presenting session of ours,
    or Teams would then show our session as the reason to keep PBX DND: a loop that never ends."""
    ours = merge(None, StateChange(DESK, line=LineState.IDLE, dnd=Toggle.ON, echo=True), 1.0)
    assert ours is not None and ours.dnd_ours
    call = merge(ours, StateChange(DESK, line=LineState.IN_CALL), 2.0)  # a later event re-decides
    assert call is not None and call.dnd_ours
    assert run([(DESK, EndpointRole.PERSONAL, call)], mono=2.0).intent.session == IN_A_CALL
    again = merge(call, StateChange(DESK, dnd=Toggle.ON), 3.0)  # a re-report is not an action
    assert again is not None and again.dnd_ours
    off = merge(again, StateChange(DESK, dnd=Toggle.OFF), 4.0)  # the person presses *79 ...
    own = merge(off, StateChange(DESK, dnd=Toggle.ON), 5.0)  # ... and *78: now it is theirs
    assert own is not None and not own.dnd_ours
    assert run([(DESK, EndpointRole.PERSONAL, own)], mono=5.0).intent.session == PRESENTING


# --- the unknown grace keeps what is unknown, not a DND the PBX has just said is off ----------------
# Issue 10, defect 8: a fresh explicit fact beats the grace for that field. Expected values from
# the module docstring's rule 2: the grace keeps the previous intent unless it is the dnd layer's
# and every personal endpoint's dnd is known and none is on (ours does not count: never published).

SHOWN_DND = TeamsIntent(session=PRESENTING, reason="dnd on pbx/1001")
PREFERRED = TeamsIntent(PRESENTING, PREFERRED_DND, timedelta(hours=8), "dnd on pbx/1001")
A_CALL = TeamsIntent(session=IN_A_CALL, reason="in_call on pbx/1001")
GRACE_ROWS = [
    # (dnd of each personal endpoint whose line is unknown, previous intent, tables, kept?)
    ((Toggle.OFF,), SHOWN_DND, None, False),
    ((Toggle.UNKNOWN,), SHOWN_DND, None, True),  # an adapter blip: the DND may still be on
    ((Toggle.OFF,), A_CALL, None, True),  # the line is what is unknown: the call is kept
    ((Toggle.OFF,), PREFERRED, {"dnd_preferred": True, "dnd_preferred_expiry": "PT8H"}, False),
    ((Toggle.OFF, Toggle.UNKNOWN), SHOWN_DND, None, True),  # one endpoint's DND still unknown
    ((Toggle.OFF, Toggle.OFF), SHOWN_DND, None, False),
    ((Toggle.OFF,), A_CALL, {"dnd": "Busy/InACall"}, True),  # the dnd pair is a call pair: kept
]


@pytest.mark.parametrize(
    ("dnds", "previous", "doc", "kept"),
    GRACE_ROWS,
    ids=["dnd-off", "dnd-unknown", "call", "preferred-dnd", "one-unknown", "all-off", "dnd-is-call-pair"],
)
def test_unknown_grace_does_not_keep_a_dnd_the_pbx_said_is_off(
    dnds: tuple[Toggle, ...],
    previous: TeamsIntent,
    doc: dict | None,
    kept: bool,  # type: ignore[type-arg]
) -> None:
    keys = [DESK, SOFT]
    rows = [ep(keys[i], LineState.UNKNOWN, since=200.0, dnd=dnd) for i, dnd in enumerate(dnds)]
    d = run(rows, mono=250.0, previous=previous, tables=tables(doc) if doc else default_tables)
    if kept:
        assert d.intent is previous and "keeping the last state" in d.cause
    else:
        assert d.intent.session is None and d.intent.preferred is None
        assert d.recheck_at == 320.0  # the line's grace still ends then (the unknown row applies)


def test_dnd_off_after_a_restart_clears_at_once_although_the_restored_line_is_unknown() -> None:
    """Defect 8: a DND-only endpoint restored after a restart has an unknown line whose grace starts
    at the restore; the PBX then says DND off: Teams must drop DoNotDisturb now, not in 120 s."""
    restored = EndpointState(dnd=Toggle.ON, line_since=500.0, restored=True)  # what Engine.restore makes
    shown = run([(DESK, EndpointRole.PERSONAL, restored)], mono=500.0)
    assert shown.intent.session == PRESENTING
    off = merge(restored, StateChange(DESK, dnd=Toggle.OFF), 501.0)
    assert off is not None and not off.restored
    assert run([(DESK, EndpointRole.PERSONAL, off)], mono=501.0, previous=shown.intent).intent.session is None
