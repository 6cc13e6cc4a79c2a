"""How Graph's answers change the plan: health, pauses, failures and quarantine, the DND capability
fallback, preferred-presence ownership and release (pure planner, no event loop).

Expected values come from the documented rules: DESIGN 7 (429/503 back off with jitter, 401/403 are
BAD_CREDENTIALS with a long backoff, other 4xx are not retried; users failing permanently are
quarantined with long backoff), DESIGN 13 (DND capability: a 400 means Busy/InACall, alarm, remember
per tenant; health words), DESIGN 4/5 (a preferred presence we set is cleared only if still ours;
we never clobber what the user chose) and DESIGN 11 (release clears every session and preferred
presence we own), and issue 11 as README states it: a 429 is waited out by its own request
(Retry-After) and pauses nobody else, so the planner retries the person at once; a 5xx or a drop backs
off that person alone (ceilings 2, 4 ... 60 s); BAD_CREDENTIALS retries after a growing pause whose
first is within a minute (equal jitter over ceilings 60, 120 ... 900 s) and at once on request.
Constructor values are the publisher's documented defaults.
"""

from __future__ import annotations

import itertools
import logging
from datetime import timedelta

import pytest

from bridge.kit.health import Health
from bridge.presence import CLEAR, IN_A_CALL, PRESENTING, Pair, TeamsIntent
from bridge.teams.ownership import PublishedRecord
from bridge.teams.plan_types import Call, Kind, Op, Outcome, Result

from .planner_sim import T0, TENANT, Sim, ok, refused

BUSY = TeamsIntent(session=IN_A_CALL, reason="in_call")
DND = TeamsIntent(session=PRESENTING, reason="dnd")
PREF_DND = Pair("DoNotDisturb", "DoNotDisturb")
DND_PREF = TeamsIntent(
    session=PRESENTING, preferred=PREF_DND, preferred_expiry=timedelta(hours=8), reason="dnd"
)
HUNG_UP = TeamsIntent(reason="hung up")
BUSY_PREF = TeamsIntent(
    session=IN_A_CALL, preferred=PREF_DND, preferred_expiry=timedelta(hours=8), reason="call"
)

SET_BUSY = "setPresence Busy/InACall"
SET_DND = "setPresence DoNotDisturb/Presenting"
CLEAR_SESSION = "clearPresence"
READ = "getPresencesByUserId"
SET_PREF = "setUserPreferredPresence DoNotDisturb/DoNotDisturb"
CLEAR_PREF = "clearUserPreferredPresence DoNotDisturb/DoNotDisturb"


def first_then_ok(first: Outcome) -> object:
    answers = [first]
    return lambda call: answers.pop() if answers else ok(call)


# --- one outcome, what it does to the tenant and the person ------------------------------------

OUTCOME_ROWS = [
    # id, outcome, health after, alarm raised, earliest and latest retry (None: not retried)
    ("ok", Outcome(), Health.CONNECTED, None, None),
    (
        "503 after retries",
        Outcome(Result.THROTTLED, status=503),
        Health.TRANSIENT_DISCONNECT,
        None,
        (1.0, 2.0),
    ),
    ("connection dropped", Outcome(Result.UNAVAILABLE), Health.TRANSIENT_DISCONNECT, None, (1.0, 2.0)),
    (
        "401 after a fresh token",
        Outcome(Result.AUTH, status=401),
        Health.BAD_CREDENTIALS,
        "bad_credentials",
        (30.0, 60.0),
    ),
    (
        "403 missing permission",
        Outcome(Result.AUTH, status=403),
        Health.BAD_CREDENTIALS,
        "bad_credentials",
        (30.0, 60.0),
    ),
    ("404 unknown user", refused(404, "NotFound"), Health.CONNECTING, None, None),
    ("400 on Busy/InACall", refused(400, "BadRequest"), Health.CONNECTING, None, None),
]


@pytest.mark.parametrize(
    ("outcome", "health", "alarm", "retry"), [r[1:] for r in OUTCOME_ROWS], ids=[r[0] for r in OUTCOME_ROWS]
)
def test_an_outcome_sets_health_pause_and_retry(
    outcome: Outcome, health: Health, alarm: str | None, retry: tuple[float, float] | None
) -> None:
    sim = Sim()
    sim.answer = first_then_ok(outcome)  # type: ignore[assignment]
    sim.desire("alice", BUSY)
    sim.run_due()
    assert sim.plan.health is health
    assert (alarm in sim.plan.alarms) if alarm else not sim.plan.alarms
    sim.advance(1000.0)
    times = [at for at, what in sim.timed() if not what.endswith("refresh")]
    if retry is None:
        assert times == [0.0]
    else:
        assert len(times) == 2 and retry[0] <= times[1] <= retry[1]
        assert sim.plan.health is Health.CONNECTED and not sim.plan.alarms  # recovered


