"""What we intended is not what Graph confirmed (issue 10, defect 7): the pure planner.

A write-ahead record is persisted unconfirmed before each write and confirmed by Graph's answer.
After a restart (README "Restarts"; planner docstring, "Write-ahead"), expected from those rules:

- a confirmed session still wanted is left alone until its refresh (no write in the first seconds);
- an unconfirmed session still wanted is sent again at once (setPresence is idempotent);
- an unconfirmed session nobody wants is cleared at once (our own session may always be cleared);
- an unconfirmed preferred presence still wanted is set again at once;
- an unconfirmed session that expired is gone from Graph: nothing to do.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from bridge.presence import IN_A_CALL, IN_A_CONFERENCE_CALL, PRESENTING, Pair, TeamsIntent
from bridge.teams.ownership import PublishedRecord
from bridge.teams.plan_types import Call, Outcome, Result

from .planner_sim import T0, TENANT, Sim

BUSY = TeamsIntent(session=IN_A_CALL, reason="in_call")
CONF = TeamsIntent(session=IN_A_CONFERENCE_CALL, reason="in_conference")
PREF_DND = Pair("DoNotDisturb", "DoNotDisturb")
DND_PREF = TeamsIntent(session=PRESENTING, preferred=PREF_DND, preferred_expiry=timedelta(hours=8))
LEFT = T0 + timedelta(minutes=14)  # a session sent a minute before the restart
GONE = T0 - timedelta(minutes=1)

# (id, stored record fields, intent the resync gives before the restore, calls in the first 5 s)
RESTORE_ROWS = [
    ("confirmed-wanted", {"session": IN_A_CALL, "session_expires_at": LEFT}, BUSY, []),
    (
        "unconfirmed-wanted",
        {"session": IN_A_CALL, "session_expires_at": LEFT, "session_confirmed": False},
        BUSY,
        ["setPresence Busy/InACall"],
    ),
    (
        "unconfirmed-unwanted",
        {"session": IN_A_CALL, "session_expires_at": LEFT, "session_confirmed": False},
        None,
        ["clearPresence"],
    ),
    (
        "unconfirmed-changed",
        {"session": IN_A_CALL, "session_expires_at": LEFT, "session_confirmed": False},
        CONF,
        ["setPresence Busy/InAConferenceCall"],
    ),
    ("confirmed-unwanted", {"session": IN_A_CALL, "session_expires_at": LEFT}, None, ["clearPresence"]),
    (
        "unconfirmed-expired",
        {"session": IN_A_CALL, "session_expires_at": GONE, "session_confirmed": False},
        None,
        [],
    ),
    (
        "unconfirmed-preferred-wanted",
        {
            "session": PRESENTING,
            "session_expires_at": LEFT,
            "preferred": PREF_DND,
            "preferred_expires_at": T0 + timedelta(hours=7),
            "preferred_confirmed": False,
        },
        DND_PREF,
        ["setUserPreferredPresence DoNotDisturb/DoNotDisturb"],
    ),
]


@pytest.mark.parametrize(
    ("stored", "intent", "expected"), [r[1:] for r in RESTORE_ROWS], ids=[r[0] for r in RESTORE_ROWS]
)
def test_after_a_restart_only_unconfirmed_or_unwanted_values_are_written_at_once(
    stored: dict[str, object], intent: TeamsIntent | None, expected: list[str]
) -> None:
    sim = Sim()
    if intent is not None:
        sim.desire("una", intent)
    sim.restore(PublishedRecord("una", TENANT, **stored))  # type: ignore[arg-type]
    sim.advance(5.0)
    assert sim.calls("una") == expected


def test_a_batch_killed_half_sent_is_completed_at_once_after_the_restart() -> None:
    """20 people answer a call; the bridge dies after Graph confirmed 16 of the writes. At the
    restart the 4 unconfirmed ones are sent in the first second, the 16 wait for their refresh."""
    before = Sim()
    people = [f"p{i:02d}" for i in range(20)]
    for person in people:
        before.desire(person, BUSY)
    for n in range(20):  # twenty workers each take one person and write ahead
        call = before.plan.next_write(0.0)
        assert isinstance(call, Call)
        before.saved.append(before.plan.begin(call, 0.0, before.wall()).save)  # type: ignore[arg-type]
        if n < 16:  # Graph answered these before the kill
            effects = before.plan.outcome(call, Outcome(request_id="rid"), 0.0, before.wall())
            before.saved.append(effects.save)  # type: ignore[arg-type]
    stored = {person: before.last_save(person) for person in people}
    assert sum(not r.session_confirmed for r in stored.values()) == 4

    after = Sim()
    for person in people:
        after.desire(person, BUSY)
    after.restore(*stored.values())
    after.advance(1.0)
    unconfirmed = sorted(p for p, r in stored.items() if not r.session_confirmed)
    assert sorted(who for _, who, _ in after.sent) == unconfirmed
    assert all(what == "setPresence Busy/InACall" for what in after.calls())


def test_a_set_that_failed_may_have_landed_so_a_later_clear_is_still_sent() -> None:
    """A dropped connection may have carried the write to Graph; when the call ends, the session
    that may exist is cleared (blind clears of our own session are safe)."""
    sim = Sim()
    sim.answer = lambda _call: Outcome(Result.UNAVAILABLE)
    sim.desire("vic", BUSY)
    sim.run_due()
    assert sim.calls("vic") == ["setPresence Busy/InACall"]
    sim.answer = lambda _call: Outcome(request_id="rid")
    sim.desire("vic", TeamsIntent(reason="hung up"))  # while vic backs off after the failure
    sim.advance(61.0)  # a person's backoff is at most 60 s
    assert sim.calls("vic") == ["setPresence Busy/InACall", "clearPresence"]
    assert not sim.last_save("vic").owns_anything
