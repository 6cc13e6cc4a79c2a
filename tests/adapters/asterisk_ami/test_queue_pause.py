"""``queue_pause_write: true`` pauses a queue agent while Teams says they are busy (issue 10, defect 3).

Lab replies are recorded Asterisk 22.10.1 (``15_queue``): ``QueueStatus`` lists member
``Local/1001@lab-agents`` (extension 1001, not paused) and ``QueuePause`` answers "Interface paused
successfully". The lunch pause is the recorded ``QueueMemberPause`` event of that capture.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.asterisk_ami.parse import QueueMemberFact
from adapters.asterisk_ami.queue_pause import ROUTABLE_PAUSES, interfaces_to_change, pause_for
from adapters.base import Health, RoutableState, WriteBack
from tests.adapters.asterisk_ami.fake_ami import FakeAmi, live
from tests.adapters.asterisk_ami.harness import Run

MEMBER = "Local/1001@lab-agents"


@pytest.fixture
async def lab() -> AsyncIterator[FakeAmi]:
    server = FakeAmi()
    await server.start()
    yield server
    await server.close()


def _pauses(fake: FakeAmi, since: int) -> list[tuple[str, ...]]:
    return [
        tuple(v for k, v in a.headers if k not in ("Action", "ActionID"))
        for a in fake.actions[since:]
        if a.get("Action") == "QueuePause"
    ]


async def test_a_teams_call_pauses_the_agent_and_its_end_unpauses_only_our_pause(lab: FakeAmi) -> None:
    async with Run(lab, queue_pause_write=True) as run:
        await run.until_health(Health.CONNECTED)
        n = len(lab.actions)
        await run.adapter.write_back(WriteBack("1001", routable=RoutableState.CALL))
        assert _pauses(lab, n) == [(MEMBER, "true", "teams:call")]
        await run.until(lambda _: any(c.agent and c.agent.paused and c.echo for c in run.changes))
        n = len(lab.actions)
        await run.adapter.write_back(WriteBack("1001", routable=RoutableState.PRESENTING))
        assert _pauses(lab, n) == [], "already paused by us: no second write"
        await run.adapter.write_back(WriteBack("1001", routable=RoutableState.NONE))
        assert _pauses(lab, n) == [(MEMBER, "false")], "unpaused without waiting for the echo"


async def test_the_agents_own_pause_is_never_lifted(lab: FakeAmi) -> None:
    async with Run(lab, queue_pause_write=True) as run:
        await run.until_health(Health.CONNECTED)
        await lab.push(live("15_queue", b"Event: QueueMemberPause")[0])  # paused for lunch
        await run.until(lambda _: any(c.agent and c.agent.reason == "lunch" for c in run.changes))
        n = len(lab.actions)
        await run.adapter.write_back(WriteBack("1001", routable=RoutableState.DND))
        await run.adapter.write_back(WriteBack("1001", routable=RoutableState.NONE))
        assert _pauses(lab, n) == []


async def test_without_queue_pause_write_routable_state_never_touches_queues(lab: FakeAmi) -> None:
    async with Run(lab) as run:
        await run.until_health(Health.CONNECTED)
        n = len(lab.actions)
        await run.adapter.write_back(WriteBack("1001", routable=RoutableState.CALL))
        assert _pauses(lab, n) == []
        assert [a.get("Action") for a in lab.actions[n:]] == ["DBPut", "Setvar"]


# DESIGN 6: call, presenting, dnd (and meeting / out of office when shown) keep a person from
# answering; "none" is "clear what we set".
@pytest.mark.parametrize(
    ("routable", "pause"),
    [
        pytest.param(RoutableState.CALL, "call", id="call"),
        pytest.param(RoutableState.PRESENTING, "presenting", id="presenting"),
        pytest.param(RoutableState.DND, "dnd", id="dnd"),
        pytest.param(RoutableState.MEETING, "meeting", id="meeting"),
        pytest.param(RoutableState.OOF, "oof", id="oof"),
        pytest.param(RoutableState.NONE, "", id="none-unpauses-ours"),
    ],
)
def test_routable_state_to_queue_pause(routable: RoutableState, pause: str) -> None:
    assert pause_for(routable) == pause


def test_every_routable_state_has_a_row() -> None:
    assert set(ROUTABLE_PAUSES) == set(RoutableState)


def _member(
    interface: str, *, paused: bool = False, reason: str = "", removed: bool = False
) -> QueueMemberFact:
    return QueueMemberFact("q", interface, interface, "", paused, reason, False, removed, 0, 0)


@pytest.mark.parametrize(
    ("member", "pause", "touched"),
    [
        pytest.param(_member("A"), "call", True, id="pause-an-unpaused-member"),
        pytest.param(_member("A", paused=True, reason="lunch"), "call", False, id="already-paused-by-them"),
        pytest.param(_member("A", paused=True, reason="teams:dnd"), "call", False, id="already-paused-by-us"),
        pytest.param(_member("A", paused=True, reason="teams:call"), "", True, id="unpause-ours"),
        pytest.param(_member("A", paused=True, reason="lunch"), "", False, id="never-unpause-theirs"),
        pytest.param(_member("A", paused=True, reason=""), "", False, id="never-unpause-a-reasonless-pause"),
        pytest.param(_member("A"), "", False, id="unpause-nothing-when-not-paused"),
        pytest.param(_member("A", removed=True), "call", False, id="removed-member-untouched"),
    ],
)
def test_which_members_a_pause_touches(member: QueueMemberFact, pause: str, touched: bool) -> None:
    assert interfaces_to_change([(member.interface, member)], pause) == (["A"] if touched else [])