def test_a_persons_transient_pauses_grow_with_jitter_up_to_a_minute_and_reset_after_a_success() -> None:
    sim = Sim()
    storm = [Outcome(Result.THROTTLED, status=503), Outcome(Result.UNAVAILABLE)] * 4
    answers = {"bob": storm}
    sim.answer = lambda call: answers[call.person_id].pop(0) if answers[call.person_id] else ok(call)
    sim.desire("bob", BUSY)
    sim.advance(999.0)
    bob = [at for at, what in sim.timed("bob") if not what.endswith("refresh")]
    gaps = [b - a for a, b in itertools.pairwise(bob)]
    for gap, ceiling in zip(gaps, [2, 4, 8, 16, 32, 60, 60, 60], strict=True):
        assert ceiling / 2 <= gap <= ceiling
    answers["bob"] = [Outcome(Result.THROTTLED, status=504)]
    sim.desire("bob", HUNG_UP, at=1000.0)  # after his success: from 2 s again
    sim.advance(1003.0)
    again = [at for at, what in sim.timed("bob") if at >= 1000.0]
    assert again[0] == 1000.0 and 1.0 <= again[1] - again[0] <= 2.0


def test_a_5xx_or_a_drop_backs_off_that_person_only() -> None:
    """Transient trouble is the request's, not the tenant's: the others are written meanwhile."""
    sim = Sim()
    answers = {"bob": [Outcome(Result.THROTTLED, status=503)] * 3, "dora": [Outcome(Result.UNAVAILABLE)]}
    sim.answer = lambda call: answers[call.person_id].pop(0) if answers.get(call.person_id) else ok(call)
    sim.desire("bob", BUSY, at=0.0)
    sim.desire("dora", BUSY, at=0.0)
    sim.run_due()
    sim.desire("carol", BUSY, at=0.5)
    sim.desire("erin", BUSY, at=0.5)
    sim.run_due()
    assert [at for at, _ in sim.timed("carol")] == [0.5]
    assert [at for at, _ in sim.timed("erin")] == [0.5]
    assert sim.plan.pause_until <= 0.0  # no tenant pause


def test_a_429_does_not_pause_the_tenant() -> None:
    """Its request already waited Graph's Retry-After (GraphClient) and the budget was cut
    (test_budget_recovery); the planner adds no pause, so none can outlast a Retry-After."""
    sim = Sim()
    sim.answer = first_then_ok(Outcome(Result.THROTTLED, status=429))  # type: ignore[assignment]
    sim.desire("dave", BUSY)
    sim.desire("erin", BUSY)
    sim.run_due()
    assert [who for _, who, _ in sim.sent] == ["dave", "dave", "erin"]  # dave first again, at once
    assert {at for at, _ in sim.timed()} == {0.0}


def test_a_bad_credentials_pause_holds_every_worker_grows_and_ends_on_request() -> None:
    sim = Sim()
    sim.answer = lambda call: Outcome(Result.AUTH, status=401)
    sim.desire("dave", BUSY)
    sim.desire("erin", BUSY)
    sim.run_due()
    pauses = []
    for ceiling in (60, 120, 240, 480, 900, 900):
        until = sim.plan.next_write(sim.now)
        assert isinstance(until, float)
        pauses.append(until - sim.now)
        assert ceiling / 2 <= until - sim.now <= ceiling
        sim.advance(until)
    assert [who for _, who, _ in sim.sent] == ["dave"] * 7  # the person goes first after each pause
    sim.answer = ok  # type: ignore[assignment]
    assert sim.plan.retry_now(sim.now + 1.0)  # the secret file changed, or SIGHUP
    sim.advance(sim.now + 1.0)
    assert [who for _, who, _ in sim.sent][-2:] == ["dave", "erin"]
    assert sim.plan.health is Health.CONNECTED
    assert not sim.plan.retry_now(sim.now)  # nothing to cut short now


# --- per-person failure and quarantine -----------------------------------------------------------


def test_a_refused_person_is_not_retried_until_the_intent_differs_then_quarantined() -> None:
    sim = Sim(quarantine_after=3, quarantine_backoff=3600.0)
    sim.answer = lambda call: refused(404, "NotFound")
    sim.desire("ghost", BUSY, at=0.0)
    sim.desire("ghost", TeamsIntent(session=IN_A_CALL, reason="held"), at=5.0)  # the same target
    sim.desire("ghost", DND, at=10.0)
    sim.desire("ghost", BUSY, at=20.0)
    sim.advance(21.0)
    assert sim.timed() == [(0.0, SET_BUSY), (10.0, SET_DND), (20.0, SET_BUSY)]
    view = sim.plan.view("ghost", 21.0)
    assert view.failed == "404 NotFound" and view.quarantined
    sim.answer = ok
    sim.desire("ghost", DND, at=30.0)
    sim.advance(20.0 + 3599.0)
    assert len(sim.calls()) == 3  # quarantined: no budget spent
    sim.advance(20.0 + 3601.0)
    assert sim.timed()[-1] == (3620.0, SET_DND)
    assert not sim.plan.view("ghost", sim.now).quarantined and sim.plan.view("ghost", sim.now).failed is None


# --- DND capability: probed at the first DND write, remembered per tenant -------------------------

DND_ROWS = [
    # id, configured support, answer to DoNotDisturb/Presenting, calls for two people, support after, alarm
    (
        "probe refused: fall back",
        None,
        refused(400, "BadRequest"),
        [SET_DND, SET_BUSY, SET_BUSY],
        False,
        True,
    ),
    ("probe accepted: remembered", None, Outcome(), [SET_DND, SET_DND], True, False),
    ("configured unsupported: no probe", False, Outcome(), [SET_BUSY, SET_BUSY], False, False),
    (
        "confirmed support: a 400 is that person's failure",
        True,
        refused(400, "BadRequest"),
        [SET_DND, SET_DND],
        True,
        False,
    ),
]


@pytest.mark.parametrize(
    ("configured", "answer", "calls", "supported", "alarm"),
    [r[1:] for r in DND_ROWS],
    ids=[r[0] for r in DND_ROWS],
)
def test_dnd_capability(
    configured: bool | None, answer: Outcome, calls: list[str], supported: bool, alarm: bool
) -> None:
    sim = Sim(presenting_supported=configured)
    sim.answer = lambda call: answer if call.pair == PRESENTING else ok(call)
    sim.desire("jack", DND, at=0.0)
    sim.desire("kate", DND, at=1.0)
    sim.advance(2.0)
    assert sim.calls() == calls
    assert sim.plan.presenting_supported is supported
    assert ("dnd_presenting_unsupported" in sim.plan.alarms) is alarm


def test_the_fallback_is_the_same_change_in_the_flap_window() -> None:
    sim = Sim(flap_window=1.0)
    sim.answer = lambda call: refused(400, "BadRequest") if call.pair == PRESENTING else ok(call)
    sim.timeline([(0.0, "lena", DND), (0.1, "lena", CLEAR), (0.2, "lena", BUSY)], until=2.0)
    assert sim.timed() == [(0.0, SET_DND), (0.0, SET_BUSY), (0.1, CLEAR_SESSION), (1.0, SET_BUSY)]


# --- preferred presence: set, cleared only while still ours ----------------------------------------

PREFERRED_ROWS = [
    ("still shown: cleared", PREF_DND, [READ, CLEAR_PREF, CLEAR_SESSION], None),
    (
        "Graph's other casing is the same pair",
        Pair("doNotDisturb", "doNotDisturb"),
        [READ, CLEAR_PREF, CLEAR_SESSION],
        None,
    ),
    ("the user chose another: left alone", Pair("BeRightBack", "BeRightBack"), [READ, CLEAR_SESSION], 1),
]


@pytest.mark.parametrize(
    ("shown", "calls", "left_to_user"), [r[1:] for r in PREFERRED_ROWS], ids=[r[0] for r in PREFERRED_ROWS]
)
def test_preferred_presence_is_cleared_only_while_still_ours(
    shown: Pair, calls: list[str], left_to_user: int | None
) -> None:
    sim = Sim()
    sim.answer = lambda call: Outcome(shown=shown) if call.op is Op.READ_PRESENCE else ok(call)
    sim.desire("mia", DND_PREF, at=0.0)
    sim.desire("mia", CLEAR, at=5.0)
    sim.advance(6.0)
    assert sim.calls() == [SET_DND, SET_PREF, *calls]
    assert sim.plan.view("mia", 6.0).sent_preferred is None
    assert sim.plan.counters["preferred_left_to_user"] == (left_to_user or 0)


def test_a_preferred_presence_is_set_with_the_intents_expiry_and_not_resent() -> None:
    sim = Sim(flap_window=0.0)
    calls: list[Call] = []

    def record(call: Call) -> Outcome:
        calls.append(call)
        return Outcome(shown=PREF_DND)

    sim.answer = record
    sim.desire("ned", DND_PREF, at=0.0)
    sim.desire("ned", BUSY_PREF, at=5.0)  # the session changes, the preferred presence stands
    sim.desire("ned", CLEAR, at=10.0)
    sim.advance(11.0)
    assert sim.calls() == [SET_DND, SET_PREF, SET_BUSY, READ, CLEAR_PREF, CLEAR_SESSION]
    assert calls[1].expiry == timedelta(hours=8)
    assert [c.kind for c in calls] == [Kind.WRITE, Kind.WRITE, Kind.WRITE, Kind.READ, Kind.WRITE, Kind.WRITE]


# --- release: clear everything we own ---------------------------------------------------------------


def test_release_clears_every_session_and_preferred_presence_we_own() -> None:
    sim = Sim()
    shown = {"finn": PREF_DND, "gus": Pair("Away", "Away")}
    answers = {"hana": refused(404, "NotFound")}
    sim.answer = lambda call: (
        Outcome(shown=shown[call.person_id])
        if call.op is Op.READ_PRESENCE
        else answers.get(call.person_id, ok(call))
    )
    later = T0 + timedelta(minutes=10)
    records = [
        PublishedRecord("erin", TENANT, IN_A_CALL, later),
        PublishedRecord("finn", TENANT, PRESENTING, later, PREF_DND, later),
        PublishedRecord("gus", TENANT, PRESENTING, later, PREF_DND, later),
        PublishedRecord("hana", TENANT, IN_A_CALL, later),
        PublishedRecord("ivan", TENANT, IN_A_CALL, later),
    ]
    sim.release(records)
    assert [(who, what) for _, who, what in sim.sent] == [
        ("erin", CLEAR_SESSION),
        ("finn", READ),
        ("finn", CLEAR_PREF),
        ("finn", CLEAR_SESSION),
        ("gus", READ),
        ("gus", CLEAR_SESSION),  # the user's own Away is left
        ("hana", CLEAR_SESSION),  # refused: logged, and the next person goes on
        ("ivan", CLEAR_SESSION),
    ]
    assert [sim.last_save(p).owns_anything for p in ("erin", "finn", "gus", "ivan")] == [False] * 4


# --- health and alarms --------------------------------------------------------------------------------


def test_health_changes_are_reported_once_and_trouble_again_each_time() -> None:
    sim = Sim()
    plan = sim.plan
    assert plan.tenant_outcome(Outcome(), 0.0).health == (Health.CONNECTED, "Graph calls succeed")
    assert plan.tenant_outcome(Outcome(), 1.0).health is None  # still connected: nothing to say
    first = plan.tenant_outcome(Outcome(Result.AUTH, detail="refused"), 2.0).health
    again = plan.tenant_outcome(Outcome(Result.AUTH, detail="refused"), 3.0).health
    assert first is not None and again is not None and first[0] is again[0] is Health.BAD_CREDENTIALS
    assert "Presence.ReadWrite.All" in first[1]
    assert plan.tenant_outcome(Outcome(), 903.0).health == (Health.CONNECTED, "Graph calls succeed")
    assert "bad_credentials" not in plan.alarms


CAPACITY_ROWS = [
    # id, (live, capacity, over) in turn, alarm after each, log level of each change (None: silent)
    (
        "over, still over, back",
        [(80, 60.0, True), (81, 60.0, True), (10, 60.0, False)],
        [True, True, False],
        [logging.WARNING, None, logging.INFO],
    ),
    ("within all along", [(10, 60.0, False), (59, 60.0, False)], [False, False], [None, None]),
]


@pytest.mark.parametrize(
    ("steps", "alarms", "levels"), [r[1:] for r in CAPACITY_ROWS], ids=[r[0] for r in CAPACITY_ROWS]
)
def test_refresh_capacity_alarm(
    steps: list[tuple[int, float, bool]], alarms: list[bool], levels: list[int | None]
) -> None:
    plan = Sim().plan
    for (live, capacity, over), alarm, level in zip(steps, alarms, levels, strict=True):
        notes = plan.refresh_capacity(live, capacity, over).notes
        assert ("refresh_capacity_exceeded" in plan.alarms) is alarm
        assert [n.level for n in notes] == ([] if level is None else [level])


def test_live_sessions_are_counted_at_most_once_a_second() -> None:
    sim = Sim()
    sim.desire("olga", BUSY)
    sim.advance(0.0)
    assert sim.plan.recount(0.0, force=True) == 1
    assert sim.plan.recount(0.5) is None
    assert sim.plan.recount(1.0) == 1
    sim.advance(16 * 60.0)
    assert sim.plan.recount(16 * 60.0) == 1  # refreshed all along: still live
